// The Kubernetes API, asked through kubectl: `kubectl get --raw PATH` reads one API path with
// the user's kubeconfig (its context, certificates, tokens and exec credential plugins), which
// a client of our own would have to reimplement. --raw also skips kubectl's discovery, so one
// lookup is one HTTPS request. argv only, never a shell; every path segment is validated first.

import { firstErrorLine, findExecutable, runCli } from './exec.js';

export interface KubeConnection {
  /** --kubeconfig FILE (default: KUBECONFIG, then ~/.kube/config, as kubectl decides). */
  readonly kubeconfig?: string;
  /** --context NAME (default: the kubeconfig's current context). */
  readonly context?: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly timeoutMs?: number;
}

export type ApiAnswer = { status: 'ok'; body: unknown } | { status: 'notfound' } | { status: 'error'; message: string };

export interface KubeApi {
  /** GET one API path (`/api/v1/...`). */
  get(path: string): Promise<ApiAnswer>;
  /** The namespace of the kubeconfig's context ('default' when it names none). */
  contextNamespace(): Promise<string>;
}

const DEFAULT_TIMEOUT_MS = 15_000;

/** kubectl's own failure, as the second half of one sentence. */
function why(stderr: string): string {
  // kubectl prints klog lines (E1206 21:33:32.569081 16525 memcache.go:265] ...) before the real error.
  const lines = stderr.split('\n').filter((l) => l.trim() !== '' && !/^[EWI]\d{4} /.test(l));
  return firstErrorLine(lines.join('\n') || stderr) || 'kubectl failed without saying why';
}

export function kubectlApi(conn: KubeConnection = {}): KubeApi {
  const env = conn.env ?? process.env;
  const global = [...(conn.kubeconfig !== undefined ? ['--kubeconfig', conn.kubeconfig] : []), ...(conn.context !== undefined ? ['--context', conn.context] : [])];
  const timeoutMs = conn.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const kubectl = (): string | null => findExecutable('kubectl', env);

  return {
    async get(path) {
      const bin = kubectl();
      if (!bin) return { status: 'error', message: 'kubectl is not installed: Kubernetes targets are looked up through it' };
      const r = await runCli(bin, [...global, 'get', '--raw', path, `--request-timeout=${Math.ceil(timeoutMs / 1000)}s`], { env, timeoutMs: timeoutMs + 2000 });
      if (r.spawnError) return { status: 'error', message: `kubectl could not be started (${r.spawnError})` };
      if (r.timedOut) return { status: 'error', message: `the Kubernetes API did not answer within ${Math.round(timeoutMs / 1000)} s` };
      if (r.exitCode !== 0) {
        if (/\(NotFound\)/.test(r.stderr)) return { status: 'notfound' };
        return { status: 'error', message: `cannot read the Kubernetes API: ${why(r.stderr)}` };
      }
      try {
        return { status: 'ok', body: JSON.parse(r.stdout) as unknown };
      } catch {
        return { status: 'error', message: `the Kubernetes API's answer for ${path} is not JSON` };
      }
    },
    async contextNamespace() {
      const bin = kubectl();
      if (!bin) return 'default';
      const r = await runCli(bin, [...global, 'config', 'view', '--minify', '-o', 'jsonpath={.contexts[0].context.namespace}'], { env, timeoutMs });
      return r.exitCode === 0 && r.stdout.trim() !== '' ? r.stdout.trim() : 'default';
    },
  };
}

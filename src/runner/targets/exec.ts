// Running a runtime's CLI: argv arrays only (never a shell), a hard timeout, no stdin.

import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';
import { execa } from 'execa';

export interface CliResult {
  stdout: string;
  stderr: string;
  exitCode: number;
  timedOut: boolean;
  /** The program could not be started at all (ENOENT, EACCES). */
  spawnError?: string;
  ms: number;
}

/** Plausible container names and ids: what podman and docker accept, minus anything a shell or option parser could read. */
export const CONTAINER_REF_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

export function isValidContainerRef(s: string): boolean {
  return s.length <= 253 && CONTAINER_REF_RE.test(s);
}

/** Label selector `key=value` or `key`: a key as the runtimes allow, a value without control characters. */
export function parseLabelSelector(s: string): { key: string; value?: string } | null {
  const eq = s.indexOf('=');
  const key = eq < 0 ? s : s.slice(0, eq);
  const value = eq < 0 ? undefined : s.slice(eq + 1);
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_./-]*$/.test(key) || key.length > 253) return null;
  // eslint-disable-next-line no-control-regex
  if (value !== undefined && (/[\x00-\x1f\x7f]/.test(value) || value.length > 4096)) return null;
  return value === undefined ? { key } : { key, value };
}

/** Absolute path of an executable found on PATH (or `name` itself if it is a path), else null. */
export function findExecutable(name: string, env: NodeJS.ProcessEnv = process.env): string | null {
  const candidates = name.includes('/')
    ? [name]
    : (env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin')
        .split(delimiter)
        .filter((d) => d && isAbsolute(d))
        .map((d) => join(d, name));
  for (const c of candidates) {
    try {
      if (!statSync(c).isFile()) continue;
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      // not here
    }
  }
  return null;
}

export async function runCli(
  bin: string,
  args: readonly string[],
  opts: { env?: NodeJS.ProcessEnv; timeoutMs: number },
): Promise<CliResult> {
  const t0 = performance.now();
  const r = await execa(bin, args, {
    reject: false,
    timeout: opts.timeoutMs,
    forceKillAfterDelay: 500,
    stdin: 'ignore',
    env: opts.env ?? process.env,
    extendEnv: false,
    shell: false,
    // A runtime that prints megabytes here is not answering an inspect.
    maxBuffer: 64 * 1024 * 1024,
  });
  const ms = performance.now() - t0;
  const out: CliResult = {
    stdout: String(r.stdout ?? ''),
    stderr: String(r.stderr ?? ''),
    exitCode: r.exitCode ?? -1,
    timedOut: r.timedOut === true,
    ms,
  };
  // execa reports a spawn failure (missing binary) as failed with no exit code.
  if (r.failed && r.exitCode === undefined && !r.timedOut && !r.isTerminated) {
    const cause = (r as { cause?: unknown }).cause;
    const code = (cause as NodeJS.ErrnoException | undefined)?.code;
    out.spawnError = code ?? (cause instanceof Error ? cause.message : 'could not be started');
  }
  return out;
}

/** First meaningful line of a CLI's error output, without "Error:" prefixes, for a one-sentence message. */
export function firstErrorLine(text: string): string {
  const line =
    text
      .split('\n')
      .map((l) => l.trim())
      .find((l) => l.length > 0) ?? '';
  return line
    .replace(/^(level=\w+\s+)?(msg=)?"?/, '')
    .replace(/^(Error( response from daemon)?|FATA\[\d+\]|E\d{4} [\d:.]+\s+\d+\s+\S+\])\s*:?\s*/i, '')
    .replace(/"$/, '')
    .replace(/\.$/, '')
    .slice(0, 300);
}

// `trace helper install --kube`: the helper as a Kubernetes DaemonSet, one privileged pod per
// node, for clusters whose nodes are not reached over SSH. The pod idles; the helper is started
// in it per trace (`kubectl exec -i POD -- ctrace-helper`, its stdin the trace's lifeline as over
// SSH; `trace` itself reaches nodes over SSH only, so far). It needs the host's PID namespace (hostPID: the pod's own /proc
// then shows every process of the node, /proc/PID/root included, so the host's /proc need not be
// mounted), the host's debugfs/tracefs, BPF file system and kernel modules, and the container
// runtimes' sockets (to resolve a container id to its PID).

import { namespaceProblem } from '../runner/targets/kube.js';
import { HELPER_COMMAND } from '../runner/transport/types.js';
import { fail, type Streams } from './output.js';

export interface ManifestOptions {
  readonly namespace: string;
  readonly image: string;
  readonly version: string;
}

const hostMounts: { name: string; path: string; readOnly: boolean }[] = [
  { name: 'debugfs', path: '/sys/kernel/debug', readOnly: false },
  { name: 'tracefs', path: '/sys/kernel/tracing', readOnly: false },
  { name: 'bpffs', path: '/sys/fs/bpf', readOnly: false },
  { name: 'modules', path: '/lib/modules', readOnly: true },
  { name: 'containerd', path: '/run/containerd', readOnly: false },
  { name: 'crio', path: '/run/crio', readOnly: false },
];

/** The Namespace and the DaemonSet, as one YAML stream. */
export function helperManifest(o: ManifestOptions): string {
  const labels = { 'app.kubernetes.io/name': 'ctrace-helper', 'app.kubernetes.io/version': o.version };
  const namespace = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: o.namespace } };
  const daemonSet = {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name: 'ctrace-helper', namespace: o.namespace, labels },
    spec: {
      selector: { matchLabels: { 'app.kubernetes.io/name': 'ctrace-helper' } },
      template: {
        metadata: { labels },
        spec: {
          hostPID: true,
          tolerations: [{ operator: 'Exists' }],
          containers: [
            {
              name: 'helper',
              image: o.image,
              // Idle until a trace execs the helper; PID 1 must reap nothing and exit on TERM.
              command: ['/bin/sh', '-c', 'trap "exit 0" TERM; while :; do sleep 3600 & wait $!; done'],
              securityContext: { privileged: true },
              volumeMounts: hostMounts.map((m) => ({ name: m.name, mountPath: m.path, readOnly: m.readOnly })),
              resources: { requests: { cpu: '10m', memory: '64Mi' } },
            },
          ],
          volumes: hostMounts.map((m) => ({ name: m.name, hostPath: { path: m.path } })),
        },
      },
    },
  };
  return `# ctrace helper ${o.version}: one privileged pod per node; the helper runs in one with\n# kubectl exec -i -n ${o.namespace} POD -- ${HELPER_COMMAND}\n` + [namespace, daemonSet].map((d) => `---\n${toYaml(d, 0)}`).join('');
}

type Yaml = string | number | boolean | null | readonly Yaml[] | { readonly [k: string]: Yaml };

/** Block-style YAML; every string double-quoted (a JSON string is a valid YAML scalar). */
export function toYaml(v: Yaml | object, indent: number): string {
  const pad = ' '.repeat(indent);
  const scalar = (x: unknown) => (typeof x === 'string' ? JSON.stringify(x) : String(x));
  const isBlock = (x: unknown) => typeof x === 'object' && x !== null && (Array.isArray(x) ? x.length > 0 : Object.keys(x).length > 0);
  const empty = (x: unknown) => (Array.isArray(x) ? '[]' : '{}');
  if (Array.isArray(v)) {
    return v
      .map((item: unknown) => {
        if (!isBlock(item)) return `${pad}- ${typeof item === 'object' && item !== null ? empty(item) : scalar(item)}\n`;
        const body = toYaml(item as Yaml, indent + 2);
        return Array.isArray(item) ? `${pad}-\n${body}` : `${pad}- ${body.slice(indent + 2)}`;
      })
      .join('');
  }
  return Object.entries(v as Record<string, unknown>)
    .map(([k, x]) => (isBlock(x) ? `${pad}${k}:\n${toYaml(x as Yaml, indent + 2)}` : `${pad}${k}: ${typeof x === 'object' && x !== null ? empty(x) : scalar(x)}\n`))
    .join('');
}

const IMAGE_RE = /^[A-Za-z0-9][A-Za-z0-9._\/:@-]*$/;

/** Prints the manifest; a bad namespace or image is a command-line error. */
export function helperManifestCommand(o: ManifestOptions, io: Streams): number {
  const bad = namespaceProblem(o.namespace) ?? (IMAGE_RE.test(o.image) && o.image.length <= 512 ? null : `${JSON.stringify(o.image)} is not an image reference`);
  if (bad !== null) {
    fail(io, bad);
    return 2;
  }
  io.stdout.write(helperManifest(o));
  return 0;
}

// `trace helper install --kube`: the DaemonSet manifest, read back by the real kubectl (its YAML
// parser and its mapping of kinds to API resources, against the served API's discovery: no
// cluster runs here, and so no server-side schema validation either).

import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli.js';
import { toYaml } from '../../src/commands/helper-manifest.js';
import { startKubeApi, type KubeApi } from '../support/kube-api.js';
import { captureStreams } from '../support/streams.js';

let api: KubeApi;
const home = mkdtempSync(join(tmpdir(), 'ctrace-manifest-test-'));
beforeAll(async () => {
  api = await startKubeApi({ pods: [], nodes: [] });
});
afterAll(async () => {
  await api.stop();
  rmSync(home, { recursive: true, force: true });
});

function kubectl(args: string[], input: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const c = execFile('kubectl', ['--kubeconfig', api.kubeconfig, ...args], { env: { ...process.env, HOME: home } }, (e, stdout, stderr) => resolve({ code: e ? Number((e as { code?: number }).code) : 0, stdout, stderr }));
    c.stdin!.end(input);
  });
}

async function manifest(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const c = captureStreams();
  const code = await main(['node', 'trace', 'helper', 'install', '--kube', ...args], c.io);
  return { code, out: c.out(), err: c.err() };
}

describe('trace helper install --kube', () => {
  it('kubectl accepts it (apply --dry-run=client)', async () => {
    const m = await manifest();
    expect(m.code).toBe(0);
    const r = await kubectl(['apply', '--dry-run=client', '--validate=false', '-f', '-'], m.out);
    expect(r).toEqual({ code: 0, stdout: 'namespace/ctrace created (dry run)\ndaemonset.apps/ctrace-helper created (dry run)\n', stderr: '' });
  });

  it('a privileged pod per node in the host PID namespace, with the host paths bpftrace and the runtimes need', async () => {
    const m = await manifest('--image', 'registry.example/ctrace-helper:0.1.0', '-n', 'tracing');
    const r = await kubectl(['create', '--dry-run=client', '--validate=false', '-o', 'json', '-f', '-'], m.out);
    expect(r.code, r.stderr).toBe(0);
    // One pretty-printed JSON object per document.
    const objects = r.stdout.split(/(?<=^\})\n(?=^\{)/m).map((j) => JSON.parse(j)) as { kind: string; metadata: { name: string; namespace?: string }; spec?: any }[];
    expect(objects.map((o) => [o.kind, o.metadata.name, o.metadata.namespace])).toEqual([
      ['Namespace', 'tracing', undefined],
      ['DaemonSet', 'ctrace-helper', 'tracing'],
    ]);
    const pod = objects[1]!.spec.template.spec;
    expect(pod.hostPID).toBe(true);
    expect(pod.tolerations).toEqual([{ operator: 'Exists' }]);
    const [c] = pod.containers;
    expect(c.image).toBe('registry.example/ctrace-helper:0.1.0');
    expect(c.securityContext).toEqual({ privileged: true });
    const mounts = Object.fromEntries(c.volumeMounts.map((v: { name: string; mountPath: string }) => [v.mountPath, v.name]));
    const host = Object.fromEntries(pod.volumes.map((v: { name: string; hostPath: { path: string } }) => [v.name, v.hostPath.path]));
    for (const path of ['/sys/kernel/debug', '/sys/kernel/tracing', '/sys/fs/bpf', '/lib/modules', '/run/containerd']) expect(host[mounts[path]]).toBe(path);
    expect(objects[1]!.spec.selector.matchLabels).toEqual({ 'app.kubernetes.io/name': 'ctrace-helper' });
  });

  it('refuses a bad namespace or image, and --host, with exit 2', async () => {
    expect(await manifest('-n', 'Bad_NS')).toEqual({ code: 2, out: '', err: `trace: "Bad_NS" is not a namespace name: lower-case letters, digits and '-', at most 63\n` });
    expect(await manifest('--image', 'x; rm -rf /')).toEqual({ code: 2, out: '', err: 'trace: "x; rm -rf /" is not an image reference\n' });
    expect((await manifest('--host', 'web1')).code).toBe(2);
  });
});

describe('toYaml', () => {
  it('quotes every string, and writes empty collections inline', () => {
    expect(toYaml({ a: 'x: "y"', b: [1, true, null], c: {}, d: [], e: [{ f: 'g', h: ['i'] }] }, 0)).toBe(
      'a: "x: \\"y\\""\nb:\n  - 1\n  - true\n  - null\nc: {}\nd: []\ne:\n  - f: "g"\n    h:\n      - "i"\n',
    );
  });
});

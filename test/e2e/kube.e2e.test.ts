// Kubernetes targets, end to end, with everything after the API for real. No cluster can run
// here (no kube-apiserver in Debian or npm, no image pulls), so the API is served from
// test/support/kube-api.ts (HTTPS, its own CA, a bearer token) and asked by the real kubectl.
// The pods it reports stand for podman containers on two SSH test hosts: each pod's
// containerID is `containerd://<that podman container's 64-hex id>`, and each node's
// InternalIP (127.0.0.11/12) is reached through an ssh config entry for that address. From
// there on it is the product's path: one helper per node over SSH, the container selected on
// the node by its id, real uprobes, merged counts, and a twin container of the same image on
// the same node left out.

import { randomBytes } from 'node:crypto';
import { appendFileSync, cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestHosts, type HostService, type TestHost, type TestHosts } from '../support/hosts.js';
import { node, pod, startKubeApi, type KubeApi } from '../support/kube-api.js';
import { bpftraceProcesses, parseTables, runTrace, startTrace, type Started, type TraceRun } from '../support/trace.js';

const fleet = useTestHosts(2);
const scratch = mkdtempSync(join(tmpdir(), 'ctrace-kube-e2e-'));
let api: KubeApi | undefined;
afterAll(async () => {
  await api?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

let t: TestHosts;
let h1: TestHost;
let h2: TestHost;
let env: NodeJS.ProcessEnv;
const svc: Record<'webA' | 'webB' | 'twin', HostService> = {} as never;
const ids: Record<'webA' | 'webB' | 'twin', string> = {} as never;
const POD_A = 'web-7c9d8-x2k4q';
const POD_B = 'web-7c9d8-p9zt7';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const stderrOf = (r: TraceRun) => r.stderr.replace(/^trace: timing .*\n/gm, '');

async function podmanId(h: TestHost, name: string): Promise<string> {
  const r = await h.podman(['inspect', '-f', '{{.Id}}', name]);
  expect(r.code, r.stderr).toBe(0);
  const id = r.stdout.trim();
  expect(id).toMatch(/^[0-9a-f]{64}$/);
  return id;
}

beforeAll(async () => {
  t = await fleet.ready;
  [h1, h2] = t.hosts as [TestHost, TestHost];
  // The test hosts' HOME, plus an ssh config entry per node InternalIP (as a user's config
  // would say `Host 10.0.0.*`): the address is only a name here, it resolves to the host's sshd.
  const home = join(scratch, 'home');
  cpSync(t.home, home, { recursive: true });
  const sshConfig = join(home, '.ssh', 'config');
  for (const [ip, h] of [['127.0.0.11', h1], ['127.0.0.12', h2]] as const) {
    appendFileSync(sshConfig, `\nHost ${ip}\n  HostName 127.0.0.1\n  Port ${h.port}\n  User root\n  IdentityFile ${t.clientKey}\n  UserKnownHostsFile ${t.knownHostsFile}\n`);
  }
  env = { HOME: home, PATH: process.env.PATH, NO_COLOR: '1', TRACE_DEBUG_TIMING: '1' };
  const install = await runTrace(['helper', 'install', '--host', h1.name, '--host', h2.name], { env, timeoutMs: 120_000 });
  expect(install.code, install.stderr).toBe(0);
  [svc.webA, svc.twin, svc.webB] = await Promise.all([
    h1.startService('voting', { name: 'web-a', args: ['-fail-rate', '0'] }),
    h1.startService('voting', { name: 'twin', args: ['-fail-rate', '0'] }),
    h2.startService('voting', { name: 'web-b', args: ['-fail-rate', '0'] }),
  ]);
  ids.webA = await podmanId(h1, 'web-a');
  ids.twin = await podmanId(h1, 'twin');
  ids.webB = await podmanId(h2, 'web-b');
  api = await startKubeApi({
    pods: [
      pod({ name: POD_A, namespace: 'shop', node: 'node-a', labels: { app: 'web' }, containers: { app: `containerd://${ids.webA}` } }),
      pod({ name: POD_B, namespace: 'shop', node: 'node-b', labels: { app: 'web' }, containers: { app: `containerd://${ids.webB}` } }),
      // Scheduled on node-b, but its container is on node-a: node-b's helper must not find it.
      pod({ name: 'stray-1', namespace: 'shop', node: 'node-b', labels: { app: 'stray' }, containers: { app: `containerd://${ids.twin}` } }),
    ],
    nodes: [node('node-a', '127.0.0.11'), node('node-b', '127.0.0.12')],
  });
}, 300_000);

async function waitForHosts(run: Started, n: number, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const attached = () => (run.output().stderr.match(/ probes attached$/gm) ?? []).length;
  while (attached() < n) {
    if (Date.now() > deadline) throw new Error(`only ${attached()} of ${n} nodes attached; stderr:\n${run.output().stderr}`);
    await sleep(50);
  }
}

/** n requests, the first alone (bpftrace's count() can lose a new key's first concurrent increments). */
async function loadExact(h: TestHost, s: HostService, n: number): Promise<number> {
  const first = await h.load(s, 1, { concurrency: 1 });
  const rest = n > 1 ? await h.load(s, n - 1) : { ok: 0 };
  return first.ok + rest.ok;
}

function table(r: TraceRun, name: string): Record<string, number> {
  const tb = parseTables(r.stdout).find((x) => x.title === (name === '@' ? '' : name));
  expect(tb, `table ${name} in:\n${r.stdout}\nstderr:\n${r.stderr}`).toBeDefined();
  return Object.fromEntries(tb!.rows.map((row) => [row.length > 1 ? row[0]! : '', Number(row.at(-1))]));
}

async function waitGone(marker: string, ms: number): Promise<number> {
  const t0 = Date.now();
  while (bpftraceProcesses(marker).length && Date.now() - t0 < ms) await sleep(50);
  return bpftraceProcesses(marker).length;
}

describe('trace -l app=web --kube', () => {
  it("traces each pod's container on its node, reached at the node's InternalIP; counts merged, split by node; the twin left out", async () => {
    const marker = `kube${randomBytes(3).toString('hex')}`;
    const prog = `uprobe:main.vote { @all = count(); @[host] = count(); @m["${marker}"] = count(); }`;
    const run = startTrace(['-l', 'app=web', '--kube', '-n', 'shop', '--kubeconfig', api!.kubeconfig, prog], { env });
    await waitForHosts(run, 2);
    const sent = await Promise.all([loadExact(h1, svc.webA, 20), loadExact(h2, svc.webB, 30), loadExact(h1, svc.twin, 15)]);
    expect(sent).toEqual([20, 30, 15]);
    run.child.kill('SIGINT');
    const r = await run.done;
    expect(r.code, r.stderr).toBe(0);
    expect(table(r, '@')).toEqual({ 'node-a': 20, 'node-b': 30 });
    expect(table(r, '@all')).toEqual({ '': 50 });
    expect(r.stderr).toContain('trace: 2 of 2 hosts reported');
    expect(api!.requests).toContain('/api/v1/namespaces/shop/pods?labelSelector=app%3Dweb');
    expect(await waitGone(marker, 2000)).toBe(0);
  });
});

describe('trace -c pod/NAME/CONTAINER --node-map', () => {
  it('one pod, its node mapped to an ssh alias: the output is a plain run', async () => {
    const map = join(scratch, 'nodes.txt');
    writeFileSync(map, `# node   ssh host\nnode-a   ${h1.name}\nnode-b   ${h2.name}\n`);
    const run = startTrace(['-c', `pod/${POD_A}/app`, '-n', 'shop', '--kubeconfig', api!.kubeconfig, '--node-map', map, 'uprobe:main.vote { @[container] = count(); }'], { env });
    await waitForHosts(run, 1);
    expect(await Promise.all([loadExact(h1, svc.webA, 12), loadExact(h1, svc.twin, 9)])).toEqual([12, 9]);
    run.child.kill('SIGINT');
    const r = await run.done;
    expect(r.code, r.stderr).toBe(0);
    expect(table(r, '@')).toEqual({ 'web-a': 12 });
    expect(stderrOf(r)).not.toMatch(/hosts reported/);
  });

  it("a container id its node does not have is refused by that node's helper, in one sentence", async () => {
    const r = await runTrace(['-c', 'pod/stray-1', '-n', 'shop', '--kubeconfig', api!.kubeconfig, '-d', '1s', 'uprobe:main.vote { @ = count(); }'], { env });
    expect(r.code).toBe(1);
    expect(stderrOf(r).trim()).toMatch(new RegExp(`^trace: no container named '${ids.twin}' was found`));
  });

  it('a pod that does not exist: exit 1 before any node is contacted', async () => {
    const r = await runTrace(['-c', 'pod/web-nope', '-n', 'shop', '--kubeconfig', api!.kubeconfig, 'uprobe:main.vote { @ = count(); }'], { env });
    expect(r.code).toBe(1);
    expect(stderrOf(r)).toBe("trace: no pod named 'web-nope' in namespace shop\n");
  });
});

describe('kubectl ctrace (the plugin entry point)', () => {
  it('kubectl finds it on PATH and runs it; -l selects pods without --kube', async () => {
    const { execFile } = await import('node:child_process');
    const { ROOT } = await import('../support/trace.js');
    const bin = join(scratch, 'plugins');
    mkdirSync(bin, { recursive: true });
    symlinkSync(join(ROOT, 'bin', 'kubectl-ctrace.js'), join(bin, 'kubectl-ctrace'));
    const marker = `plugin${randomBytes(3).toString('hex')}`;
    const args = ['ctrace', '-l', 'app=web', '-n', 'shop', '--kubeconfig', api!.kubeconfig, '-d', '8s', `uprobe:main.vote { @[host] = count(); @m["${marker}"] = count(); }`];
    const done = new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
      execFile('kubectl', args, { env: { ...env, PATH: `${bin}:${process.env.PATH}` } }, (e, stdout, stderr) => resolve({ code: e ? Number((e as { code?: number }).code) : 0, stdout, stderr })),
    );
    // Both nodes' bpftrace attached (the run is ours to see: same PID namespace), then load.
    const deadline = Date.now() + 30_000;
    while (bpftraceProcesses(marker).length < 2 && Date.now() < deadline) await sleep(100);
    await sleep(1500);
    expect(await Promise.all([loadExact(h1, svc.webA, 5), loadExact(h2, svc.webB, 8)])).toEqual([5, 8]);
    const r = await done;
    expect(r.code, r.stderr).toBe(0);
    expect(table({ ...r, signal: null }, '@')).toEqual({ 'node-a': 5, 'node-b': 8 });
  });
});

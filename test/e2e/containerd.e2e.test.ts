// End to end: `trace -c NAME` against real containerd containers (issue 15, item 1).
// A private containerd (Debian's package, its own root and socket, its CRI plugin on) runs
// the demo's emoji service from an imported OCI image, started with ctr and, as kubelet
// would, through the CRI socket; every count is compared exactly with what the load
// generator sent; every run is the built CLI and real bpftrace. (No crictl: Debian has none.)

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDemo, type DemoBinaries } from '../../src/demo/build.js';
import { runLoadgen, type LoadOptions } from '../../src/demo/stack.js';
import { resolveContainerdId } from '../../src/runner/targets/index.js';
import { PAUSE_IMAGE, startContainerd, type CtrContainer, type PrivateContainerd } from '../support/containerd.js';
import { parseTables, runTrace, traceWhile, type TraceRun } from '../support/trace.js';

const RUN = randomBytes(4).toString('hex');
const tmp = mkdtempSync(join(tmpdir(), 'ctrace-containerd-e2e-'));
const IMAGE = `ctrace.test/emoji:${RUN}`;
const PROGRAM = 'uprobe:main.lookup { @[container, arg0] = count(); }';

let cd: PrivateContainerd;
let bins: DemoBinaries;
/** Twins: one image, names from nerdctl's label. */
let a: CtrContainer;
let b: CtrContainer;
/** Same image, no name label: known by its id. */
let c: CtrContainer;
/** A Kubernetes-style pod's container, made through the CRI socket with kubelet's labels. */
let k: CtrContainer;
/** A pod made through the CRI socket without kubelet's labels (as crictl makes one): its name is in its CRI metadata only. */
let bare: CtrContainer;
/** Its task killed and deleted, the container kept. */
let stopped: CtrContainer;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  [bins, cd] = await Promise.all([buildDemo(), startContainerd()]);
  env = { DOCKER_HOST: `unix://${tmp}/no-docker.sock`, ...cd.env };
  await Promise.all([
    cd.importDemoImage(bins, 'emoji', IMAGE, 'default'),
    cd.importDemoImage(bins, 'emoji', IMAGE, 'k8s.io'),
    cd.importDemoImage(bins, 'emoji', PAUSE_IMAGE, 'k8s.io', ['/app/emoji', '-name', 'pause', '-port', '0']),
  ]);
  const named = (n: string) => ({ 'nerdctl/name': `ctrace-test-${n}-${RUN}`, 'ctrace.test': RUN });
  [a, b, c, k, bare, stopped] = await Promise.all([
    cd.run({ namespace: 'default', id: `a${RUN}aaaa`, image: IMAGE, service: 'emoji', labels: named('a') }),
    cd.run({ namespace: 'default', id: `b${RUN}bbbb`, image: IMAGE, service: 'emoji', labels: named('b') }),
    cd.run({ namespace: 'default', id: `c${RUN}cccc`, image: IMAGE, service: 'emoji', labels: { 'ctrace.test': RUN } }),
    cd.runCriPod({ pod: `emoji-pod-${RUN}`, container: `emoji-${RUN}`, image: IMAGE, service: 'emoji' }),
    cd.runCriPod({ pod: `bare-pod-${RUN}`, container: `bare-${RUN}`, image: IMAGE, service: 'emoji', kubeletLabels: false }),
    cd.run({ namespace: 'default', id: `s${RUN}ssss`, image: IMAGE, service: 'emoji', labels: named('stopped') }),
  ]);
  await cd.stopTask(stopped);
}, 120_000);

afterAll(async () => {
  await cd?.stop();
  rmSync(tmp, { recursive: true, force: true });
}, 60_000);

const load = (t: CtrContainer, o: LoadOptions) => runLoadgen(bins.paths.loadgen, `${t.url}/emoji?n={n}`, o);

/** { "container arg0": count } of the one table. */
function counts(r: TraceRun): Record<string, number> {
  const tables = parseTables(r.stdout);
  expect(tables).toHaveLength(1);
  expect(tables[0]!.header).toEqual(['container', 'arg0', 'count']);
  return Object.fromEntries(tables[0]!.rows.map(([name, n, count]) => [`${name} ${n}`, Number(count)]));
}

const keyed = (t: CtrContainer, byN: Record<string, number>) => Object.fromEntries(Object.entries(byN).map(([n, k]) => [`${t.name} ${n}`, k]));

describe('twin containers of one image', () => {
  it('share the binary (same inode, overlayfs lower layer) in different mount namespaces, and a bare uprobe fires in both', async () => {
    const exe = (t: CtrContainer) => statSync(`/proc/${t.hostPid}/root/app/emoji`).ino;
    expect(exe(a)).toBe(exe(b));
    const mnt = (t: CtrContainer) => statSync(`/proc/${t.hostPid}/ns/mnt`).ino;
    expect(mnt(a)).not.toBe(mnt(b));
    // Plain bpftrace on a's binary, no filter: b's calls land too. This is why the
    // tracer's mount-namespace filter is needed.
    const bt = spawn('bpftrace', ['-e', `BEGIN { printf("ready\\n"); } uprobe:/proc/${a.hostPid}/root/app/emoji:main.lookup { @[pid] = count(); }`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    bt.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const done = new Promise<void>((r) => bt.on('close', () => r()));
    try {
      for (let i = 0; i < 300 && !out.includes('ready'); i++) await new Promise((r) => setTimeout(r, 100));
      expect(out).toContain('ready');
      await Promise.all([load(a, { requests: 7, concurrency: 1 }), load(b, { requests: 9, concurrency: 1 })]);
    } finally {
      bt.kill('SIGINT');
    }
    await done;
    expect(out).toContain(`@[${a.hostPid}]: 7`);
    expect(out).toContain(`@[${b.hostPid}]: 9`);
  });

  it('trace -c <name> counts only its own calls, exactly, while its twin gets the same n', async () => {
    let sent: Record<string, number> = {};
    const r = await traceWhile(['-c', a.name, PROGRAM], async () => {
      const [sa, sb] = await Promise.all([load(a, { requests: 40, ns: [1, 2], concurrency: 4 }), load(b, { requests: 50, ns: [1, 2, 3], concurrency: 4 })]);
      expect(sb.byN).toEqual({ 1: 17, 2: 17, 3: 16 });
      sent = sa.byN;
    }, { env });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(sent).toEqual({ 1: 20, 2: 20 });
    expect(counts(r)).toEqual(keyed(a, sent));
  });

  it('-c a -c b splits the counts per container exactly; a third of the image, untraced, is never counted', async () => {
    const sent: Record<string, number> = {};
    const r = await traceWhile(['--runtime', 'containerd', '-c', a.name, '-c', b.name, PROGRAM], async () => {
      const [sa, sb, sc] = await Promise.all([
        load(a, { requests: 30, ns: [4, 5], concurrency: 3 }),
        load(b, { requests: 33, ns: [5, 6, 7], concurrency: 3 }),
        load(c, { requests: 20, ns: [4, 5], concurrency: 2 }),
      ]);
      expect(sc.sent).toBe(20);
      Object.assign(sent, keyed(a, sa.byN), keyed(b, sb.byN));
    }, { env });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(sent).toEqual({ [`${a.name} 4`]: 15, [`${a.name} 5`]: 15, [`${b.name} 5`]: 11, [`${b.name} 6`]: 11, [`${b.name} 7`]: 11 });
    expect(counts(r)).toEqual(sent);
  });
});

describe('other ways to name a containerd container', () => {
  it('a container without a name label is known by its id (a prefix is enough)', async () => {
    let sent: Record<string, number> = {};
    const r = await traceWhile(['-c', c.id.slice(0, 6), PROGRAM], async () => {
      const [sc] = await Promise.all([load(c, { requests: 21, ns: [8, 9, 10], concurrency: 3 }), load(a, { requests: 10, ns: [8], concurrency: 2 })]);
      sent = sc.byN;
    }, { env });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(c.name).toBe(c.id);
    expect(counts(r)).toEqual(keyed(c, sent));
    expect(sent).toEqual({ 8: 7, 9: 7, 10: 7 });
  });

  it("a pod's container made through the CRI socket, by its Kubernetes name (crictl's NAME) or --label io.kubernetes.pod.name; the pod's sandbox and a twin not counted", async () => {
    const cases: [string[], CtrContainer][] = [
      [['-c', k.name], k],
      [['--label', `io.kubernetes.pod.name=emoji-pod-${RUN}`], k],
      // No kubelet labels: the name is found in the CRI plugin's own metadata.
      [['-c', bare.name], bare],
    ];
    for (const [args, target] of cases) {
      let sent: Record<string, number> = {};
      const r = await traceWhile([...args, PROGRAM], async () => {
        const other = target === k ? bare : k;
        const [st] = await Promise.all([load(target, { requests: 12, ns: [11, 12], concurrency: 2 }), load(other, { requests: 10, ns: [11], concurrency: 2 })]);
        sent = st.byN;
      }, { env });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(counts(r)).toEqual(keyed(target, sent));
      expect(sent).toEqual({ 11: 6, 12: 6 });
    }
  });

  it('resolveContainerdId: a Kubernetes container id (containerd://...) to its host PID and root; the namespace matters', async () => {
    const full = { ...process.env, ...cd.env };
    const r = await resolveContainerdId(`containerd://${k.id}`, { env: full });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.targets).toHaveLength(1);
    expect(r.targets[0]).toMatchObject({ runtime: 'containerd', id: k.id, name: k.name, hostPid: k.hostPid, root: `/proc/${k.hostPid}/root`, exe: '/app/emoji' });
    expect(r.targets[0]!.mntns).toBe(statSync(`/proc/${k.hostPid}/ns/mnt`).ino);
    expect(await resolveContainerdId(k.id, { env: full, namespace: 'default' })).toEqual({ ok: false, message: `no containerd container has the id ${k.id} in namespace default` });
    expect(await resolveContainerdId(stopped.id, { env: full, namespace: 'default' })).toEqual({ ok: false, message: `container '${stopped.name}' is not running (state: stopped)` });
  });
});

describe('containerd targets that cannot be traced: one sentence, exit 1', () => {
  const oneSentence = (r: TraceRun, sentence: string) => {
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`trace: ${sentence}\n`);
    expect(r.code).toBe(1);
  };

  it('an unknown name', async () => {
    const name = `ctrace-test-nope-${RUN}`;
    oneSentence(await runTrace(['--runtime', 'containerd', '-c', name, PROGRAM], { env }), `no container named '${name}' was found (looked in containerd)`);
  });

  it("a pod's name is not a container's (its sandbox is known by its id only)", async () => {
    const pod = `emoji-pod-${RUN}`;
    oneSentence(await runTrace(['--runtime', 'containerd', '-c', pod, PROGRAM], { env }), `no container named '${pod}' was found (looked in containerd)`);
  });

  it('a stopped container (no task)', async () => {
    oneSentence(await runTrace(['-c', stopped.name, PROGRAM], { env }), `container '${stopped.name}' is not running (state: stopped)`);
  });

  it('--runtime containerd with no containerd behind the address', async () => {
    const sock = join(tmp, 'none.sock');
    const r = await runTrace(['--runtime', 'containerd', '-c', a.name, PROGRAM], { env: { ...env, CONTAINERD_ADDRESS: sock, CTRACE_CRICTL: '/nonexistent/crictl' } });
    oneSentence(r, `--runtime containerd was given, but containerd is not running (no socket at ${sock}) and crictl is not installed`);
  });
});

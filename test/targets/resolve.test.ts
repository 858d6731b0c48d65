// resolveTargets with injected runtimes and fake runtime CLIs: messages, validation, timeouts.
// No container is started here (see resolve.e2e.test.ts for real podman containers).

import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { crictlClient, parseCrictlInspect, parseCrictlPs } from '../../src/runner/targets/crictl.js';
import { parseInspect } from '../../src/runner/targets/engine.js';
import { targetFacts } from '../../src/runner/targets/facts.js';
import { resolveTargets, waitForRestart, watchTargets } from '../../src/runner/targets/resolve.js';
import type { ContainerRecord, ResolvedTarget, RuntimeAnswer, RuntimeClient } from '../../src/runner/targets/types.js';

const here = dirname(fileURLToPath(import.meta.url));
const fixture = (name: string) => readFileSync(join(here, 'fixtures', name), 'utf8');
const tmp = mkdtempSync(join(tmpdir(), 'ctrace-resolve-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** An injected runtime that answers from a table and records what it was asked. */
class FakeRuntime implements RuntimeClient {
  calls: string[] = [];
  constructor(
    readonly runtime: 'podman' | 'docker' | 'containerd',
    private readonly containers: ContainerRecord[],
    private readonly opts: { installed?: boolean; unavailable?: string } = {},
  ) {}
  installed(): boolean {
    return this.opts.installed !== false;
  }
  async find(ref: string): Promise<RuntimeAnswer<ContainerRecord[]>> {
    this.calls.push(`find ${ref}`);
    if (this.opts.unavailable) return { status: 'unavailable', reason: this.opts.unavailable };
    return { status: 'ok', value: this.containers.filter((c) => c.name === ref || c.id.startsWith(ref)) };
  }
  async withLabels(labels: string[]): Promise<RuntimeAnswer<ContainerRecord[]>> {
    this.calls.push(`labels ${labels.join(',')}`);
    if (this.opts.unavailable) return { status: 'unavailable', reason: this.opts.unavailable };
    return {
      status: 'ok',
      value: this.containers.filter((c) => c.running && labels.every((l) => { const [k, v] = l.split('='); return c.labels[k!] === v; })),
    };
  }
}

function rec(runtime: 'podman' | 'docker' | 'containerd', id: string, name: string, over: Partial<ContainerRecord> = {}): ContainerRecord {
  // The "main process" is this test process, so /proc facts resolve for real.
  return { runtime, id, name, state: 'running', running: true, pid: process.pid, labels: {}, ...over };
}

const ID_A = 'a'.repeat(64);
const ID_B = 'b'.repeat(64);

describe('resolveTargets: validation before anything runs', () => {
  it.each([';rm -rf /', 'x;rm -rf /', '$(touch /tmp/x)', '`id`', 'a b', '-rf', '--help', '.hidden', 'a|b', 'a&b', 'x\ny', '', 'a/b', "it's"])(
    'refuses %j without asking any runtime',
    async (name) => {
      const p = new FakeRuntime('podman', []);
      const d = new FakeRuntime('docker', []);
      const r = await resolveTargets({ containers: [name], labels: [], pids: [] }, { runtimes: [p, d] });
      expect(r).toEqual({ ok: false, message: expect.stringContaining('is not a valid container name') });
      expect(p.calls).toEqual([]);
      expect(d.calls).toEqual([]);
    },
  );

  it('never starts the real runtime CLI for an invalid name (fake podman leaves a canary)', async () => {
    const canary = join(tmp, 'podman-ran');
    const fake = join(tmp, 'fake-podman');
    writeFileSync(fake, `#!/bin/sh\necho "$@" >> '${canary}'\necho 'Error: no such container' >&2\nexit 125\n`);
    chmodSync(fake, 0o755);
    const env = { ...process.env, CTRACE_PODMAN: fake, CTRACE_DOCKER: '/nonexistent/docker', CTRACE_CRICTL: '/nonexistent/crictl' };
    const bad = await resolveTargets({ containers: [';rm -rf /'], labels: [], pids: [] }, { env });
    expect(bad.ok).toBe(false);
    expect(existsSync(canary)).toBe(false);
    // The same fake does run for a valid name, so the canary would have shown a call.
    const good = await resolveTargets({ containers: ['web'], labels: [], pids: [] }, { env });
    expect(good).toEqual({ ok: false, message: "no container named 'web' was found (looked in podman)" });
    expect(readFileSync(canary, 'utf8')).toBe('inspect --type container -- web\n');
  });

  it('takes a bare environment as its second argument too', async () => {
    const canary = join(tmp, 'podman-ran-env');
    const fake = join(tmp, 'fake-podman-env');
    writeFileSync(fake, `#!/bin/sh\necho "$@" >> '${canary}'\nexit 125\n`);
    chmodSync(fake, 0o755);
    const env = { PATH: process.env.PATH, CTRACE_PODMAN: fake, CTRACE_DOCKER: '/nonexistent/docker', CTRACE_CRICTL: '/nonexistent/crictl' };
    const r = await resolveTargets({ containers: ['web'], labels: [], pids: [] }, env);
    expect(r.ok).toBe(false);
    expect(readFileSync(canary, 'utf8')).toBe('inspect --type container -- web\n');
  });

  it('refuses bad label selectors and PIDs', async () => {
    const p = new FakeRuntime('podman', []);
    expect(await resolveTargets({ containers: [], labels: ['=x'], pids: [] }, { runtimes: [p] })).toMatchObject({ ok: false, message: expect.stringMatching(/not a valid label selector/) });
    expect(await resolveTargets({ containers: [], labels: ['a=b\nc'], pids: [] }, { runtimes: [p] })).toMatchObject({ ok: false });
    expect(await resolveTargets({ containers: [], labels: [], pids: [0] }, { runtimes: [p] })).toEqual({ ok: false, message: '0 is not a valid PID' });
    expect(await resolveTargets({ containers: [], labels: [], pids: [-5] }, { runtimes: [p] })).toEqual({ ok: false, message: '-5 is not a valid PID' });
    expect(await resolveTargets({ containers: [], labels: [], pids: [1.5] }, { runtimes: [p] })).toMatchObject({ ok: false });
    expect(p.calls).toEqual([]);
  });

  it('asks for a target when none is given', async () => {
    const r = await resolveTargets({ containers: [], labels: [], pids: [] }, { runtimes: [] });
    expect(r).toMatchObject({ ok: false, message: expect.stringMatching(/^no target was given/) });
  });
});

describe('resolveTargets: which runtime', () => {
  it('reports a name in two runtimes with different ids as ambiguous', async () => {
    const r = await resolveTargets(
      { containers: ['web'], labels: [], pids: [] },
      { runtimes: [new FakeRuntime('podman', [rec('podman', ID_A, 'web')]), new FakeRuntime('docker', [rec('docker', ID_B, 'web')])] },
    );
    expect(r).toEqual({ ok: false, message: "'web' names containers in both podman and docker: choose one with --runtime" });
  });

  it('treats the same id in two runtimes (docker served by podman) as one container', async () => {
    const r = await resolveTargets(
      { containers: ['web'], labels: [], pids: [] },
      { runtimes: [new FakeRuntime('podman', [rec('podman', ID_A, 'web')]), new FakeRuntime('docker', [rec('docker', ID_A, 'web')])] },
    );
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.targets).toHaveLength(1);
    expect(r.targets[0]).toMatchObject({ runtime: 'podman', id: ID_A, name: 'web', hostPid: process.pid });
  });

  it('--runtime picks one runtime and ignores the others', async () => {
    const p = new FakeRuntime('podman', [rec('podman', ID_A, 'web')]);
    const d = new FakeRuntime('docker', [rec('docker', ID_B, 'web')]);
    const r = await resolveTargets({ containers: ['web'], labels: [], pids: [], runtime: 'docker' }, { runtimes: [p, d] });
    expect(r.ok && r.targets.map((t) => [t.runtime, t.id])).toEqual([['docker', ID_B]]);
    expect(p.calls).toEqual([]);
  });

  it('says which runtimes were asked when a name is found nowhere', async () => {
    const r = await resolveTargets(
      { containers: ['x'], labels: [], pids: [] },
      { runtimes: [new FakeRuntime('podman', []), new FakeRuntime('docker', [])] },
    );
    expect(r).toEqual({ ok: false, message: "no container named 'x' was found (looked in podman, docker)" });
    const r2 = await resolveTargets(
      { containers: ['x'], labels: [], pids: [] },
      { runtimes: [new FakeRuntime('podman', []), new FakeRuntime('docker', [], { unavailable: 'Cannot connect' }), new FakeRuntime('containerd', [], { installed: false })] },
    );
    expect(r2).toEqual({ ok: false, message: "no container named 'x' was found (looked in podman; docker is not answering)" });
  });

  it('a runtime that is not answering is not an error in auto mode', async () => {
    const r = await resolveTargets(
      { containers: ['web'], labels: [], pids: [] },
      { runtimes: [new FakeRuntime('podman', [rec('podman', ID_A, 'web')]), new FakeRuntime('docker', [], { unavailable: 'Cannot connect to the Docker daemon' })] },
    );
    expect(r.ok).toBe(true);
  });

  it('but it is with --runtime', async () => {
    const r = await resolveTargets(
      { containers: ['web'], labels: [], pids: [], runtime: 'docker' },
      { runtimes: [new FakeRuntime('docker', [], { unavailable: 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock' })] },
    );
    expect(r).toEqual({ ok: false, message: 'docker is not answering: Cannot connect to the Docker daemon at unix:///var/run/docker.sock' });
  });

  it('--runtime with a CLI that is not installed', async () => {
    const r = await resolveTargets(
      { containers: ['web'], labels: [], pids: [], runtime: 'containerd' },
      { runtimes: [new FakeRuntime('containerd', [], { installed: false })] },
    );
    expect(r).toEqual({ ok: false, message: '--runtime containerd was given, but the containerd command is not installed' });
  });

  it('--runtime containerd with neither ctr nor crictl, or ctr but no containerd socket', async () => {
    const none = { PATH: tmp, CTRACE_CTR: '/nonexistent/ctr', CTRACE_CRICTL: '/nonexistent/crictl' };
    const req = { containers: ['web'], labels: [], pids: [], runtime: 'containerd' as const };
    expect(await resolveTargets(req, { env: none })).toEqual({ ok: false, message: '--runtime containerd was given, but neither ctr nor crictl is installed' });
    const ctr = join(tmp, 'ctr-never-run');
    writeFileSync(ctr, `#!/bin/sh\ntouch '${ctr}.ran'\n`);
    chmodSync(ctr, 0o755);
    const sock = join(tmp, 'no-containerd.sock');
    const t0 = Date.now();
    expect(await resolveTargets(req, { env: { ...none, CTRACE_CTR: ctr, CONTAINERD_ADDRESS: `unix://${sock}` } })).toEqual({
      ok: false,
      message: `--runtime containerd was given, but containerd is not running (no socket at ${sock}) and crictl is not installed`,
    });
    // ctr itself would wait 10 s to find the socket missing: it is never started.
    expect(Date.now() - t0).toBeLessThan(1_000);
    expect(existsSync(`${ctr}.ran`)).toBe(false);
  });

  it('no runtime installed at all', async () => {
    const r = await resolveTargets({ containers: ['web'], labels: [], pids: [] }, { runtimes: [new FakeRuntime('podman', [], { installed: false })] });
    expect(r).toEqual({ ok: false, message: 'no container runtime is installed (looked for podman)' });
  });

  it('a stopped container', async () => {
    const r = await resolveTargets(
      { containers: ['web'], labels: [], pids: [] },
      { runtimes: [new FakeRuntime('podman', [rec('podman', ID_A, 'web', { running: false, state: 'exited', pid: 0 })])] },
    );
    expect(r).toEqual({ ok: false, message: "container 'web' is not running (state: exited)" });
  });

  it('a CRI name shared by containers of two pods', async () => {
    const r = await resolveTargets(
      { containers: ['app'], labels: [], pids: [] },
      { runtimes: [new FakeRuntime('containerd', [rec('containerd', ID_A, 'app'), rec('containerd', ID_B, 'app')])] },
    );
    expect(r).toEqual({ ok: false, message: "'app' matches 2 containers in containerd: give the container id instead" });
  });

  it('labels select every running container that has them, across runtimes, without duplicates', async () => {
    const p = new FakeRuntime('podman', [
      rec('podman', ID_A, 'a', { labels: { app: 'shop' } }),
      rec('podman', 'c'.repeat(64), 'c', { labels: { app: 'shop' }, running: false, pid: 0, state: 'exited' }),
    ]);
    const d = new FakeRuntime('docker', [rec('docker', ID_A, 'a', { labels: { app: 'shop' } })]);
    const r = await resolveTargets({ containers: [], labels: ['app=shop'], pids: [] }, { runtimes: [p, d] });
    expect(r.ok && r.targets.map((t) => [t.runtime, t.name, t.labels])).toEqual([['podman', 'a', { app: 'shop' }]]);
    const none = await resolveTargets({ containers: [], labels: ['app=none'], pids: [] }, { runtimes: [p, d] });
    expect(none).toEqual({ ok: false, message: 'no running container has the label app=none (looked in podman, docker)' });
  });
});

describe('resolveTargets: -p', () => {
  it('resolves a live process', async () => {
    const r = await resolveTargets({ containers: [], labels: [], pids: [process.pid] }, { runtimes: [] });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const t = r.targets[0]!;
    expect(t).toMatchObject({ runtime: 'pid', id: String(process.pid), hostPid: process.pid, pids: [process.pid], root: `/proc/${process.pid}/root`, labels: {} });
    expect(t.name).toBe(readFileSync(`/proc/${process.pid}/comm`, 'utf8').trim());
    expect(t.exeHost).toBe(`/proc/${process.pid}/root${t.exe}`);
    expect(existsSync(t.exeHost)).toBe(true);
  });

  it('gives the compiler its target facts', async () => {
    const r = await resolveTargets({ containers: [], labels: [], pids: [process.pid] }, { runtimes: [] });
    if (!r.ok) throw new Error(r.message);
    const t = r.targets[0]!;
    const f = targetFacts(t, [t.exe]);
    expect(f.ok && f.facts).toMatchObject({ pid: process.pid, exe: t.exeHost, paths: { [t.exe]: t.exeHost } });
    expect(f.ok && Object.keys(f.facts.modules).some((m) => m.startsWith('libc.so'))).toBe(true);
    expect(targetFacts(t, ['/no/such/lib.so'])).toEqual({ ok: false, message: '/no does not exist in the container' });
    expect(targetFacts({ ...t, exeHost: '', exeProblem: 'it was deleted' })).toEqual({ ok: false, message: 'it was deleted' });
  });

  it('a PID that does not exist', async () => {
    const r = await resolveTargets({ containers: [], labels: [], pids: [4_000_000] }, { runtimes: [] });
    expect(r).toEqual({ ok: false, message: 'no process with PID 4000000' });
  });
});

describe('docker CLI that does not answer', () => {
  it('a docker socket that accepts and never replies counts as not answering, within ~2 s', async () => {
    // A fake docker that hangs (exec: the timeout kills the process itself, not a shell).
    const fake = join(tmp, 'fake-docker-hang');
    writeFileSync(fake, '#!/bin/sh\nexec sleep 30\n');
    chmodSync(fake, 0o755);
    const podman = join(tmp, 'fake-podman-empty');
    writeFileSync(podman, "#!/bin/sh\necho '[]'\necho 'Error: no such container web' >&2\nexit 125\n");
    chmodSync(podman, 0o755);
    const env = { ...process.env, CTRACE_PODMAN: podman, CTRACE_DOCKER: fake, CTRACE_CRICTL: '/nonexistent/crictl' };
    const t0 = Date.now();
    const r = await resolveTargets({ containers: ['web'], labels: [], pids: [] }, { env });
    const ms = Date.now() - t0;
    expect(r).toEqual({ ok: false, message: "no container named 'web' was found (looked in podman; docker is not answering)" });
    expect(ms).toBeLessThan(3500);
  });

  it('the real docker CLI with DOCKER_HOST at a missing socket fails fast', async () => {
    const env = { ...process.env, DOCKER_HOST: `unix://${tmp}/no.sock`, CTRACE_PODMAN: '/nonexistent/podman', CTRACE_CRICTL: '/nonexistent/crictl' };
    const t0 = Date.now();
    const r = await resolveTargets({ containers: ['web'], labels: [], pids: [], runtime: 'docker' }, { env });
    expect(r).toMatchObject({ ok: false, message: expect.stringMatching(/^docker is not answering: Cannot connect to the Docker daemon/) });
    expect(Date.now() - t0).toBeLessThan(2500);
  });
});

describe('inspect JSON', () => {
  it('parses podman and docker inspect output', () => {
    const text = JSON.stringify([
      { Id: ID_A, Name: '/web', State: { Status: 'running', Running: true, Pid: 123 }, Config: { Labels: { app: 'shop' } } },
      { Id: ID_B, Name: 'old', State: { Status: 'exited', Running: false, Pid: 0 }, Config: { Labels: null } },
    ]);
    expect(parseInspect(text, 'docker')).toEqual([
      { runtime: 'docker', id: ID_A, name: 'web', state: 'running', running: true, pid: 123, labels: { app: 'shop' } },
      { runtime: 'docker', id: ID_B, name: 'old', state: 'exited', running: false, pid: 0, labels: {} },
    ]);
    expect(parseInspect('Error', 'podman')).toBeNull();
    expect(parseInspect('[]', 'podman')).toEqual([]);
  });
});

describe('crictl', () => {
  it('parses a recorded `crictl inspect -o json`', () => {
    expect(parseCrictlInspect(fixture('crictl-inspect.json'))).toEqual({
      runtime: 'containerd',
      id: '7f1c2b9e4a3d5c6b8e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f',
      name: 'checkout',
      state: 'running',
      running: true,
      pid: 48213,
      labels: {
        'io.kubernetes.container.name': 'checkout',
        'io.kubernetes.pod.name': 'checkout-6d8f7b9c5-x2k4q',
        'io.kubernetes.pod.namespace': 'shop',
        'io.kubernetes.pod.uid': '5c0e4f7a-8b2d-4e1f-9a3c-6d7e8f9a0b1c',
      },
    });
    const exited = JSON.parse(fixture('crictl-inspect.json')) as { status: { state: string }; info: { pid: number } };
    exited.status.state = 'CONTAINER_EXITED';
    exited.info.pid = 0;
    expect(parseCrictlInspect(JSON.stringify(exited))).toMatchObject({ state: 'exited', running: false, pid: 0 });
    expect(parseCrictlInspect('not json')).toBeNull();
    expect(parseCrictlInspect('{}')).toBeNull();
  });

  it('parses a recorded `crictl ps -a -o json`', () => {
    const rows = parseCrictlPs(fixture('crictl-ps.json'))!;
    expect(rows.map((r) => [r.name, r.state, r.running, r.id.slice(0, 6)])).toEqual([
      ['checkout', 'running', true, '7f1c2b'],
      ['checkout', 'exited', false, '0b3e5d'],
      ['istio-proxy', 'running', true, 'c4d5e6'],
    ]);
    expect(parseCrictlPs('{"containers": []}')).toEqual([]);
    expect(parseCrictlPs('{}')).toEqual([]);
    expect(parseCrictlPs('[')).toBeNull();
  });

  it('resolves through a fake crictl: the running attempt of a restarted container wins', async () => {
    // A stand-in crictl printing the recorded output, with this process as the container's PID.
    const inspect = JSON.parse(fixture('crictl-inspect.json')) as { info: { pid: number } };
    inspect.info.pid = process.pid;
    writeFileSync(join(tmp, 'ps.json'), fixture('crictl-ps.json'));
    writeFileSync(join(tmp, 'inspect.json'), JSON.stringify(inspect));
    const log = join(tmp, 'crictl-calls');
    const fake = join(tmp, 'fake-crictl');
    writeFileSync(
      fake,
      `#!/bin/sh\necho "$@" >> '${log}'\ncase "$1" in\n  ps) cat '${tmp}/ps.json' ;;\n  inspect) cat '${tmp}/inspect.json' ;;\n  *) exit 1 ;;\nesac\n`,
    );
    chmodSync(fake, 0o755);
    const env = { ...process.env, CTRACE_CRICTL: fake };
    const r = await resolveTargets({ containers: ['checkout'], labels: [], pids: [], runtime: 'containerd' }, { runtimes: [crictlClient(env)] });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.targets[0]).toMatchObject({ runtime: 'containerd', name: 'checkout', hostPid: process.pid, id: expect.stringMatching(/^7f1c2b/) });
    expect(readFileSync(log, 'utf8')).toBe('ps --all --output json\ninspect --output json 7f1c2b9e4a3d5c6b8e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f\n');
    // By id prefix, and by label.
    const byId = await resolveTargets({ containers: ['7f1c'], labels: [], pids: [], runtime: 'containerd' }, { runtimes: [crictlClient(env)] });
    expect(byId.ok).toBe(true);
    const byLabel = await resolveTargets(
      { containers: [], labels: ['io.kubernetes.container.name=checkout'], pids: [], runtime: 'containerd' },
      { runtimes: [crictlClient(env)] },
    );
    expect(byLabel.ok && byLabel.targets.length).toBe(1);
  });

  it('a crictl with no runtime endpoint is not answering', async () => {
    const fake = join(tmp, 'fake-crictl-down');
    writeFileSync(
      fake,
      '#!/bin/sh\necho \'E1122 10:00:00.000000  1234 remote_runtime.go:390] "ListContainers with filter from runtime service failed" err="rpc error: code = Unavailable desc = connection error: desc = \\"transport: Error while dialing: dial unix /run/containerd/containerd.sock: connect: no such file or directory\\""\' >&2\nexit 1\n',
    );
    chmodSync(fake, 0o755);
    const a = await crictlClient({ ...process.env, CTRACE_CRICTL: fake }).find('x');
    expect(a.status).toBe('unavailable');
  });
});

describe('watchTargets and waitForRestart', () => {
  it('reports a process that exits, once', async () => {
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    await new Promise((r) => child.once('spawn', r));
    const r = await resolveTargets({ containers: [], labels: [], pids: [child.pid!] }, { runtimes: [] });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const gone: [ResolvedTarget, string][] = [];
    const stop = watchTargets(r.targets, (t, why) => gone.push([t, why]), { intervalMs: 50 });
    await new Promise((res) => setTimeout(res, 150));
    expect(gone).toEqual([]);
    const t0 = Date.now();
    child.kill('SIGKILL');
    await new Promise((res) => child.once('exit', res));
    while (gone.length === 0 && Date.now() - t0 < 2000) await new Promise((res) => setTimeout(res, 20));
    await new Promise((res) => setTimeout(res, 200));
    stop();
    expect(gone).toHaveLength(1);
    expect(gone[0]![1]).toBe(`process ${child.pid} (sleep) exited`);
  });

  it('waitForRestart gives up on a -p target at once', async () => {
    const r = await resolveTargets({ containers: [], labels: [], pids: [process.pid] }, { runtimes: [] });
    expect(r.ok && (await waitForRestart(r.targets[0]!, 5_000))).toBe(null);
  });
});

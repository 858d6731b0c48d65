// Target resolution against real podman containers (the demo services), and against the
// real docker client talking to podman's Docker-compatible API on a temporary socket.

import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { moduleMap } from '../../src/runner/targets/paths.js';
import { resolveTargets, waitForRestart, watchTargets } from '../../src/runner/targets/resolve.js';
import type { ResolvedTarget, ResolveRequest, ResolveResult } from '../../src/runner/targets/types.js';
import { cleanupStale, useTestContainers, type TestContainer } from '../support/containers.js';

const pool = useTestContainers();
const RUN = randomBytes(4).toString('hex');
const LABEL = `ctrace.targets.run=${RUN}`;
const tmp = mkdtempSync(join(tmpdir(), 'ctrace-targets-e2e-'));
/** Docker pointed at a socket that does not exist: docker is installed but not answering. */
const NO_DOCKER = { ...process.env, DOCKER_HOST: `unix://${tmp}/no-docker.sock` };

let frontend: TestContainer;
let emoji: TestContainer[];
let stopped: TestContainer;
const timings: Record<string, number> = {};

async function timed(what: string, req: Partial<ResolveRequest>, env: NodeJS.ProcessEnv = NO_DOCKER): Promise<ResolveResult> {
  const t0 = performance.now();
  const r = await resolveTargets({ containers: [], labels: [], pids: [], ...req }, { env });
  timings[what] = Math.round(performance.now() - t0);
  return r;
}

function targets(r: ResolveResult): ResolvedTarget[] {
  if (!r.ok) throw new Error(r.message);
  return r.targets;
}

const nsOf = (pid: number | 'self', kind: string) => Number(/\[(\d+)\]/.exec(readlinkSync(`/proc/${pid}/ns/${kind}`))![1]);

beforeAll(async () => {
  await cleanupStale();
  const labels = { 'ctrace.targets.run': RUN };
  const [fe, em, vo] = await Promise.all([
    pool.start('frontend', 1, { labels }),
    pool.start('emoji', 2, { labels }),
    pool.start('voting', 1),
  ]);
  frontend = fe[0]!;
  emoji = em;
  stopped = vo[0]!;
  await execa('podman', ['stop', '--time', '1', stopped.name]);
});

afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
  // eslint-disable-next-line no-console
  console.log('resolution times (ms):', JSON.stringify(timings));
});

describe('podman containers', () => {
  it('resolves a container by name, with the right facts', async () => {
    const [t, ...rest] = targets(await timed('podman by name', { containers: [frontend.name] }));
    expect(rest).toEqual([]);
    expect(t).toMatchObject({
      runtime: 'podman',
      id: frontend.id,
      name: frontend.name,
      hostPid: frontend.hostPid,
      root: `/proc/${frontend.hostPid}/root`,
      exe: '/app/frontend',
      exeHost: `/proc/${frontend.hostPid}/root/app/frontend`,
      nspid: 1,
      pidnsLevel: 1,
    });
    expect(t!.id).toMatch(/^[0-9a-f]{64}$/);
    expect(t!.exeProblem).toBeUndefined();
    process.kill(t!.hostPid, 0); // alive
    expect(existsSync(t!.exeHost)).toBe(true);
    // The very file the process runs.
    expect(statSync(t!.exeHost).ino).toBe(statSync(`/proc/${t!.hostPid}/exe`).ino);
    expect(t!.mntns).toBe(nsOf(t!.hostPid, 'mnt'));
    expect(t!.mntns).not.toBe(nsOf('self', 'mnt'));
    expect(t!.pidns).not.toBe(nsOf('self', 'pid'));
    expect(t!.pids).toContain(t!.hostPid);
    expect(t!.cgroup).toContain(frontend.id);
    expect(t!.labels).toMatchObject({ 'ctrace.test': '1', 'ctrace.targets.run': RUN, 'ctrace.demo.service': 'frontend' });
    expect(moduleMap(t!.hostPid)).toEqual({ frontend: t!.exeHost });
  });

  it('two containers of one service: different mount namespaces, one shared binary', async () => {
    const ts = targets(await timed('podman two names', { containers: emoji.map((c) => c.name) }));
    expect(ts.map((t) => t.hostPid)).toEqual(emoji.map((c) => c.hostPid));
    expect(ts[0]!.mntns).not.toBe(ts[1]!.mntns);
    expect(ts[0]!.pidns).not.toBe(ts[1]!.pidns);
    expect(ts.every((t) => t.exe === '/app/emoji')).toBe(true);
    // Same inode: a uprobe on one fires in both, hence the mnt ns filter.
    expect(statSync(ts[0]!.exeHost).ino).toBe(statSync(ts[1]!.exeHost).ino);
  });

  it('resolves by id prefix', async () => {
    const [t] = targets(await timed('podman by id prefix', { containers: [frontend.id.slice(0, 12)] }));
    expect(t).toMatchObject({ id: frontend.id, name: frontend.name, hostPid: frontend.hostPid });
  });

  it('resolves every running container with a label', async () => {
    const ts = targets(await timed('podman by label', { labels: [LABEL] }));
    expect(ts.map((t) => t.name).sort()).toEqual([frontend.name, ...emoji.map((c) => c.name)].sort());
    const none = await resolveTargets({ containers: [], labels: [`ctrace.targets.run=none-${RUN}`], pids: [] }, { env: NO_DOCKER });
    expect(none).toEqual({ ok: false, message: `no running container has the label ctrace.targets.run=none-${RUN} (looked in podman; docker is not answering)` });
  });

  it('an unknown name', async () => {
    const name = `ctrace-test-nope-${RUN}`;
    const r = await timed('podman unknown name', { containers: [name] });
    expect(r).toEqual({ ok: false, message: `no container named '${name}' was found (looked in podman; docker is not answering)` });
  });

  it('a stopped container', async () => {
    const r = await timed('podman stopped', { containers: [stopped.name] });
    expect(r).toEqual({ ok: false, message: `container '${stopped.name}' is not running (state: exited)` });
  });

  it('an invalid name is refused without running anything', async () => {
    // podman behind a wrapper that logs every call.
    const log = join(tmp, 'podman-calls');
    const wrapper = join(tmp, 'podman-wrapper');
    const podman = (await execa('sh', ['-c', 'command -v podman'])).stdout.trim();
    writeFileSync(wrapper, `#!/bin/sh\necho "$@" >> '${log}'\nexec '${podman}' "$@"\n`);
    chmodSync(wrapper, 0o755);
    const env = { ...NO_DOCKER, CTRACE_PODMAN: wrapper };
    for (const bad of [';rm -rf /', `${frontend.name};rm -rf /`, `$(touch ${tmp}/pwned)`, '-rf']) {
      const r = await resolveTargets({ containers: [bad], labels: [], pids: [] }, { env });
      expect(r).toMatchObject({ ok: false, message: expect.stringContaining('is not a valid container name') });
    }
    expect(existsSync(log)).toBe(false);
    expect(existsSync(`${tmp}/pwned`)).toBe(false);
    // The wrapper itself works: a valid name goes through it.
    expect((await resolveTargets({ containers: [frontend.name], labels: [], pids: [] }, { env })).ok).toBe(true);
    expect(readFileSync(log, 'utf8')).toBe(`inspect --type container -- ${frontend.name}\n`);
  });
});

describe('-p PID', () => {
  it('a host process', async () => {
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      await new Promise((r) => child.once('spawn', r));
      const [t] = targets(await timed('pid', { pids: [child.pid!] }));
      expect(t).toMatchObject({ runtime: 'pid', id: String(child.pid), name: 'sleep', hostPid: child.pid, pids: [child.pid], pidnsLevel: 0, nspid: child.pid });
      expect(t!.mntns).toBe(nsOf('self', 'mnt'));
      expect(existsSync(t!.exeHost)).toBe(true);
      expect(t!.exeHost).toBe(`/proc/${child.pid}/root${t!.exe}`);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it("a container's main process by its host PID", async () => {
    const [t] = targets(await resolveTargets({ containers: [], labels: [], pids: [frontend.hostPid] }));
    expect(t).toMatchObject({ runtime: 'pid', name: 'frontend', exe: '/app/frontend', nspid: 1, pidnsLevel: 1 });
  });

  it('a PID that does not exist', async () => {
    expect(await resolveTargets({ containers: [], labels: [], pids: [4_100_000] })).toEqual({ ok: false, message: 'no process with PID 4100000' });
  });
});

describe('docker client through podman system service', () => {
  let service: ChildProcess | undefined;
  let dockerEnv: NodeJS.ProcessEnv;

  beforeAll(async () => {
    const sock = join(tmp, 'podman.sock');
    service = spawn('podman', ['system', 'service', '--time=0', `unix://${sock}`], { stdio: 'ignore' });
    dockerEnv = { ...process.env, DOCKER_HOST: `unix://${sock}` };
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (existsSync(sock)) {
        const r = await execa('docker', ['version', '--format', '{{.Server.Version}}'], { env: dockerEnv, reject: false, timeout: 5_000 });
        if (r.exitCode === 0) break;
      }
      if (Date.now() > deadline) throw new Error('podman system service did not come up');
      await new Promise((r) => setTimeout(r, 100));
    }
  });

  afterAll(async () => {
    if (service && service.exitCode === null) {
      const exited = new Promise((r) => service!.once('exit', r));
      service.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 3_000))]);
      if (service.exitCode === null) service.kill('SIGKILL');
    }
  });

  it('resolves the same container with --runtime docker', async () => {
    const [t] = targets(await timed('docker by name', { containers: [frontend.name], runtime: 'docker' }, dockerEnv));
    expect(t).toMatchObject({ runtime: 'docker', id: frontend.id, name: frontend.name, hostPid: frontend.hostPid, exe: '/app/frontend' });
    const [byId] = targets(await resolveTargets({ containers: [frontend.id.slice(0, 10)], labels: [], pids: [], runtime: 'docker' }, { env: dockerEnv }));
    expect(byId!.id).toBe(frontend.id);
    const byLabel = targets(await timed('docker by label', { labels: [LABEL], runtime: 'docker' }, dockerEnv));
    expect(byLabel.map((x) => x.name).sort()).toEqual([frontend.name, ...emoji.map((c) => c.name)].sort());
    expect(await resolveTargets({ containers: [stopped.name], labels: [], pids: [], runtime: 'docker' }, { env: dockerEnv })).toEqual({
      ok: false,
      message: `container '${stopped.name}' is not running (state: exited)`,
    });
  });

  it('the same id in podman and docker is one container, not an ambiguity', async () => {
    const ts = targets(await timed('auto, docker served by podman', { containers: [frontend.name] }, dockerEnv));
    expect(ts).toHaveLength(1);
    expect(ts[0]).toMatchObject({ runtime: 'podman', id: frontend.id });
    const labelled = targets(await resolveTargets({ containers: [], labels: [LABEL], pids: [] }, { env: dockerEnv }));
    expect(labelled).toHaveLength(3);
    const name = `ctrace-test-nope-${RUN}`;
    expect(await resolveTargets({ containers: [name], labels: [], pids: [] }, { env: dockerEnv })).toEqual({
      ok: false,
      message: `no container named '${name}' was found (looked in podman, docker)`,
    });
  });
});

describe('stopping and restarting', () => {
  it('watchTargets sees the container stop; waitForRestart finds it started again', async () => {
    const c = emoji[1]!;
    const [t] = targets(await resolveTargets({ containers: [c.name], labels: [], pids: [] }, { env: NO_DOCKER }));
    const gone: string[] = [];
    const stop = watchTargets([t!], (_t, why) => gone.push(why));
    try {
      await execa('podman', ['stop', '--time', '1', c.name]);
      const t0 = Date.now();
      while (gone.length === 0 && Date.now() - t0 < 3_000) await new Promise((r) => setTimeout(r, 50));
      expect(gone).toEqual([`container '${c.name}' exited`]);
    } finally {
      stop();
    }
    const restarted = waitForRestart(t!, 20_000, { env: NO_DOCKER, intervalMs: 200 });
    await execa('podman', ['start', c.name]);
    const n = await restarted;
    expect(n).not.toBeNull();
    expect(n).toMatchObject({ runtime: 'podman', id: c.id, name: c.name, exe: '/app/emoji' });
    expect(n!.hostPid).not.toBe(t!.hostPid);
    // Not `not.toBe(t.mntns)`: the kernel reuses a freed namespace's inode number, and a
    // restarted container often gets the very same one. Identity is PID + start time.
    expect(n!.mntns).toBe(nsOf(n!.hostPid, 'mnt'));
    // Nothing comes back within a short timeout for a container that stays stopped.
    expect(await waitForRestart({ ...t!, name: stopped.name }, 600, { env: NO_DOCKER, intervalMs: 200 })).toBeNull();
  });
});

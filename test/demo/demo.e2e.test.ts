// The demo stack end to end: real podman containers from our rootfs, real HTTP on
// loopback, the load generator's counts checked against what the services served.

import { existsSync } from 'node:fs';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildDemo, goCommand, goEnv } from '../../src/demo/build.js';
import { containerExists, containerPid } from '../../src/demo/podman.js';
import { runLoad, startDemo, type DemoHandle } from '../../src/demo/stack.js';
import { cleanupStale, OWNER_LABEL, TEST_LABEL, useTestContainers } from '../support/containers.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const sum = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);

// Its own instance name, so a developer's running `ctrace-demo-*` stack is left alone.
const INSTANCE = 'e2e';
const labels = { [TEST_LABEL]: '1' };

describe('demo stack', () => {
  beforeAll(async () => {
    await cleanupStale();
    // Build here, so the tests' own timings are of starts, not of a cold compile.
    await buildDemo();
  });

  it('keeps the probe targets as real symbols (not inlined, not stripped)', async () => {
    const bins = await buildDemo();
    const want: Record<string, string[]> = {
      frontend: ['main.handle'],
      voting: ['main.vote'],
      emoji: ['main.lookup', 'main.sleepFor', 'main.churn'],
    };
    for (const [prog, syms] of Object.entries(want)) {
      const path = bins.paths[prog as keyof typeof bins.paths];
      const { stdout } = await execa(goCommand(), ['tool', 'nm', path], { env: goEnv() });
      for (const s of syms) expect(stdout).toMatch(new RegExp(`\\sT ${s.replace('.', '\\.')}$`, 'm'));
    }
  });

  const runOnce = async (): Promise<void> => {
    const demo: DemoHandle = await startDemo({ instance: INSTANCE, labels });
    let stopped = false;
    try {
      expect(demo.timings.startMs).toBeLessThan(15_000);
      const fe = demo.containers.frontend;
      expect(fe.name).toBe('ctrace-demo-e2e-frontend');
      // podman's view agrees with ours, the process is alive, and its files are reachable.
      expect(await containerPid(fe.name)).toBe(fe.hostPid);
      for (const c of Object.values(demo.containers)) expect(alive(c.hostPid)).toBe(true);
      expect(existsSync(`/proc/${fe.hostPid}/root/app/frontend`)).toBe(true);

      const s = await runLoad(demo, { requests: 200, concurrency: 8, ns: [1, 2, 3] });
      expect(s.sent).toBe(200);
      expect(s.ok + s.failed).toBe(200);
      expect(s.errors).toBe(0);
      // voting fails exactly every 10th request at -fail-rate 0.1.
      expect(s.failed).toBe(20);
      expect(s.status).toEqual({ '200': 180, '500': 20 });
      expect(s.byN).toEqual({ '1': 67, '2': 67, '3': 66 });
      expect(sum(s.okByN) + sum(s.failedByN)).toBe(200);
      expect(s.latencyMs.p50).toBeGreaterThan(0);

      const pids = Object.values(demo.containers).map((c) => c.hostPid);
      const exits = await demo.stop();
      stopped = true;
      // Each service logged its served count on SIGTERM.
      expect(exits.frontend).toEqual({ served: 200, failed: 20 });
      expect(exits.voting).toEqual({ served: 200, failed: 20 });
      expect(exits.emoji).toEqual({ served: 200, failed: 0 });
      for (const c of Object.values(demo.containers)) expect(await containerExists(c.name)).toBe(false);
      for (const pid of pids) expect(alive(pid)).toBe(false);
    } finally {
      if (!stopped) await demo.stop();
    }
  };

  it('serves 200 requests with exactly the deterministic failures, then stops cleanly', runOnce, 60_000);

  it('is idempotent: a second run, and a start over stale containers, work the same', async () => {
    await runOnce();
    // Leave a stack behind as a crashed run would, then start over it.
    const stale = await startDemo({ instance: INSTANCE, labels });
    const stalePid = stale.containers.voting.hostPid;
    const fresh = await startDemo({ instance: INSTANCE, labels });
    try {
      expect(alive(stalePid)).toBe(false);
      expect(fresh.containers.voting.hostPid).not.toBe(stalePid);
      const s = await runLoad(fresh, { requests: 100, concurrency: 4, ns: [7] });
      expect(s).toMatchObject({ sent: 100, ok: 90, failed: 10, byN: { '7': 100 } });
      // The stale handle's containers are gone; stopping it must neither throw nor touch
      // the fresh stack, which shares the names.
      expect(await stale.stop()).toMatchObject({ voting: { served: null } });
      expect(await containerPid(fresh.containers.voting.name)).toBe(fresh.containers.voting.hostPid);
    } finally {
      await fresh.stop();
      await stale.stop();
    }
  }, 60_000);
});

describe('test container support', () => {
  const pool = useTestContainers();

  it('starts N uniquely named, labelled containers and removes them', async () => {
    const cs = await pool.start('emoji', 2, { args: ['-latency-ms', '3'] });
    expect(cs).toHaveLength(2);
    const [a, b] = cs as [(typeof cs)[0], (typeof cs)[0]];
    expect(a.name).not.toBe(b.name);
    expect(a.hostPid).not.toBe(b.hostPid);
    expect(a.port).not.toBe(b.port);

    const s = await pool.load(a, '/emoji?n={n}&ms={ms}', { requests: 30, concurrency: 3, ns: [1, 2, 3], ms: [2, 8] });
    expect(s).toMatchObject({ sent: 30, ok: 30, failed: 0, byN: { '1': 10, '2': 10, '3': 10 }, byMs: { '2': 15, '8': 15 } });
    // 3 ms fixed latency plus at least 2 ms of sleep on every request.
    expect(s.latencyMs.min).toBeGreaterThanOrEqual(5);

    expect(await pool.stop(a)).toEqual({ served: 30, failed: 0 });
    expect(await containerExists(a.name)).toBe(false);

    // A container left by a dead test process is stale; ours (alive) is not.
    const [orphan] = await pool.start('voting', 1, { labels: { [OWNER_LABEL]: '999999999-1' } });
    const removed = await cleanupStale();
    expect(removed).toContain(orphan?.name);
    expect(removed).not.toContain(b.name);
    expect(await containerExists(b.name)).toBe(true);
    await pool.cleanup();
    expect(await containerExists(b.name)).toBe(false);
  }, 60_000);
});

// End to end: `trace --follow` (issue 15, item 3) against real podman containers of the demo's
// voting service, restarted under the trace both ways a container comes back: `podman
// restart` (same id, new PID) and rm + run under the same name (new id, new PID).
//
// Exact counts: load is sent only while the trace is attached (after its reattach line,
// which it prints once the new bpftrace has every probe attached) and ends before the next
// restart, so the final count must equal the requests answered in those phases. Requests
// sent while the container is down are refused (asserted: none answered), so nothing that
// was served goes unseen except by design.

import { createServer } from 'node:net';
import { randomBytes } from 'node:crypto';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { PODMAN_GLOBAL } from '../../src/demo/podman.js';
import { waitForHttp } from '../../src/demo/stack.js';
import { cleanupStale, useTestContainers, type TestContainer } from '../support/containers.js';
import { bpftraceProcesses, parseTables, startTrace, waitForAttach, type Started } from '../support/trace.js';

const pool = useTestContainers();
const RUN = randomBytes(4).toString('hex');
const ARGS = ['-fail-rate', '0'];
/** docker is installed but no engine answers here: only podman is asked. */
const RUNTIME = ['--runtime', 'podman'];

/** A TCP port free right now, so that a restarted container listens where the load goes. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const a = srv.address();
      srv.close(() => (a && typeof a === 'object' ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

/** Resolves (with the time) once `re` has matched `n` times in the trace's stderr. */
async function nthLine(t: Started, re: RegExp, n: number, timeoutMs = 15_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const seen = t.output().stderr.split('\n').filter((l) => re.test(l)).length;
    if (seen >= n) return Date.now();
    if (Date.now() > deadline || t.child.exitCode !== null) throw new Error(`expected ${n} lines matching ${re}; stderr:\n${t.output().stderr}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function until(ok: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`not so within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

type Json = { type: string; phase?: string; rows?: { keys: unknown[]; value: number }[]; [k: string]: unknown };
const events = (stdout: string): Json[] => stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Json);
const total = (e: Json) => (e.rows ?? []).reduce((n, r) => n + r.value, 0);

/** Resolves once an interval snapshot shows `want` (the count so far), at most a few seconds later. */
async function snapshotShows(t: Started, want: number, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const snaps = events(t.output().stdout.replace(/[^\n]*$/, '')).filter((e) => e.type === 'aggregation' && e.phase === 'snapshot');
    if (snaps.length && total(snaps[snaps.length - 1]!) === want) return;
    if (Date.now() > deadline) throw new Error(`no snapshot showed ${want}; last: ${JSON.stringify(snaps.at(-1))}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

let web: TestContainer;
let a: TestContainer;
let b: TestContainer;

beforeAll(async () => {
  await cleanupStale();
  const [p1, p2, p3] = await Promise.all([freePort(), freePort(), freePort()]);
  const [[w], [x], [y]] = await Promise.all([
    pool.start('voting', 1, { args: ARGS, port: p1 }),
    pool.start('voting', 1, { args: ARGS, port: p2 }),
    pool.start('voting', 1, { args: ARGS, port: p3 }),
  ]);
  [web, a, b] = [w!, x!, y!];
});

describe('trace --follow', () => {
  it('restarted 5 times in a 30 s run: reattached within 2 s each time, counts accumulate, exact at the end, no bpftrace left', async () => {
    const marker = `ctrace_follow_marker_${RUN}`;
    const t = startTrace(['--follow', ...RUNTIME, '-c', web.name, '-d', '30s', '-i', '1s', '-o', 'json', `uprobe:main.vote /execname != "${marker}"/ { @ = count(); }`], { timeoutMs: 90_000 });
    await waitForAttach(t);
    let answered = 0;
    const phase = async (requests: number) => {
      const s = await pool.load(web, '/vote?n={n}', { requests, ns: [1, 2], concurrency: 2, keysFirst: true });
      expect(s.ok).toBe(requests);
      answered += s.ok;
      // The count so far, carried across every earlier restart, is what the table shows.
      await snapshotShows(t, answered);
    };
    const lateness: number[] = [];
    for (let i = 1; i <= 5; i++) {
      await phase(30 + i);
      expect(bpftraceProcesses(marker)).toHaveLength(1);
      let ready: number;
      if (i % 2 === 1) {
        await execa('podman', [...PODMAN_GLOBAL, 'restart', '--time', '1', web.name]);
        await waitForHttp(`${web.url}/healthz`);
        ready = Date.now();
      } else {
        const before = web.id;
        web = await pool.recreate(web, {
          args: ARGS,
          // Down: nothing listens on its port, so these are refused, not served unseen.
          whileDown: async () => {
            const s = await pool.load(web, '/vote?n={n}', { requests: 5, concurrency: 1 });
            expect(s.ok).toBe(0);
            expect(s.errors).toBe(5);
          },
        });
        ready = Date.now();
        expect(web.id).not.toBe(before);
      }
      const seen = await nthLine(t, /is back \(PID \d+\); reattached after/, i);
      lateness.push(seen - ready);
      // The bpftrace traced the old container is gone; one traces the new one.
      expect(bpftraceProcesses(marker)).toHaveLength(1);
    }
    await phase(40);
    const r = await t.done;
    expect(r.code).toBe(0);
    // Each reattach came at most 2 s after the container answered (or before it did).
    for (const ms of lateness) expect(ms).toBeLessThan(2000);
    expect(r.stderr.match(/waiting for it to come back \(--follow\)/g)).toHaveLength(5);
    expect(r.stderr.match(/; events in the gap were not seen/g)).toHaveLength(5);
    const ev = events(r.stdout);
    expect(ev.filter((e) => e.type === 'detach')).toHaveLength(5);
    const reattach = ev.filter((e) => e.type === 'reattach');
    expect(reattach).toHaveLength(5);
    expect(reattach.every((e) => e.target === web.name && typeof e.pid === 'number' && typeof e.gapMs === 'number')).toBe(true);
    // Snapshots never go down across the gaps, and the final count is every answered request.
    const snaps = ev.filter((e) => e.type === 'aggregation' && e.phase === 'snapshot').map(total);
    expect(snaps).toEqual([...snaps].sort((x, y) => x - y));
    const final = ev.filter((e) => e.type === 'aggregation' && e.phase === 'final');
    expect(final).toHaveLength(1);
    expect(total(final[0]!)).toBe(answered);
    expect(bpftraceProcesses(marker)).toEqual([]);
  });

  it('two containers, one restarts: one bpftrace restarted, both counted exactly, the other\'s short gap reported', async () => {
    const marker = `ctrace_follow_two_${RUN}`;
    const t = startTrace(['--follow', ...RUNTIME, '-c', a.name, '-c', b.name, `uprobe:main.vote /execname != "${marker}"/ { @[container] = count(); }`], { timeoutMs: 60_000 });
    await waitForAttach(t);
    // Each bpftrace starts with no keys: each is made alone before the concurrent load.
    const load = (c: TestContainer, requests: number) => pool.load(c, '/vote?n={n}', { requests, concurrency: 2, keysFirst: true });
    const [a1, b1] = await Promise.all([load(a, 21), load(b, 13)]);
    await execa('podman', [...PODMAN_GLOBAL, 'restart', '--time', '1', a.name]);
    await nthLine(t, /is back \(PID \d+\); reattached after/, 1);
    expect(bpftraceProcesses(marker)).toHaveLength(1);
    const [a2, b2] = await Promise.all([load(a, 8), load(b, 9)]);
    t.child.kill('SIGINT');
    const r = await t.done;
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(new RegExp(`'${b.name}' was not traced for the \\d+\\.\\d s bpftrace took to restart`));
    const rows = Object.fromEntries(parseTables(r.stdout).at(-1)!.rows.map(([k, v]) => [k, Number(v)]));
    expect(rows).toEqual({ [a.name]: a1.ok + a2.ok, [b.name]: b1.ok + b2.ok });
    expect(bpftraceProcesses(marker)).toEqual([]);
  });

  it('Ctrl-C while waiting for the container prints the merged table and exits 0', async () => {
    const marker = `ctrace_follow_gap_${RUN}`;
    const t = startTrace(['--follow', ...RUNTIME, '-c', b.name, `uprobe:main.vote /execname != "${marker}"/ { @ = count(); }`], { timeoutMs: 60_000 });
    await waitForAttach(t);
    const s = await pool.load(b, '/vote?n={n}', { requests: 17, concurrency: 2, keysFirst: true });
    await execa('podman', [...PODMAN_GLOBAL, 'stop', '--time', '1', b.name]);
    await nthLine(t, /waiting for it to come back/, 1);
    // Nothing left to trace: the bpftrace stops (it runs END first) and none runs while waiting.
    await until(() => bpftraceProcesses(marker).length === 0, 3_000);
    t.child.kill('SIGINT');
    const r = await t.done;
    expect(r.code).toBe(0);
    expect(parseTables(r.stdout).at(-1)!.rows).toEqual([[String(s.ok)]]);
    expect(bpftraceProcesses(marker)).toEqual([]);
  });

  it('refuses --follow without a container', async () => {
    const r = await startTrace(['--follow', 'BEGIN { exit(); }']).done;
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('trace: --follow needs a container to follow: name it with -c or --label\n');
  });
});

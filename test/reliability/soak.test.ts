// Soak: a Go service traced under load for CTRACE_SOAK_MS (default 60 s) with entry, return
// and latency probes, while other requests make the runtime grow, copy and scan goroutine
// stacks (the demo's /churn: what crashes Go under a plain uretprobe). Zero HTTP errors, zero
// crashes (the container still runs, its log has no Go fatal error), and every call counted
// exactly once at entry and once at return.

import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { containerLogs } from '../../src/demo/podman.js';
import { cleanupStale, useTestContainers, type TestContainer } from '../support/containers.js';
import { startTrace, waitForAttach } from '../support/trace.js';

const SOAK_MS = Number(process.env['CTRACE_SOAK_MS'] ?? 60_000);
const run = promisify(execFile);
const pool = useTestContainers();
let emoji: TestContainer;

const PROGRAM = `
pid$target::main.lookup:entry { self->ts = timestamp; @calls = count(); @byn[arg0] = count(); }
pid$target::main.lookup:return /self->ts/ { @lat = latency(timestamp - self->ts); self->ts = 0; }
pid$target::main.lookup:return { @rets = count(); }
pid$target::main.churn:entry { @churn_in = count(); }
pid$target::main.churn:return { @churn_out = count(); }
`;

beforeAll(async () => {
  await cleanupStale();
  // Every lookup sleeps 1 ms: the goroutine parks and may resume on another thread.
  [emoji] = (await pool.start('emoji', 1, { args: ['-latency-ms', '1'] })) as [TestContainer];
});
afterAll(() => pool.cleanup());

function rssMiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

interface Agg {
  type: string;
  phase: string;
  name: string;
  rows: { keys: (string | number)[]; value?: number; buckets?: { count: number }[]; percentiles?: Record<string, number> }[];
}

describe(`soak: a traced Go service under wrk for ${SOAK_MS / 1000} s`, () => {
  it('no HTTP errors, no crash, exact entry/return counts', { timeout: SOAK_MS + 120_000 }, async () => {
    const seconds = Math.max(1, Math.ceil(SOAK_MS / 1000));
    const t = startTrace(['-o', 'json', '-c', emoji.name, PROGRAM], { timeoutMs: SOAK_MS + 100_000 });
    await waitForAttach(t, 4);
    const rss0 = rssMiB(t.child.pid!);

    const url = `${emoji.url}/emoji?n=1`;
    const [wrk, churn] = await Promise.all([
      run('wrk', ['-t2', '-c16', `-d${seconds}s`, url], { timeout: SOAK_MS + 60_000 }),
      pool.load(emoji, '/churn?depth={n}', { durationMs: SOAK_MS, rate: 20, concurrency: 2, ns: [20, 50, 100] }),
    ]);
    const rss1 = rssMiB(t.child.pid!);

    // The service is alive and well before the trace ends.
    const { stdout: state } = await run('podman', ['--runtime', 'runc', 'inspect', '-f', '{{.State.Status}} {{.State.Pid}}', emoji.name]);
    expect(state.trim()).toBe(`running ${emoji.hostPid}`);
    const logs = await containerLogs(emoji.name);
    expect(logs).not.toMatch(/fatal error|unexpected return pc|unknown caller pc|panic:|SIGSEGV|SIGILL|SIGTRAP/);

    t.child.kill('SIGINT');
    const r = await t.done;
    const exit = await pool.stop(emoji);

    // wrk: every request answered 200.
    const out = wrk.stdout;
    const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? 0);
    console.info(`soak: wrk ${requests} requests (${/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]}/s), churn ${churn.sent}; trace RSS ${rss0.toFixed(0)} -> ${rss1.toFixed(0)} MiB`);
    expect(requests).toBeGreaterThan(0);
    expect(out).not.toMatch(/Non-2xx or 3xx responses/);
    expect(out).not.toMatch(/Socket errors/);
    expect(churn.failed).toBe(0);

    // trace: a normal end, nothing on stderr, whole JSON lines.
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    const objs = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Agg);
    const final = (name: string) => objs.find((o) => o.type === 'aggregation' && o.phase === 'final' && o.name === name);
    const scalar = (name: string) => final(name)?.rows[0]?.value ?? NaN;

    // Exact counts: every request the service served was seen once at entry and once at return.
    expect(exit.served).not.toBeNull();
    const churnDepthCalls = Object.entries(churn.byN).reduce((s, [d, k]) => s + (Number(d) + 1) * k, 0);
    const lookups = exit.served! - churn.sent;
    expect(lookups).toBeGreaterThanOrEqual(requests);
    expect(scalar('@calls')).toBe(lookups);
    expect(final('@byn')?.rows.map((row) => [row.keys[0], row.value])).toEqual([[1, lookups]]);
    expect(scalar('@rets')).toBe(lookups);
    expect(scalar('@churn_in')).toBe(churnDepthCalls);
    expect(scalar('@churn_out')).toBe(churnDepthCalls);
    // Latency: one sample per call, p50 at least the 1 ms sleep, and sane.
    const lat = final('@lat')!.rows[0]!;
    expect(lat.buckets!.reduce((s, b) => s + b.count, 0)).toBe(lookups);
    expect(lat.percentiles!['p50']).toBeGreaterThanOrEqual(1_000_000);
    expect(lat.percentiles!['p50']).toBeLessThan(1_000_000_000);
  });
});

// trace stat, top and tap against the demo's three services in real containers, under the
// demo's load generator: per-service counts equal the load's, success rates match the
// injected 10% failures, two frontend replicas are one service, and tap with a filter shows
// exactly the matching requests.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupStale, useTestContainers, type TestContainer } from '../support/containers.js';
import { parseTables, runTrace, startTrace, type Started, type TraceRun } from '../support/trace.js';

const pool = useTestContainers();
let voting: TestContainer;
let emoji: TestContainer;
let feA: TestContainer;
let feB: TestContainer;

beforeAll(async () => {
  await cleanupStale();
  const [[vo], [em]] = await Promise.all([pool.start('voting', 1, { args: ['-fail-rate', '0.1'] }), pool.start('emoji', 1)]);
  voting = vo!;
  emoji = em!;
  [feA, feB] = (await pool.start('frontend', 2, { args: ['-voting', voting.url, '-emoji', emoji.url] })) as [TestContainer, TestContainer];
}, 120_000);

const started: Started[] = [];
afterAll(() => {
  for (const t of started) t.child.kill('SIGKILL');
});

function start(args: string[]): Started {
  const t = startTrace(args, { timeoutMs: 90_000 });
  started.push(t);
  return t;
}

async function interrupt(t: Started): Promise<TraceRun> {
  t.child.kill('SIGINT');
  const r = await t.done;
  expect(r.code, `stderr:\n${r.stderr}`).toBe(0);
  return r;
}

interface JsonRow {
  type: 'interval' | 'total';
  service: string;
  replicas: number;
  requests: number;
  rps: number;
  new_connections?: number;
  success: number | null;
  p50_ns: number | null;
  p95_ns: number | null;
  p99_ns: number | null;
}

const jsonLines = <T>(text: string): T[] =>
  text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as T);

describe('trace stat', () => {
  it('the 3 services under load: exact counts, the injected failure rate, replicas grouped, latency within the client\'s', async () => {
    const t = start(['stat', '-c', feA.name, '-c', feB.name, '-c', voting.name, '-c', emoji.name, '-o', 'json', '-i', '1s']);
    // The first interval's rows come once every service's probes are attached.
    await t.waitFor(/"type":"interval"/, 30_000);
    // One replica after the other; voting fails every 10th request it serves.
    const a = await pool.load(feA, '/vote?n={n}', { durationMs: 2500, rate: 200, concurrency: 4, ns: [1, 2] });
    const b = await pool.load(feB, '/vote?n={n}', { durationMs: 1500, rate: 200, concurrency: 4, ns: [3] });
    await new Promise((r) => setTimeout(r, 1500));
    const r = await interrupt(t);
    const rows = jsonLines<JsonRow>(r.stdout);
    const total = Object.fromEntries(rows.filter((x) => x.type === 'total').map((x) => [x.service, x]));
    expect(Object.keys(total).sort()).toEqual(['emoji', 'frontend', 'voting']);

    const sent = a.sent + b.sent;
    const failed = a.failed + b.failed;
    for (const s of [a, b]) expect(s.errors).toBe(0);
    expect(total.frontend).toMatchObject({ replicas: 2, requests: sent });
    expect(total.voting).toMatchObject({ replicas: 1, requests: sent });
    expect(total.emoji).toMatchObject({ replicas: 1, requests: sent, success: 1 });
    // Keep-alive: the load generator opens at most a connection per worker (4) per run,
    // the frontends a few to each downstream; not one per request.
    expect(total.frontend!.new_connections).toBeGreaterThanOrEqual(2);
    expect(total.frontend!.new_connections).toBeLessThanOrEqual(16);
    for (const s of ['voting', 'emoji']) expect(total[s]!.new_connections).toBeGreaterThanOrEqual(1);
    for (const s of ['voting', 'emoji']) expect(total[s]!.new_connections).toBeLessThanOrEqual(16);
    // The frontend answers voting's status: its success is the load's, and voting's is
    // within 0.5 points of the injected 90%.
    expect(total.frontend!.success).toBeCloseTo((sent - failed) / sent, 5);
    expect(Math.abs(total.voting!.success! - 0.9)).toBeLessThanOrEqual(0.005);
    expect(Math.abs(total.frontend!.success! - 0.9)).toBeLessThanOrEqual(0.005);

    // The server's latency is within the client's round trip (percentiles are bucket upper
    // edges, at most 1/32 high), and not absurdly below it.
    const clientP99 = Math.max(a.latencyMs.p99!, b.latencyMs.p99!) * 1e6;
    const fe = total.frontend!;
    expect(fe.p50_ns! <= fe.p95_ns! && fe.p95_ns! <= fe.p99_ns!).toBe(true);
    expect(fe.p99_ns!).toBeLessThanOrEqual(clientP99 * 1.05);
    expect(fe.p50_ns!).toBeGreaterThan(Math.min(a.latencyMs.p50!, b.latencyMs.p50!) * 1e6 * 0.1);
    console.log(`stat p99 frontend ${(fe.p99_ns! / 1e6).toFixed(2)} ms, loadgen ${a.latencyMs.p99} / ${b.latencyMs.p99} ms`);

    // Intervals: every service in each, their requests add up to the whole run's.
    const intervals = rows.filter((x) => x.type === 'interval');
    for (const name of ['frontend', 'voting', 'emoji']) {
      const mine = intervals.filter((x) => x.service === name);
      expect(mine.length).toBeGreaterThanOrEqual(4);
      expect(mine.some((x) => x.rps >= 100)).toBe(true);
      expect(mine.reduce((s, x) => s + x.requests, 0)).toBeLessThanOrEqual(sent);
    }
  }, 90_000);

  it('a table per interval when stdout is not a terminal, and the whole run at -d', async () => {
    const r = await runTrace(['stat', '-c', voting.name, '-c', emoji.name, '-d', '2.5s', '-i', '1s']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^\d\d:\d\d:\d\d {2}every 1s$/m);
    const tables = parseTables(r.stdout);
    expect(tables.length).toBeGreaterThanOrEqual(2);
    expect(tables[0]!.header).toEqual(['SERVICE', 'REPLICAS', 'RPS', 'SUCCESS', 'P50', 'P95', 'P99', 'NEW TCP']);
    const whole = r.stdout.split(/^whole run \([\d.]+s\):$/m)[1]!;
    const [last] = parseTables(whole);
    expect(last!.header).toEqual(['SERVICE', 'REPLICAS', 'REQUESTS', 'RPS', 'SUCCESS', 'P50', 'P95', 'P99', 'NEW TCP']);
    expect(last!.rows.map((row) => row.slice(0, 3))).toEqual([
      ['voting', '1', '0'],
      ['emoji', '1', '0'],
    ]);
  }, 60_000);

  it('bad command lines and targets: one sentence, exit 2 or 1', async () => {
    const none = await runTrace(['stat']);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/^trace: trace stat needs the services to watch: -c NAME/);
    const badI = await runTrace(['stat', '-c', voting.name, '-i', 'often']);
    expect(badI.code).toBe(2);
    expect(badI.stderr).toMatch(/bad --interval 'often'/);
    const missing = await runTrace(['stat', '-c', 'ctrace-test-no-such-container']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/no container named 'ctrace-test-no-such-container'/);
    // bpftrace 0.17 cannot place Go's return probes: refused before anything attaches.
    const old = await runTrace(['stat', '-c', voting.name, '--bpftrace', '/usr/bin/bpftrace']);
    expect(old.code).toBe(1);
    expect(old.stderr).toMatch(/^trace: cannot watch voting \(.*\) as a Go net\/http server: .*needs a bpftrace that can attach at its return instructions/);
    const badStatus = await runTrace(['tap', '-c', voting.name, '--status', '600']);
    expect(badStatus.code).toBe(2);
    expect(badStatus.stderr).toMatch(/bad --status '600'/);
  }, 60_000);
});

describe('trace tap', () => {
  it('a path filter shows only those requests and misses none of 1,000; --status 5xx shows exactly the failures', async () => {
    const vote = start(['tap', '-c', feA.name, '--path', '/vote']);
    const fails = start(['tap', '-c', voting.name, '--status', '5xx']);
    // The header is printed once the probes are attached.
    await Promise.all([vote.waitFor(/^TIME +CONTAINER/m), fails.waitFor(/^TIME +CONTAINER/m)]);
    const [load, other] = await Promise.all([
      pool.load(feA, '/vote?n={n}', { requests: 1000, concurrency: 4, ns: [7] }),
      // Requests the path filter must leave out.
      pool.load(feA, '/healthz', { requests: 200, concurrency: 1 }),
    ]);
    await new Promise((r) => setTimeout(r, 500));
    const [rv, rf] = await Promise.all([interrupt(vote), interrupt(fails)]);
    expect(other.sent).toBe(200);
    expect(load.failed).toBe(100);

    const line = (name: string) => new RegExp(`^\\d\\d:\\d\\d:\\d\\d\\.\\d{3} ${name} +127\\.0\\.0\\.1:\\d+ +GET +(\\d{3}) +[\\d.]+[num]?s {2}(\\S+)$`);
    const requests = rv.stdout.split('\n').slice(1).filter((l) => l !== '');
    expect(requests.length, rv.stderr).toBe(1000);
    const parsed = requests.map((l) => line(feA.name).exec(l));
    expect(parsed.every((m) => m !== null && m[2] === '/vote')).toBe(true);
    expect(parsed.filter((m) => m![1] === '500').length).toBe(load.failed);

    const failures = rf.stdout.split('\n').slice(1).filter((l) => l !== '');
    expect(failures.length, rf.stderr).toBe(load.failed);
    for (const l of failures) expect(line(voting.name).exec(l)?.slice(1)).toEqual(['500', '/vote']);
  }, 90_000);
});

describe('trace top', () => {
  it('the busiest paths, per service, with their counts', async () => {
    const t = start(['top', '-c', feA.name, '-c', voting.name]);
    await t.waitFor(/every 1s/, 30_000);
    const s = await pool.load(feA, '/vote?n={n}', { requests: 300, concurrency: 4, ns: [1], keysFirst: true });
    const h = await pool.load(voting, '/healthz', { requests: 40, concurrency: 1, keysFirst: true });
    await new Promise((r) => setTimeout(r, 1200));
    const r = await interrupt(t);
    const [whole] = parseTables(r.stdout.split(/^whole run \([\d.]+s\):$/m)[1]!);
    expect(whole!.header).toEqual(['SERVICE', 'METHOD', 'PATH', 'REQUESTS', 'RPS', 'SUCCESS', 'P50', 'P95', 'P99']);
    // Busiest first (the two /vote rows tie on requests: their order is by p99).
    expect(whole!.rows.map((x) => Number(x[3]))).toEqual([s.sent, s.sent, h.sent]);
    expect(whole!.rows.map((x) => x.slice(0, 4)).sort()).toEqual([
      ['frontend', 'GET', '/vote', String(s.sent)],
      ['voting', 'GET', '/healthz', String(h.sent)],
      ['voting', 'GET', '/vote', String(s.sent)],
    ]);
    expect(whole!.rows.find((x) => x[0] === 'frontend')![5]).toBe(`${((100 * (s.sent - s.failed)) / s.sent).toFixed(2)}%`);
  }, 60_000);
});

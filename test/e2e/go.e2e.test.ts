// End to end: Go-aware tracing (issue 4's acceptance) against the demo's Go services in
// real podman containers. Return probes on Go functions are uprobes on each RET
// instruction (never a uretprobe, which crashes Go), self-> is goroutine-local, arguments
// come from Go's register ABI and DWARF. Every count is compared exactly with what the
// load generator sent; every run is the built CLI, real bpftrace, real containers.
//
// CTRACE_GO_SOAK_MS sets the crash-safety soak (default 60000, the acceptance's 60 s).

import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { containerLogs, PODMAN_GLOBAL } from '../../src/demo/podman.js';
import { ElfFile } from '../../src/runner/elf.js';
import { cleanupStale, useTestContainers, type TestContainer } from '../support/containers.js';
import { attachedProbes, runTrace, traceWhile as traceWhileIn, type TraceRun } from '../support/trace.js';

const pool = useTestContainers();
const tmp = mkdtempSync(join(tmpdir(), 'ctrace-go-e2e-'));
/** docker installed but not answering (no engine here): only podman is asked. */
const NO_DOCKER = { DOCKER_HOST: `unix://${tmp}/no-docker.sock` };
const SOAK_MS = Number(process.env.CTRACE_GO_SOAK_MS ?? 60_000);
const BPFTRACE_017 = '/usr/bin/bpftrace';
/** The default bpftrace (0.23), for the control run outside trace. */
const BPFTRACE = process.env.TRACE_BPFTRACE ?? '/opt/ctrace/bin/bpftrace';
/** What a Go runtime prints when a uretprobe's trampoline address is found on a stack. */
const GO_CRASH = /unexpected return pc|fatal error|unknown caller pc|runtime: g\d+|goroutine \d+ \[/;

/** voting (1 request in 5 answered 500, by sequence number), emoji, frontend wired to both. */
let voting: TestContainer;
let emoji: TestContainer;
let frontend: TestContainer;
/** An emoji container of its own for the soak: nothing else is sent to it. */
let churner: TestContainer;

const stoppers: (() => void)[] = [];
afterEach(() => {
  while (stoppers.length) stoppers.pop()!();
});

beforeAll(async () => {
  await cleanupStale();
  const [[vo], [em], [ch]] = await Promise.all([
    pool.start('voting', 1, { args: ['-fail-rate', '0.2'] }),
    pool.start('emoji', 1),
    pool.start('emoji', 1),
  ]);
  voting = vo!;
  emoji = em!;
  churner = ch!;
  [frontend] = (await pool.start('frontend', 1, { args: ['-voting', voting.url, '-emoji', emoji.url] })) as [TestContainer];
});

afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

// --- helpers ------------------------------------------------------------------------------

/** One aggregation of `trace -o json`'s final output. */
interface Agg {
  readonly name: string;
  readonly func: string;
  readonly keys: string[];
  readonly rows: { keys: (number | string)[]; value?: number; buckets?: { lo: number; hi: number; count: number }[] }[];
}

/** The final aggregations of a `-o json` run, by name (`@calls`). */
function finalAggs(r: TraceRun): Record<string, Agg> {
  const out: Record<string, Agg> = {};
  for (const line of r.stdout.split('\n')) {
    if (!line.trim()) continue;
    const ev = JSON.parse(line) as Agg & { type: string; phase: string };
    if (ev.type === 'aggregation' && ev.phase === 'final') out[ev.name] = ev;
  }
  return out;
}

/** { 'k1,k2': value } of a keyed aggregation (count, sum, min, ...). */
function values(a: Agg | undefined): Record<string, number> {
  expect(a, 'aggregation missing from the output').toBeDefined();
  return Object.fromEntries(a!.rows.map((r) => [r.keys.join(','), r.value!]));
}

/** The value of an aggregation without keys. */
function scalar(a: Agg | undefined): number {
  const v = values(a);
  expect(Object.keys(v)).toEqual(['']);
  return v['']!;
}

/** Buckets of one key of a quantize, as { lo: count }, and their total. */
function dist(a: Agg | undefined, key: number | string): { buckets: { lo: number; hi: number; count: number }[]; total: number } {
  expect(a?.func).toBe('quantize');
  const row = a!.rows.find((r) => String(r.keys.join(',')) === String(key));
  expect(row, `no row ${key} in ${a!.name}`).toBeDefined();
  const buckets = row!.buckets!;
  return { buckets, total: buckets.reduce((s, b) => s + b.count, 0) };
}

/** How many attach points (perf events) the compiled program has: one per `uprobe:` line. */
async function attachPoints(args: string[]): Promise<number> {
  const e = await runTrace([...args.slice(0, -1), '--emit', 'bpftrace', args[args.length - 1]!], { env: NO_DOCKER });
  expect(e.stderr).toBe('');
  expect(e.code).toBe(0);
  return e.stdout.split('\n').filter((l) => /^u(ret)?probe:/.test(l)).length;
}

/**
 * Starts `trace args`, waits until every probe of the program is attached, runs `during`,
 * then Ctrl-C, so everything `during` sent is counted.
 */
async function traceWhile(args: string[], during: () => Promise<unknown>, o: { timeoutMs?: number } = {}): Promise<TraceRun> {
  const probes = await attachPoints(args);
  expect(probes).toBeGreaterThan(0);
  return traceWhileIn(args, during, { env: NO_DOCKER, probes, timeoutMs: o.timeoutMs ?? 60_000 });
}

async function state(c: TestContainer): Promise<{ running: boolean; pid: number }> {
  const r = await execa('podman', [...PODMAN_GLOBAL, 'inspect', '--type', 'container', '--format', '{{.State.Running}} {{.State.Pid}}', c.name]);
  const [running, pid] = r.stdout.trim().split(' ');
  return { running: running === 'true', pid: Number(pid) };
}

async function stats(c: TestContainer): Promise<{ served: number; failed: number }> {
  const res = await fetch(`${c.url}/stats`);
  return (await res.json()) as { served: number; failed: number };
}

/**
 * Offset, from a Go function's start, of the first instruction after its stack-bound check
 * (`CMP ..., 0x10(R14)` + `JBE morestack`), and whether that morestack path jumps back to
 * the function's first instruction (as Go's prologue does: the function restarts after its
 * stack has grown, or after a preemption request).
 */
function goPrologue(binary: string, fn: string): { body: number; restartsAtEntry: boolean } {
  const f = ElfFile.open(binary);
  if ('error' in f) throw new Error(f.error);
  const x = createRequire(import.meta.url)('iced-x86') as typeof import('iced-x86');
  try {
    const sym = f.functionNamed(fn);
    if (!sym) throw new Error(`no ${fn} in ${binary}`);
    const code = f.functionBytes(sym)!;
    const dec = new x.Decoder(64, code, x.DecoderOptions.None);
    dec.ip = sym.value;
    const ins: { ip: bigint; next: bigint; flow: number; target: bigint; cmpR14: boolean }[] = [];
    const i = new x.Instruction();
    try {
      while (dec.canDecode) {
        dec.decodeOut(i);
        const branch = i.flowControl === x.FlowControl.ConditionalBranch || i.flowControl === x.FlowControl.UnconditionalBranch;
        ins.push({
          ip: i.ip,
          next: i.nextIP,
          flow: i.flowControl,
          target: branch && i.op0Kind === x.OpKind.NearBranch64 ? i.nearBranchTarget : -1n,
          cmpR14: i.mnemonic === x.Mnemonic.Cmp && i.memoryBase === x.Register.R14,
        });
      }
    } finally {
      i.free();
      dec.free();
    }
    const j = ins.findIndex((e, k) => e.flow === x.FlowControl.ConditionalBranch && ins[k - 1]?.cmpR14);
    if (j < 0 || j > 4) throw new Error(`${fn} has no Go stack-check prologue`);
    const morestack = ins.findIndex((e) => e.ip === ins[j]!.target);
    const back = ins.slice(morestack).find((e) => e.flow === x.FlowControl.UnconditionalBranch);
    return { body: Number(ins[j]!.next - sym.value), restartsAtEntry: back?.target === sym.value };
  } finally {
    f.close();
  }
}

// --- 1. crash safety ----------------------------------------------------------------------

describe('return probes on Go functions are crash-safe', () => {
  it(
    `${SOAK_MS / 1000} s of deep recursion, stack growth and GC under entry and return probes: no crash, exact counts`,
    async () => {
      // churn(depth) recurses depth times (1 KiB frames) and calls runtime.GC() at the
      // bottom: every request runs depth+1 frames of main.churn, the stack is copied as it
      // grows and shrunk by the GC, and the GC scans it. A uretprobe would have replaced
      // return addresses there and crashed the service within seconds.
      const binary = `/proc/${churner.hostPid}/root/app/emoji`;
      const prologue = goPrologue(binary, 'main.churn');
      expect(prologue.restartsAtEntry).toBe(true);
      const program = [
        // The program of the acceptance: self->ts is per goroutine, so each request's
        // innermost frame (the first to return) finds it; the outer frames do not.
        'pid$target::main.churn:entry { self->ts = timestamp; @calls = count(); }',
        'pid$target::main.churn:return { @rets = count(); }',
        'pid$target::main.churn:return /self->ts/ { @lat = quantize(timestamp - self->ts); @innermost = count(); self->ts = 0; }',
        // The function's body, past the stack check: runs exactly once per call.
        `pid$target::main.churn:${prologue.body.toString(16)} { @bodies = count(); }`,
      ].join('\n');
      const depths = [100, 1000, 3000];
      let load: Awaited<ReturnType<typeof pool.load>> | undefined;
      const before = await state(churner);
      expect(before).toEqual({ running: true, pid: churner.hostPid });
      const r = await traceWhile(
        ['-o', 'json', '-c', churner.name, program],
        async () => {
          load = await pool.load(churner, '/churn?depth={n}', { durationMs: SOAK_MS, ns: depths, concurrency: 8 });
        },
        { timeoutMs: SOAK_MS + 90_000 },
      );
      const sent = load!;
      // The load ran the whole time, all of it answered.
      expect(sent.durationMs).toBeGreaterThanOrEqual(SOAK_MS);
      expect(sent.sent).toBeGreaterThan(0);
      expect.soft(sent.errors).toBe(0);
      expect.soft(sent.ok).toBe(sent.sent);
      // The service is alive, never restarted, served exactly that, and logged no Go crash.
      expect.soft(await state(churner)).toEqual(before);
      expect.soft(await stats(churner)).toMatchObject({ served: sent.sent, failed: 0 });
      const logs = await containerLogs(churner.name);
      expect.soft(logs).not.toMatch(GO_CRASH);
      // The trace ended cleanly.
      expect.soft(r.stderr).toBe('');
      expect.soft(r.code).toBe(0);
      // Exact counts: every request is depth+1 calls of main.churn.
      const frames = depths.reduce((s, d) => s + (sent.byN[String(d)] ?? 0) * (d + 1), 0);
      expect(depths.map((d) => sent.byN[String(d)] ?? 0).every((n) => n > 0)).toBe(true);
      const aggs = finalAggs(r);
      expect.soft(scalar(aggs['@rets']), 'returns = frames').toBe(frames);
      expect.soft(scalar(aggs['@bodies']), 'bodies = frames').toBe(frames);
      expect.soft(scalar(aggs['@innermost']), 'one innermost return per request').toBe(sent.sent);
      expect.soft(dist(aggs['@lat'], '').total).toBe(sent.sent);
      // Entries must equal returns. Go's prologue jumps back to the function's first
      // instruction after runtime.morestack (stack growth, preemption requests): an entry
      // probe at the symbol fires again for the same call there.
      expect.soft(scalar(aggs['@calls']), 'entries = frames (each call entered once)').toBe(frames);
    },
    SOAK_MS + 120_000,
  );
});

describe('the crash checks are not vacuous', () => {
  it('control: a plain uretprobe (bpftrace run directly, not trace) crashes the same service at once', async () => {
    const [victim] = (await pool.start('emoji', 1)) as [TestContainer];
    const exe = `/proc/${victim.hostPid}/root/app/emoji`;
    // -p: the breakpoint is installed in this process only, never in another emoji.
    const bt = spawn(BPFTRACE, ['-p', String(victim.hostPid), '-e', `uretprobe:${exe}:main.churn { @ = count(); }`], { stdio: 'ignore' });
    stoppers.push(() => bt.kill('SIGKILL'));
    const deadline = Date.now() + 20_000;
    while (attachedProbes(bt.pid!) < 1) {
      expect(bt.exitCode, 'bpftrace exited before attaching').toBeNull();
      expect(Date.now()).toBeLessThan(deadline);
      await new Promise((r) => setTimeout(r, 25));
    }
    const s = await pool.load(victim, '/churn?depth={n}', { requests: 16, ns: [1000], concurrency: 4 });
    bt.kill('SIGINT');
    expect(s.ok).toBeLessThan(s.sent);
    for (const until = Date.now() + 10_000; (await state(victim)).running && Date.now() < until; ) await new Promise((r) => setTimeout(r, 100));
    expect((await state(victim)).running).toBe(false);
    expect(await containerLogs(victim.name)).toMatch(GO_CRASH);
    expect(await containerLogs(victim.name)).toMatch(/unexpected return pc for main\.churn/);
  });
});

// --- 2. latency with goroutines migrating between threads ----------------------------------

describe('goroutine-local self-> gives true latencies while goroutines migrate', () => {
  it('sleepFor(2|8|32 ms) under 32 connections: exact counts per ms, each in its power-of-two bucket', async () => {
    const MS = [2, 8, 32];
    const program = [
      // self->tid remembers the thread the call started on (for the migration count), and
      // tts[tid] is what a thread-keyed start time would be.
      'uprobe:main.sleepFor { self->ts = timestamp; self->ms = arg0; self->tid = tid; tts[tid] = timestamp; }',
      'uretprobe:main.sleepFor /self->ts && self->tid != tid/ { @migrated[self->ms] = count(); }',
      'uretprobe:main.sleepFor /self->ts/ { @min[self->ms] = min(timestamp - self->ts); @avg[self->ms] = avg(timestamp - self->ts); }',
      'uretprobe:main.sleepFor /self->ts && tts[tid]/ { @bythread[self->ms] = quantize((timestamp - tts[tid]) / 1000000); tts[tid] = 0; }',
      // The acceptance's program, verbatim.
      'uretprobe:main.sleepFor /self->ts/ { @lat[self->ms] = quantize((timestamp - self->ts) / 1000000); self->ts = 0; self->ms = 0; self->tid = 0; }',
    ].join('\n');
    let load: Awaited<ReturnType<typeof pool.load>> | undefined;
    const r = await traceWhile(['-o', 'json', '-c', emoji.name, program], async () => {
      // 32 connections, at a rate the 2 cores keep up with: sleeping goroutines resume on
      // whichever thread is free, and timers are not delayed by a saturated CPU.
      load = await pool.load(emoji, '/emoji?n={n}&ms={ms}', { requests: 1500, rate: 600, ms: MS, ns: [1], concurrency: 32 });
    });
    const sent = load!;
    expect(sent.ok).toBe(1500);
    expect(sent.byMs).toEqual({ 2: 500, 8: 500, 32: 500 });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const aggs = finalAggs(r);
    expect(aggs['@lat']!.keys).toEqual(['self->ms']);
    expect(aggs['@lat']!.rows.map((row) => row.keys[0]).sort((a, b) => Number(a) - Number(b))).toEqual(MS);
    const minNs = values(aggs['@min']);
    const avgNs = values(aggs['@avg']);
    for (const ms of MS) {
      const { buckets, total } = dist(aggs['@lat'], ms);
      expect(total, `${ms} ms: one sample per call`).toBe(sent.byMs![String(ms)]);
      // time.Sleep never returns early: no sample below ms (the buckets under it are empty) ...
      expect(minNs[String(ms)]).toBeGreaterThanOrEqual(ms * 1e6);
      expect(buckets.filter((b) => b.hi <= ms).reduce((s, b) => s + b.count, 0), `${ms} ms: samples below ms`).toBe(0);
      // ... and the bulk is in the power-of-two bucket holding ms: [2,4), [8,16), [32,64).
      const home = buckets.find((b) => b.lo <= ms && ms < b.hi);
      expect(home, `${ms} ms: its bucket`).toEqual({ lo: ms, hi: ms * 2, count: expect.any(Number) });
      expect(home!.count / total, `${ms} ms: share in [${ms},${ms * 2})`).toBeGreaterThanOrEqual(0.95);
      expect(avgNs[String(ms)]).toBeLessThan(ms * 2e6);
    }
    // The client's view bounds the traced one from above: a request lasts at least its sleep.
    const tracedMeanMs = MS.reduce((s, ms) => s + (avgNs[String(ms)]! / 1e6) * 500, 0) / 1500;
    expect(sent.latencyMs.min!).toBeGreaterThanOrEqual(2);
    expect(sent.latencyMs.mean!).toBeGreaterThanOrEqual(tracedMeanMs);
    expect(sent.latencyMs.max!).toBeGreaterThanOrEqual(32);
    // The premise: goroutines did resume on other threads (a good share of the calls).
    const migrated = Object.values(values(aggs['@migrated'])).reduce((s, n) => s + n, 0);
    expect(migrated).toBeGreaterThan(150);
    // And thread-keyed start times are wrong then: 32 ms sleeps "measured" under 32 ms.
    const wrong = dist(aggs['@bythread'], 32).buckets.filter((b) => b.hi <= 32).reduce((s, b) => s + b.count, 0);
    expect(wrong).toBeGreaterThan(50);
  });
});

// --- 3. arguments: registers, DWARF names, strings; results; goid ----------------------------

describe('Go arguments and results', () => {
  it("frontend's handle(n) int: arg0 and args.n count n exactly, retval is the status, goid is the goroutine", async () => {
    const program = [
      'uprobe:main.handle { @arg0[arg0] = count(); @named[args.n] = count(); @goid[goid] = count(); self->g = goid; }',
      'pid$target::main.handle:return /self->g/ { @status[retval] = count(); @arg1[arg1] = count(); @samegoid[self->g == goid] = count(); self->g = 0; }',
      'uretprobe:main.handle { @result[retval] = count(); }',
    ].join('\n');
    let load: Awaited<ReturnType<typeof pool.load>> | undefined;
    const r = await traceWhile(['-o', 'json', '-c', frontend.name, program], async () => {
      load = await pool.load(frontend, '/vote?n={n}', { requests: 60, ns: [1, 2, 3, 42], concurrency: 4 });
    });
    const sent = load!;
    expect(sent.byN).toEqual({ 1: 15, 2: 15, 3: 15, 42: 15 });
    // voting answers 500 to one request in five: handle returns that status.
    expect(sent.status['500']).toBeGreaterThan(0);
    expect(sent.status['200']).toBeGreaterThan(0);
    // Nothing but the tables: no bpftrace warning about the generated program.
    expect.soft(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const aggs = finalAggs(r);
    expect(values(aggs['@arg0'])).toEqual(sent.byN);
    expect(values(aggs['@named'])).toEqual(sent.byN);
    expect(aggs['@named']!.keys).toEqual(['args.n']);
    expect(values(aggs['@status'])).toEqual(sent.status);
    expect(values(aggs['@arg1'])).toEqual(sent.status);
    expect(values(aggs['@result'])).toEqual(sent.status);
    // goid: real goroutine ids (never 0), one per request, the same at entry and return.
    const goids = values(aggs['@goid']);
    const ids = Object.keys(goids).map(Number);
    expect(ids.every((id) => Number.isInteger(id) && id > 0)).toBe(true);
    expect(ids.length).toBeGreaterThanOrEqual(2); // 4 connections, each served by its goroutine
    expect(Object.values(goids).reduce((s, n) => s + n, 0)).toBe(60);
    expect(values(aggs['@samegoid'])).toEqual({ 1: 60 });
  });

  it('args.n of Go type int is signed: negative n in predicates, min and max', async () => {
    const program = 'uprobe:main.handle { @[args.n] = count(); @lo = min(args.n); @hi = max(args.n); } uprobe:main.handle /args.n < 0/ { @negative = count(); }';
    let load: Awaited<ReturnType<typeof pool.load>> | undefined;
    const r = await traceWhile(['-o', 'json', '-c', frontend.name, program], async () => {
      load = await pool.load(frontend, '/vote?n={n}', { requests: 12, ns: [5, -1, -7], concurrency: 2 });
    });
    expect(load!.byN).toEqual({ 5: 4, '-1': 4, '-7': 4 });
    expect(r.code).toBe(0);
    const aggs = finalAggs(r);
    expect(values(aggs['@'])).toEqual(load!.byN);
    expect.soft(scalar(aggs['@negative']), 'args.n < 0').toBe(8);
    expect.soft(scalar(aggs['@lo']), 'min(args.n)').toBe(-7);
    expect.soft(scalar(aggs['@hi']), 'max(args.n)').toBe(5);
  });

  it("voting's vote(n, name string): gostr(arg1, arg2) and args.name are exactly the names sent", async () => {
    // voting calls vote(n, svc.EmojiName(n)): Emojis[n mod 50] (demo/internal/svc). 0 and 50
    // name the same emoji; -1 is the last one.
    const NAMES: Record<number, string> = { 0: ':joy:', 3: ':stuck_out_tongue_winking_eye:', 7: ':nerd_face:', 50: ':joy:', [-1]: ':100:' };
    const program = [
      'uprobe:main.vote { @gostr[gostr(arg1, arg2)] = count(); @name[args.name] = count(); @pair[args.n, args.name] = count(); }',
      'uprobe:main.vote /args.name == ":joy:"/ { @joy = count(); }',
    ].join('\n');
    let load: Awaited<ReturnType<typeof pool.load>> | undefined;
    const r = await traceWhile(['-o', 'json', '-c', voting.name, program], async () => {
      load = await pool.load(voting, '/vote?n={n}', { requests: 50, ns: [0, 3, 7, 50, -1], concurrency: 3 });
    });
    const sent = load!;
    expect(sent.byN).toEqual({ 0: 10, 3: 10, 7: 10, 50: 10, '-1': 10 });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const byName: Record<string, number> = {};
    const byPair: Record<string, number> = {};
    for (const [n, k] of Object.entries(sent.byN)) {
      const name = NAMES[Number(n)]!;
      byName[name] = (byName[name] ?? 0) + k;
      byPair[`${n},${name}`] = k;
    }
    expect(byName).toEqual({ ':joy:': 20, ':stuck_out_tongue_winking_eye:': 10, ':nerd_face:': 10, ':100:': 10 });
    const aggs = finalAggs(r);
    expect.soft(values(aggs['@gostr']), 'gostr(arg1, arg2)').toEqual(byName);
    expect.soft(values(aggs['@name']), 'args.name').toEqual(byName);
    expect.soft(values(aggs['@pair']), 'args.n, args.name').toEqual(byPair);
    expect.soft(scalar(aggs['@joy']), 'args.name == ":joy:"').toBe(20);
  });
});

// --- 4. trace list -------------------------------------------------------------------------

describe('trace list -c NAME', () => {
  // The demo's package main functions (demo/services/*/main.go; closures are main.main.funcN).
  const MAIN = {
    frontend: ['main.call', 'main.handle', 'main.main', 'main.main.func1'],
    voting: ['main.init', 'main.main', 'main.main.func1', 'main.vote', 'main.vote.func1'],
    emoji: ['main.churn', 'main.lookup', 'main.main', 'main.main.func1', 'main.main.func2', 'main.sleepFor'],
  };

  it("lists the service's Go functions as probes", async () => {
    const r = await runTrace(['list', '-c', frontend.name, 'main.*'], { env: NO_DOCKER });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(MAIN.frontend.map((f) => `uprobe:${f}\n`).join(''));
  });

  it('-o json parses, for every service', async () => {
    for (const c of [frontend, voting, emoji]) {
      const r = await runTrace(['list', '-o', 'json', '-c', c.name, 'main.*'], { env: NO_DOCKER });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const rows = JSON.parse(r.stdout) as { probe: string; kind: string; name: string }[];
      expect(rows).toEqual(MAIN[c.service].map((name) => ({ probe: `uprobe:${name}`, kind: 'uprobe', name })));
    }
  });
});

// --- 5. bpftrace 0.17 cannot place RET-site probes: refused, never a uretprobe ------------------

describe.skipIf(!existsSync(BPFTRACE_017))('on bpftrace 0.17', () => {
  /** bpftrace behind a wrapper that logs its arguments. */
  function wrapped(): { path: string; calls: () => string[] } {
    const log = join(tmp, `bpftrace-017-${Date.now()}.log`);
    const path = join(tmp, `bpftrace-017-${Date.now()}`);
    writeFileSync(path, `#!/bin/sh\necho "$*" >> '${log}'\nexec '${BPFTRACE_017}' "$@"\n`);
    chmodSync(path, 0o755);
    return { path, calls: () => (existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : []) };
  }

  it('a Go return probe is refused: exit 2, file:line:col CT3007 with the fix, and no bpftrace program runs', async () => {
    const bt = wrapped();
    const before = await state(frontend);
    // Requests flow the whole time: had a uretprobe been attached, the frontend would crash.
    const ac = new AbortController();
    const flowing = pool.load(frontend, '/vote?n={n}', { durationMs: 3_000, ns: [9], concurrency: 2, signal: ac.signal }).catch(() => null);
    stoppers.push(() => ac.abort());

    const hint = 'hint: install bpftrace 0.20 or newer: scripts/setup.sh puts one in /opt/ctrace/bin/bpftrace (or pass --bpftrace PATH)';
    const why = 'error CT3007: a return probe on the Go function main.handle needs a bpftrace that can attach at its return instructions, and bpftrace 0.17.0 cannot (a plain uretprobe would crash the Go program)';
    const line = 'pid$target::main.handle:return { @ = count(); }';
    const r = await runTrace(['--bpftrace', bt.path, '-c', frontend.name, line], { env: NO_DOCKER });
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`<command line>:1:1: ${why}\n  1 | ${line}\n    | ^${'~'.repeat('pid$target::main.handle:return'.length - 1)}\n${hint}\n`);
    expect(r.code).toBe(2);

    // From a file: the file's name, line and column.
    const file = join(tmp, 'go-return.d');
    writeFileSync(file, '/* latency of handle */\nuretprobe:main.handle\n{\n  @ = count();\n}\n');
    const f = await runTrace(['--bpftrace', bt.path, '-c', frontend.name, file], { env: NO_DOCKER });
    expect(f.stdout).toBe('');
    expect(f.stderr.split('\n')[0]).toBe(`${file}:2:1: ${why}`);
    expect(f.stderr).toContain(hint);
    expect(f.code).toBe(2);

    // bpftrace ran nothing but `--info` (how trace learns its version) and the bpftrace a run
    // starts before compiling (`-f json -`, its program to come on stdin), which is given a
    // program only once it compiled: here it is killed without one. No probe, no uretprobe.
    expect(bt.calls().length).toBeGreaterThan(0);
    expect(bt.calls().filter((c) => c !== '--info' && c !== '--version' && c !== '-f json -')).toEqual([]);
    const s = await flowing;
    // Every request answered (200, or the 500 that voting injects), none dropped.
    expect(s?.sent).toBeGreaterThan(0);
    expect(s?.errors).toBe(0);
    expect(Object.keys(s!.status).filter((k) => k !== '200' && k !== '500')).toEqual([]);
    expect(await state(frontend)).toEqual(before);
    expect(await containerLogs(frontend.name)).not.toMatch(GO_CRASH);
  });

  it('entry probes on Go functions still work there, with exact counts', async () => {
    const bt = wrapped();
    const args = ['--bpftrace', bt.path, '-o', 'json', '-c', frontend.name, 'uprobe:main.handle { @[arg0] = count(); }'];
    let load: Awaited<ReturnType<typeof pool.load>> | undefined;
    const r = await traceWhile(args, async () => {
      load = await pool.load(frontend, '/vote?n={n}', { requests: 30, ns: [4, 5, 6], concurrency: 3 });
    });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(load!.byN).toEqual({ 4: 10, 5: 10, 6: 10 });
    expect(values(finalAggs(r)['@'])).toEqual(load!.byN);
  });
});

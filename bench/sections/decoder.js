// 3. Decoder throughput. End to end: a child makes N getppid() system calls in a tight loop
// (perl's syscall(): no libc caching), a tracepoint printf fires on each, and we count the
// lines delivered by bpftrace alone (-f json, read by this process) and by `trace -q -o json`
// (bpftrace -> trace's decoder and JSON renderer -> this process), interleaved. Every event
// is either delivered, or counted by bpftrace as lost in the kernel (perf buffer full), so
// fired - delivered - lost is what a reader dropped (0 is the goal).
// In-process: dist/runner/lines.js + events.js on a generated NDJSON stream (the decoder's
// upper bound), and the same through stream.js + presenter.js (decode and render).

import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { compiler, realFacts } from '../lib/facts.js';
import { BPFTRACE, ROOT, childrenOf, cpuSeconds, sleep, spawnLines, stop, traceCmd } from '../lib/proc.js';
import { pairRatios, summary } from '../lib/stats.js';

const GOAL_RATE = 200_000;
const EVENT = Buffer.from('event ');
const PROGRAM = (pid) => `tracepoint:syscalls:sys_enter_getppid /pid == ${pid}/ { @fired = count(); printf("event %d %d\\n", tid, nsecs); } BEGIN { printf("ready\\n"); }`;

/** A child that waits for a line on stdin, then makes `n` getppid system calls (x86_64: 110). */
function loadChild(n) {
  const child = spawn('perl', ['-e', `<STDIN>; syscall(110) for 1..${n};`], { stdio: ['pipe', 'ignore', 'inherit'] });
  const exited = new Promise((r) => child.on('close', r));
  return { child, exited };
}

/** One run of a tracer (`kind` 'bpftrace' | 'trace') over `n` events. */
async function oneRun(kind, n) {
  const load = loadChild(n);
  const pid = load.child.pid;
  const [cmd, args] = kind === 'trace' ? traceCmd(['-q', '-o', 'json', PROGRAM(pid)]) : [BPFTRACE, ['-f', 'json', '-e', PROGRAM(pid)]];
  let events = 0;
  let first = 0;
  let last = 0;
  const other = [];
  let rest = Buffer.alloc(0);
  let readyResolve;
  const ready = new Promise((r) => (readyResolve = r));
  const p = spawnLines(cmd, args, {
    onChunk: (chunk, ms) => {
      const buf = rest.length ? Buffer.concat([rest, chunk]) : chunk;
      let s = 0;
      let k = 0;
      for (let e = buf.indexOf(10, s); e !== -1; e = buf.indexOf(10, s)) {
        const j = buf.indexOf(EVENT, s);
        if (j !== -1 && j < e) k++;
        else {
          const line = buf.toString('utf8', s, e);
          other.push(line);
          if (line.includes('ready')) readyResolve();
        }
        s = e + 1;
      }
      rest = s < buf.length ? Buffer.from(buf.subarray(s)) : Buffer.alloc(0);
      if (k) {
        if (!first) first = ms;
        last = ms;
        events += k;
      }
    },
  });
  const started = await Promise.race([ready.then(() => true), p.exited.then(() => false), sleep(30_000).then(() => false)]);
  if (!started) {
    load.child.kill('SIGKILL');
    const r = await stop(p);
    throw new Error(`${kind} did not start: ${r.stderr.slice(0, 300)}`);
  }
  // CPU time of trace's node process and of bpftrace (trace's child, or the process itself).
  const bpfPid = kind === 'trace' ? childrenOf(p.child.pid)[0] : p.child.pid;
  const cpu0 = { tracer: cpuSeconds(p.child.pid), bpftrace: cpuSeconds(bpfPid) };
  load.child.stdin.end('go\n');
  await load.exited;
  // Let the stream drain: stop once nothing new arrived for 500 ms.
  for (let seen = -1, i = 0; seen !== events && i < 60; i++) {
    seen = events;
    await sleep(500);
  }
  const cpu = { bpftrace: cpuSeconds(bpfPid) - cpu0.bpftrace, trace: kind === 'trace' ? cpuSeconds(p.child.pid) - cpu0.tracer : null };
  const r = await stop(p);
  let lost = 0;
  let fired = null;
  for (const line of other) {
    try {
      const o = JSON.parse(line);
      if (o.type === 'lost_events') lost += o.data.events;
      else if (o.type === 'lost') lost = o.events; // trace: the total, once at the end
      else if (o.type === 'map' && o.data && '@fired' in o.data) fired = o.data['@fired'];
      else if (o.type === 'aggregation' && o.name === '@fired') fired = o.rows[0]?.value ?? 0;
    } catch {
      // not JSON: ignore (counted nowhere)
    }
  }
  const spanS = (last - first) / 1000;
  return { kind, n, events, lost, fired, cpu, unaccounted: fired === null ? null : fired - events - lost, spanS, rate: spanS > 0 ? events / spanS : NaN, exit: r.code, signal: r.signal };
}

/** NDJSON lines as bpftrace 0.23 prints printf events, in 64 KiB chunks. */
function ndjson(lines) {
  const chunks = [];
  let cur = '';
  for (let i = 0; i < lines; i++) {
    cur += `{"type": "printf", "data": "event ${1000 + (i % 50)} ${1_700_000_000 + i * 7919}\\n"}\n`;
    if (cur.length >= 65536) {
      chunks.push(Buffer.from(cur));
      cur = '';
    }
  }
  if (cur) chunks.push(Buffer.from(cur));
  return chunks;
}

async function inProcess(ctx, rounds) {
  const { LineSplitter } = await import(join(ROOT, 'dist', 'runner', 'lines.js'));
  const { decodeLine } = await import(join(ROOT, 'dist', 'runner', 'events.js'));
  const { EventStream } = await import(join(ROOT, 'dist', 'runner', 'stream.js'));
  const { Presenter } = await import(join(ROOT, 'dist', 'runner', 'presenter.js'));
  const { compile, Source } = await compiler();
  const text = PROGRAM(1);
  const facts = await realFacts(text, { bpftrace: BPFTRACE });
  const compiled = compile(new Source('<command line>', text), facts, { quiet: true }).program;
  const LINES = ctx.quick ? 200_000 : 500_000;
  const chunks = ndjson(LINES);
  const decodeOnly = () => {
    const split = new LineSplitter();
    let n = 0;
    for (const c of chunks) for (const l of split.push(c)) if (decodeLine(l, {}).type === 'printf') n++;
    return n;
  };
  const full = (output) => () => {
    const split = new LineSplitter();
    const stream = new EventStream(compiled);
    const opts = stream.decodeOptions(true);
    let bytes = 0;
    const sink = { write: (s) => (bytes += s.length), isTTY: false };
    const presenter = new Presenter(compiled, { output, stdout: sink, stderr: sink, env: { NO_COLOR: '1' }, progress: false });
    for (const c of chunks) for (const l of split.push(c)) for (const o of stream.push(decodeLine(l, opts))) presenter.handle(o);
    return bytes;
  };
  const cases = [
    { name: 'LineSplitter + decodeLine', fn: decodeOnly },
    { name: 'LineSplitter + decodeLine + EventStream + Presenter (-o json)', fn: full('json') },
    { name: 'LineSplitter + decodeLine + EventStream + Presenter (table, printf text)', fn: full('table') },
  ];
  for (const c of cases) {
    c.fn(); // warm up
    c.rates = [];
  }
  for (let r = 0; r < rounds; r++) {
    for (const c of cases) {
      const t0 = performance.now();
      c.fn();
      c.rates.push(LINES / ((performance.now() - t0) / 1000));
    }
  }
  return { lines: LINES, cases: cases.map((c) => ({ name: c.name, eventsPerS: c.rates })) };
}

export async function decoderSection(ctx) {
  const { quick, log } = ctx;
  const pairs = quick ? 2 : 4;
  const n = quick ? 600_000 : 1_500_000;
  const runs = { bpftrace: [], trace: [] };
  for (let i = 0; i < pairs; i++) {
    for (const kind of ['bpftrace', 'trace']) {
      const r = await oneRun(kind, n);
      log(`  decoder: ${kind}: ${r.events} delivered, ${r.lost} lost, fired ${r.fired}, unaccounted ${r.unaccounted}, ${Math.round(r.rate)}/s`);
      runs[kind].push(r);
    }
  }
  const rate = (k) => runs[k].map((r) => r.rate);
  const lostShare = (k) => runs[k].map((r) => (r.fired ? r.lost / r.fired : NaN));
  const unacc = (k) => runs[k].map((r) => (r.fired ? r.unaccounted / r.fired : NaN));
  const missingFinal = runs.trace.filter((r) => r.fired === null).length;
  const rows = [];
  const tr = summary(rate('trace'));
  rows.push({
    id: '3',
    name: `events decoded+rendered per second, end to end (${n / 1000}k getppid printf events): trace -o json vs bpftrace -f json alone`,
    a: tr,
    b: summary(rate('bpftrace')),
    unit: '/s',
    ratio: summary(pairRatios(rate('trace'), rate('bpftrace'))),
    goal: `trace >= ${GOAL_RATE / 1000}k/s`,
    pass: tr.median >= GOAL_RATE,
  });
  const sharePct = (xs) => summary(xs.map((x) => x * 100));
  rows.push({ id: '3', name: 'share of fired events bpftrace lost in the kernel (perf buffer full): under trace vs alone', a: sharePct(lostShare('trace')), b: sharePct(lostShare('bpftrace')), unit: '%' });
  const perCpu = runs.trace.map((r) => (r.cpu.trace > 0 ? r.events / r.cpu.trace : NaN));
  rows.push({
    id: '3',
    name: "trace's own process: events decoded+rendered per CPU-second (its capacity on one core)",
    value: summary(perCpu),
    unit: '/s',
    note: `bpftrace used ${summary(runs.trace.map((r) => r.cpu.bpftrace)).median.toFixed(2)} CPU-s under trace, ${summary(runs.bpftrace.map((r) => r.cpu.bpftrace)).median.toFixed(2)} alone`,
  });
  const u = unacc('trace').filter(Number.isFinite);
  rows.push({
    id: '3',
    name: 'events bpftrace delivered that trace dropped ((fired - delivered - lost) / fired)',
    value: sharePct(unacc('trace')),
    unit: '%',
    goal: '0',
    pass: u.length > 0 && u.every((x) => x <= 0) && missingFinal === 0,
    note: `bpftrace alone: ${summary(unacc('bpftrace').map((x) => x * 100)).median.toFixed(3)}%${missingFinal ? `; ${missingFinal} trace run(s) ended without the final @fired aggregation` : ''}`,
  });
  const ip = await inProcess(ctx, quick ? 3 : 7);
  for (const c of ip.cases) rows.push({ id: '3', name: `in-process ${c.name} (${ip.lines / 1000}k lines)`, value: summary(c.eventsPerS), unit: '/s' });
  return { rows, raw: { n, runs, inProcess: ip } };
}

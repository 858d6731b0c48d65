// 4. Traced-service overhead: requests/s of the demo frontend (GET /vote?n=1, which calls
// voting and emoji; voting's failRate is 0, so every answer is 200) under wrk on loopback,
// untraced, traced by `trace -c` running our compiled program, and traced by the equivalent
// hand-written bpftrace program, interleaved round by round (untraced, ours, hand-written).

import { BPFTRACE, bpfProgStats, childrenOf, cpuSeconds, enableBpfStats, output, sleep, spawnLines, stop, traceCmd, wrk } from '../lib/proc.js';
import { pairRatios, summary } from '../lib/stats.js';

const GOAL = 0.97;

/** The attach points (`main.handle+N`) `trace --emit bpftrace -c` compiles a program to. */
function attachPoints(container, program) {
  const [cmd, args] = traceCmd(['--emit', 'bpftrace', '-c', container, program]);
  const text = output(cmd, args);
  const points = [...text.matchAll(/^uprobe:[^\n]*?:(main\.handle(?:\+\d+)?)\s*$/gm)].map((m) => m[1]);
  if (!points.length) throw new Error(`no main.handle probes in:\n${text}`);
  return [...new Set(points)];
}

/**
 * Our programs and their hand-written equivalents. The hand-written ones attach where ours
 * do (the entry past Go's stack-check prologue, each RET), read the same registers (Go's
 * ABI: AX is the first argument, R14 the goroutine), but skip our per-container filter.
 */
function programs(demo) {
  const exe = demo.frontendExe;
  const [entry] = attachPoints(demo.frontend, 'uprobe:main.handle { @ = count(); }');
  const rets = attachPoints(demo.frontend, 'pid$target::main.handle:return { @ = count(); }');
  const retProbes = rets.map((p) => `uprobe:${exe}:${p}`).join(',\n');
  const READY = 'BEGIN { printf("ready\\n"); }';
  return [
    {
      name: 'entry count: uprobe:main.handle { @[arg0] = count() }',
      ours: `${READY} uprobe:main.handle { @[arg0] = count(); }`,
      hand: `${READY} uprobe:${exe}:${entry} { @[reg("ax")] = count(); }`,
    },
    {
      name: 'latency histogram: entry + return (RET-offset uprobes), per goroutine',
      ours: `${READY} pid$target::main.handle:entry { self->ts = timestamp; } pid$target::main.handle:return /self->ts/ { @lat = quantize(timestamp - self->ts); self->ts = 0; }`,
      hand: `${READY} uprobe:${exe}:${entry} { @ts[reg("r14")] = nsecs; }\n${retProbes}\n/@ts[reg("r14")]/ { @lat = hist(nsecs - @ts[reg("r14")]); delete(@ts[reg("r14")]); }`,
    },
    {
      name: 'Go return probe count: pid$target::main.handle:return { @ = count() }',
      ours: `${READY} pid$target::main.handle:return { @ = count(); }`,
      hand: `${READY} ${retProbes} { @ = count(); }`,
    },
  ];
}

/** Starts a tracer, waits for its BEGIN line, runs wrk, stops the tracer; returns wrk's result and the tracer's CPU. */
async function traced(cmd, args, load) {
  let ready;
  const seen = new Promise((r) => (ready = r));
  const p = spawnLines(cmd, args, { onLine: (l) => /ready/.test(l) && ready() });
  const ok = await Promise.race([seen.then(() => true), p.exited.then(() => false), sleep(30_000).then(() => false)]);
  if (!ok) {
    const r = await stop(p);
    throw new Error(`tracer did not start (exit ${r.code}): ${r.stderr.slice(0, 400)}`);
  }
  // The tracer's own processes: trace's node and its bpftrace, or bpftrace alone.
  const kids = childrenOf(p.child.pid);
  const pids = [p.child.pid, ...kids];
  // bpftrace: trace's child (setpriv exec's it), or the process itself.
  const bpfPid = kids.length ? kids[0] : p.child.pid;
  const cpu0 = pids.reduce((a, pid) => a + (cpuSeconds(pid) || 0), 0);
  try {
    const r = await load();
    r.tracerCpuS = pids.reduce((a, pid) => a + (cpuSeconds(pid) || 0), 0) - cpu0;
    const bpf = bpfProgStats(bpfPid);
    r.bpfNsPerHit = bpf.runs ? bpf.ns / bpf.runs : NaN;
    r.bpfHits = bpf.runs;
    return r;
  } finally {
    const r = await stop(p);
    if (r.code !== 0) throw new Error(`tracer exited ${r.code ?? r.signal}: ${r.stderr.slice(0, 400)}`);
  }
}

export async function overheadSection(ctx) {
  const { quick, demo, log } = ctx;
  const rounds = quick ? 2 : 4;
  const durationS = quick ? 2 : 5;
  const url = `${demo.url}/vote?n=1`;
  // CPU time of the three services during the load: a probe's BPF program runs in the traced
  // thread's context, so its cost lands here. Less sensitive to a busy machine than req/s.
  const servicePids = Object.values(demo.demo.containers).map((c) => c.hostPid);
  const serviceCpu = () => servicePids.reduce((a, pid) => a + (cpuSeconds(pid) || 0), 0);
  const load = async () => {
    const c0 = serviceCpu();
    const r = await wrk(url, { threads: 2, connections: 16, durationS });
    r.serviceCpuUsPerReq = r.requests ? ((serviceCpu() - c0) * 1e6) / r.requests : NaN;
    if (r.non2xx || r.socketErrors) log(`  overhead: wrk saw ${r.non2xx} non-2xx and ${r.socketErrors} socket errors`);
    return r;
  };
  await wrk(url, { threads: 2, connections: 16, durationS: 1 }); // warm up the services
  // Kernel accounting of BPF run time (per program: run_time_ns, run_cnt), for this section only.
  const restoreStats = enableBpfStats();
  try {
    return await measureAll();
  } finally {
    restoreStats();
  }

  async function measureAll() {
    const rows = [];
    const raw = { url, rounds, durationS, wrk: '-t2 -c16', programs: [] };
    for (const prog of programs(demo)) {
      const runs = { u: [], o: [], h: [] };
      const errors = { non2xx: 0, socket: 0 };
      const [tc, ta] = traceCmd(['-q', '-c', demo.frontend, prog.ours]);
      const measure = {
        u: () => load(),
        o: () => traced(tc, ta, load),
        h: () => traced(BPFTRACE, ['-e', prog.hand], load),
      };
      // Each round runs all three, in a rotated order (u o h, o h u, h u o, ...), so a drift
      // of the machine or of the services' connection state does not favour one of them.
      const orders = [['u', 'o', 'h'], ['o', 'h', 'u'], ['h', 'u', 'o']];
      for (let i = 0; i < rounds; i++) {
        for (const k of orders[i % orders.length]) {
          const r = await measure[k]();
          errors.non2xx += r.non2xx;
          errors.socket += r.socketErrors;
          runs[k].push(r);
        }
        log(`  overhead: ${prog.name}: untraced ${Math.round(runs.u[i].rps)}, ours ${Math.round(runs.o[i].rps)}, hand-written ${Math.round(runs.h[i].rps)} req/s; service CPU ${runs.u[i].serviceCpuUsPerReq.toFixed(0)}, ${runs.o[i].serviceCpuUsPerReq.toFixed(0)}, ${runs.h[i].serviceCpuUsPerReq.toFixed(0)} us/req`);
      }
      const rps = (k) => runs[k].map((r) => r.rps);
      const cpu = (k) => runs[k].map((r) => r.serviceCpuUsPerReq);
      const u = rps('u');
      const o = rps('o');
      const h = rps('h');
      const strip = (k) => runs[k].map(({ text, ...r }) => r);
      raw.programs.push({ ...prog, untraced: strip('u'), ours: strip('o'), handWritten: strip('h'), errors });
      const ratio = summary(pairRatios(o, h));
      const errNote = errors.non2xx || errors.socket ? `; wrk errors: ${errors.non2xx} non-2xx, ${errors.socket} socket` : '';
      rows.push({ id: '4', name: `req/s, ${prog.name}: ours vs hand-written bpftrace`, a: summary(o), b: summary(h), unit: '', ratio, goal: `>= ${GOAL}x`, pass: ratio.median >= GOAL, note: `untraced ${summary(u).median.toFixed(0)} req/s; ours/untraced ${summary(pairRatios(o, u)).median.toFixed(2)}x, hand-written/untraced ${summary(pairRatios(h, u)).median.toFixed(2)}x${errNote}` });
      const bpfNs = (k) => runs[k].map((r) => r.bpfNsPerHit);
      const bpfRatio = summary(pairRatios(bpfNs('o'), bpfNs('h')));
      rows.push({
        id: '4',
        name: `BPF program time per probe hit, ${prog.name.replace(/:.*$/, '')}: ours vs hand-written`,
        a: summary(bpfNs('o')),
        b: summary(bpfNs('h')),
        unit: 'ns',
        ratio: bpfRatio,
        note: `kernel.bpf_stats_enabled run_time_ns/run_cnt; ${summary(runs.o.map((r) => r.bpfHits)).median.toFixed(0)} hits per run`,
      });
      const cpuRatio = summary(pairRatios(cpu('o'), cpu('h')));
      rows.push({
        id: '4',
        name: `service CPU per request, ${prog.name.replace(/:.*$/, '')}: ours vs hand-written`,
        a: summary(cpu('o')),
        b: summary(cpu('h')),
        unit: 'us',
        ratio: cpuRatio,
        goal: `<= ${(1 / GOAL).toFixed(2)}x`,
        pass: cpuRatio.median <= 1 / GOAL,
        note: `untraced ${summary(cpu('u')).median.toFixed(0)} us/req; tracer processes ${summary(runs.o.map((r) => r.tracerCpuS)).median.toFixed(2)} vs ${summary(runs.h.map((r) => r.tracerCpuS)).median.toFixed(2)} CPU-s per run`,
      });
    }
    return { rows, raw };
  }
}

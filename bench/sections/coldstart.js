// 2. Cold start: `trace` from exec to probes attached, against bpftrace 0.23 alone on the same
// program, interleaved (trace, bpftrace, trace, bpftrace, ...). "Attached" is the first stdout
// line of a BEGIN printf (bpftrace runs BEGIN once every probe is attached; `trace -q` passes
// the printf through as it arrives), or the exit of a program whose BEGIN calls exit().
// `trace` keeps `bpftrace --info`, Go binaries' facts and parsed programs in an on-disk cache,
// warm after the unmeasured first run; one variant runs with the cache off (TRACE_CACHE_DIR=off),
// as a first run after bpftrace, the kernel or the traced binary changed. The references give
// the budget: node's own start, and node loading the CLI.

import { join } from 'node:path';
import { BPFTRACE, ROOT, timeToExit, timeToLine, traceCmd } from '../lib/proc.js';
import { pairRatios, summary } from '../lib/stats.js';

const GOAL = 1.3;

export async function coldStartSection(ctx) {
  const { quick, demo } = ctx;
  const pairs = quick ? 3 : 10;
  const exe = demo.frontendExe;
  const variants = [
    {
      name: 'cold start, BEGIN printf, no target: time to first line',
      trace: ['-q', 'BEGIN { printf("ready\\n"); exit(); }'],
      bpftrace: ['-e', 'BEGIN { printf("ready\\n"); exit(); }'],
      until: 'line',
    },
    {
      name: 'cold start, uprobe on Go main.handle (-c container) + BEGIN printf: time to first line',
      trace: ['-q', '-c', demo.frontend, 'uprobe:main.handle { @[arg0] = count(); } BEGIN { printf("ready\\n"); }'],
      bpftrace: ['-e', `uprobe:${exe}:main.handle { @[reg("ax")] = count(); } BEGIN { printf("ready\\n"); }`],
      until: 'line',
    },
    {
      name: 'cold start, uprobe on Go main.handle (-c container) + BEGIN printf, on-disk cache off: time to first line',
      trace: ['-q', '-c', demo.frontend, 'uprobe:main.handle { @[arg0] = count(); } BEGIN { printf("ready\\n"); }'],
      bpftrace: ['-e', `uprobe:${exe}:main.handle { @[reg("ax")] = count(); } BEGIN { printf("ready\\n"); }`],
      until: 'line',
      env: { TRACE_CACHE_DIR: 'off' },
    },
    {
      name: 'cold start, uprobe on Go main.handle (-c container) + BEGIN { exit(); }: time to exit',
      trace: ['-c', demo.frontend, 'uprobe:main.handle { @[arg0] = count(); } BEGIN { exit(); }'],
      bpftrace: ['-e', `uprobe:${exe}:main.handle { @[reg("ax")] = count(); } BEGIN { exit(); }`],
      until: 'exit',
    },
  ];
  const measure = (cmd, args, until, env) => (until === 'line' ? timeToLine(cmd, args, /^ready$/, { env }) : timeToExit(cmd, args, { env }));
  const refs = [
    { name: 'reference: node -e 0 (node alone, exec to exit)', cmd: process.execPath, args: ['-e', '0'] },
    { name: 'reference: node + import of dist/cli.js (no run)', cmd: process.execPath, args: ['--input-type=module', '-e', `await import(${JSON.stringify(join(ROOT, 'dist', 'cli.js'))})`] },
    { name: 'reference: bpftrace --info (trace caches its output on disk; runs it again only when bpftrace or the kernel changed)', cmd: BPFTRACE, args: ['--info'] },
  ];
  const rows = [];
  const raw = { pairs, variants: [], refs: [] };
  for (const v of variants) {
    const a = [];
    const b = [];
    // One unmeasured run of each first: page cache, podman's state, the binary's ELF.
    const [tc, ta] = traceCmd(v.trace);
    await measure(tc, ta, v.until, v.env);
    await measure(BPFTRACE, v.bpftrace, v.until);
    for (let i = 0; i < pairs; i++) {
      a.push(await measure(tc, ta, v.until, v.env));
      b.push(await measure(BPFTRACE, v.bpftrace, v.until));
    }
    const ratio = summary(pairRatios(a, b));
    raw.variants.push({ name: v.name, traceArgs: v.trace, bpftraceArgs: v.bpftrace, traceMs: a, bpftraceMs: b });
    rows.push({ id: '2', name: `${v.name}: trace vs bpftrace 0.23`, a: summary(a), b: summary(b), unit: 'ms', ratio, goal: `<= ${GOAL}x`, pass: ratio.median <= GOAL });
  }
  for (const r of refs) {
    const ms = [];
    for (let i = 0; i < Math.max(3, pairs >> 1); i++) ms.push(await timeToExit(r.cmd, r.args));
    raw.refs.push({ name: r.name, ms });
    rows.push({ id: '2', name: r.name, value: summary(ms), unit: 'ms' });
  }
  return { rows, raw };
}

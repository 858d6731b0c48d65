#!/usr/bin/env node
// `npm run bench`: ctrace's benchmarks, each measured side by side on this machine in one run.
//
//   1. compile time (in-process and `trace --emit bpftrace`)      bench/sections/compile.js
//   2. cold start: trace vs bpftrace on the same program           bench/sections/coldstart.js
//   3. decoder throughput and lost events                          bench/sections/decoder.js
//   4. traced-service overhead under wrk                           bench/sections/overhead.js
//   5. fleet: trace -H on 1, 4 and 8 SSH test hosts, time to attached    bench/sections/fleet.js
//
// A vs B comparisons run interleaved (A B A B ...); a ratio is the median of the per-pair
// ratios, with their min-max. Results: bench/results/<timestamp>.json and latest.md.
//
// Env: BENCH_QUICK=1 (about 1-2 minutes instead of up to 10), BENCH_ONLY=compile,coldstart,...
// (a subset), BENCH_PROBES_DIR (scripts to compile; default probes/),
// BENCH_DOCS=1 (also rewrite the table in docs/benchmarks.md).

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, freemem, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { startBenchDemo } from './lib/demo.js';
import { BPFTRACE, BPFTRACE_SYSTEM, ROOT, tryOutput } from './lib/proc.js';
import { machineLine, markdownReport, markdownTable, textTable } from './lib/report.js';
import { compileSection } from './sections/compile.js';
import { coldStartSection } from './sections/coldstart.js';
import { decoderSection } from './sections/decoder.js';
import { fleetSection } from './sections/fleet.js';
import { overheadSection } from './sections/overhead.js';

const quick = process.env.BENCH_QUICK === '1';
const only = process.env.BENCH_ONLY ? new Set(process.env.BENCH_ONLY.split(',').map((s) => s.trim())) : null;
const log = (s) => process.stderr.write(`${s}\n`);

function machine() {
  const os = /PRETTY_NAME="([^"]*)"/.exec(existsSync('/etc/os-release') ? readFileSync('/etc/os-release', 'utf8') : '')?.[1] ?? 'unknown';
  const version = (p) => /v?(\d+\.\d+\.\d+)/.exec(tryOutput(p, ['--version']))?.[1] ?? 'missing';
  return {
    kernel: tryOutput('uname', ['-r']),
    nproc: Number(tryOutput('nproc', [])) || cpus().length,
    cpu: cpus()[0]?.model?.trim() ?? 'unknown',
    memGiB: Number((totalmem() / 2 ** 30).toFixed(1)),
    freeGiB: Number((freemem() / 2 ** 30).toFixed(1)),
    os,
    node: process.version,
    bpftrace: { [BPFTRACE]: version(BPFTRACE), [BPFTRACE_SYSTEM]: version(BPFTRACE_SYSTEM) },
    wrk: tryOutput('wrk', ['-v']).split('\n')[0] || 'missing',
    podman: tryOutput('podman', ['--version']),
    loadStart: loadavg(),
  };
}

const SECTIONS = [
  ['compile', '1', 'compile time', compileSection],
  ['coldstart', '2', 'cold start', coldStartSection],
  ['decoder', '3', 'decoder throughput', decoderSection],
  ['overhead', '4', 'traced-service overhead', overheadSection],
  ['fleet', '5', 'fleet (SSH test hosts)', fleetSection],
];

async function main() {
  const t0 = Date.now();
  if (!existsSync(join(ROOT, 'dist', 'cli.js'))) execFileSync(process.execPath, [join(ROOT, 'scripts', 'build.mjs')], { stdio: 'inherit' });
  const m = machine();
  log(`bench: ${quick ? 'quick' : 'full'} run on ${machineLine(m)}`);
  const tmp = mkdtempSync(join(tmpdir(), 'ctrace-bench-'));
  const rows = [];
  const raw = {};
  let demo = null;
  try {
    log('bench: starting the demo services (podman)...');
    demo = await startBenchDemo();
    log(`bench: demo frontend ${demo.frontend} at ${demo.url}`);
    const ctx = { quick, demo, log, tmp };
    for (const [key, id, title, fn] of SECTIONS) {
      if (only && !only.has(key)) continue;
      const s0 = Date.now();
      log(`bench: ${id}. ${title}...`);
      try {
        const r = await fn(ctx);
        rows.push(...r.rows);
        raw[key] = { ...r.raw, seconds: (Date.now() - s0) / 1000 };
      } catch (e) {
        log(`bench: ${title} failed: ${e.stack ?? e}`);
        rows.push({ id, name: title, text: `failed: ${String(e.message ?? e).split('\n')[0].slice(0, 200)}` });
        raw[key] = { error: String(e.stack ?? e) };
      }
      log(`bench: ${title} took ${((Date.now() - s0) / 1000).toFixed(0)} s`);
    }
  } finally {
    if (demo) await demo.stop().catch((e) => log(`bench: stopping the demo: ${e.message}`));
    rmSync(tmp, { recursive: true, force: true });
  }
  m.loadEnd = loadavg();
  const stamp = new Date().toISOString().replace(/[:]/g, '-').replace(/\..*$/, 'Z');
  const result = { timestamp: new Date().toISOString(), quick, durationMs: Date.now() - t0, machine: m, rows, raw };
  const dir = join(ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const jsonPath = join(dir, `${stamp}.json`);
  writeFileSync(jsonPath, JSON.stringify(result, null, 2) + '\n');
  writeFileSync(join(dir, 'latest.md'), markdownReport(result));
  if (process.env.BENCH_DOCS === '1') updateDocs(result);
  process.stdout.write(`\n${textTable(rows)}\n\n`);
  log(`bench: ${(result.durationMs / 1000).toFixed(0)} s; results in ${jsonPath} and bench/results/latest.md`);
}

/** Rewrites the generated part of docs/benchmarks.md (between its markers). */
function updateDocs(result) {
  const path = join(ROOT, 'docs', 'benchmarks.md');
  const begin = '<!-- bench:begin (generated by BENCH_DOCS=1 npm run bench) -->';
  const end = '<!-- bench:end -->';
  const body = [
    begin,
    `Run of ${result.timestamp}${result.quick ? ' with `BENCH_QUICK=1`' : ' (full)'}, ${(result.durationMs / 1000).toFixed(0)} s, on: ${machineLine(result.machine)}.`,
    '',
    markdownTable(result.rows),
    end,
  ].join('\n');
  const old = existsSync(path) ? readFileSync(path, 'utf8') : '';
  const i = old.indexOf(begin.slice(0, 16));
  const j = old.indexOf(end);
  writeFileSync(path, i >= 0 && j > i ? old.slice(0, i) + body + old.slice(j + end.length) : `${old}${old ? '\n' : ''}${body}\n`);
}

main().catch((e) => {
  log(`bench: ${e.stack ?? e}`);
  process.exitCode = 1;
});

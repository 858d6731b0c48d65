// Compiler fuzz test: parse + check + lower, on generated and mutated programs.
//
// Three sources, all seeded (a failure names a reproducible case): typed programs meant to
// compile (gen.ts TypedGen, so lowering and emission run, not only error paths), the same
// damaged by mutate(), and test/lang/gen.ts's grammar-only programs. Each is compiled against
// the golden tests' facts (no target; a C target; a Go target with synthetic binary facts;
// bpftrace 0.17). Invariants: compile() never throws; every diagnostic (and related note) has
// a span inside the text and a well-formed code, and formats; an error always comes with no
// program and no program always comes with an error; an emitted program's source map points
// inside both texts; the same input compiles to the same output. A sample of the compiled
// programs is given to bpftrace 0.23 --dry-run, which must accept them.
//
// CTRACE_FUZZ_CASES sets the number of cases (default 3000; the nightly runs 20000);
// CTRACE_FUZZ_DRYRUN the size of the bpftrace sample (default 40; 0 skips it).

import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { compile, type CompileResult } from '../../src/compiler/compile.js';
import { REFERENCE_FACTS, type Facts } from '../../src/compiler/facts.js';
import { formatDiagnostic, hasErrors } from '../../src/lang/diagnostics.js';
import { Source, type Span } from '../../src/lang/source.js';
import { GO_BINARIES, GO_TARGET, GOLDEN_TARGET, tracepoints } from '../golden/cases.js';
import { mutate, ProgramGen, prng, Rand, TypedGen } from './gen.js';

const CASES = Number(process.env['CTRACE_FUZZ_CASES'] ?? 3000);
const DRYRUN = Number(process.env['CTRACE_FUZZ_DRYRUN'] ?? 40);
const SEED = 0xc0_ffee;
const BPFTRACE_023 = `${process.env['TRACE_PREFIX'] ?? '/opt/ctrace'}/bin/bpftrace`;
const run = promisify(execFile);

/**
 * bpftrace's reasons for refusing programs our checker accepted, for compiler bugs already
 * reported (see the bench/reliability report; remove each line once its bug is fixed, so a
 * regression fails). Any other reason fails the test.
 */
const KNOWN_REJECTIONS: readonly RegExp[] = [];

interface Variant {
  readonly name: string;
  readonly facts: Facts;
  readonly target: boolean;
  readonly go: boolean;
  /** Its programs can be given to a real bpftrace (no synthetic binaries or PIDs). */
  readonly real: boolean;
}

const base: Facts = { ...REFERENCE_FACTS, tracepoints, tracepointsComplete: true, scriptName: 'fuzz.d' };
const V017 = { version: { major: 0, minor: 17, patch: 0 }, uprobeOffsets: false, kprobes: false, kfunc: false, btf: true };
const VARIANTS: readonly Variant[] = [
  { name: 'no target', facts: base, target: false, go: false, real: true },
  { name: 'C target', facts: { ...base, target: GOLDEN_TARGET }, target: true, go: false, real: false },
  { name: 'Go target', facts: { ...base, target: GO_TARGET, binaries: GO_BINARIES }, target: true, go: true, real: false },
  { name: 'Go target, bpftrace 0.17', facts: { ...base, bpftrace: V017, target: GO_TARGET, binaries: GO_BINARIES }, target: true, go: true, real: false },
  { name: 'no target, args', facts: { ...base, scriptArgs: ['10', 'main.handle', 'bash'] }, target: false, go: false, real: true },
];

function checkSpan(s: Span, len: number, what: string): void {
  if (!(Number.isInteger(s.start) && Number.isInteger(s.end) && s.start >= 0 && s.start <= s.end && s.end <= len)) {
    throw new Error(`${what} has span ${JSON.stringify(s)} outside [0, ${len}]`);
  }
}

const SLOPPY = /\bundefined\b|\[object Object\]|\bNaN\b/;

/** Throws (with a reason) if a compile result breaks an invariant. */
function checkResult(source: Source, r: CompileResult): void {
  const len = source.text.length;
  for (const d of r.diagnostics) {
    checkSpan(d.span, len, `diagnostic ${d.code} '${d.message}'`);
    for (const rel of d.related ?? []) checkSpan(rel.span, len, `related note of ${d.code}`);
    if (!/^CT[1-4]\d{3}$/.test(d.code)) throw new Error(`diagnostic code ${JSON.stringify(d.code)} is malformed ('${d.message}')`);
    if (!['error', 'warning', 'note'].includes(d.severity)) throw new Error(`diagnostic ${d.code} has severity ${d.severity}`);
    if (typeof d.message !== 'string' || d.message.trim() === '') throw new Error(`diagnostic ${d.code} has no message`);
    if (SLOPPY.test(d.message.replace(/'[^']*'/g, "''"))) throw new Error(`diagnostic ${d.code} message looks broken: '${d.message}'`);
    if (/internal error/.test(d.message)) throw new Error(`diagnostic ${d.code} reports a crash: '${d.message}'`);
    const printed = formatDiagnostic(d, source);
    if (!printed.includes(d.message)) throw new Error(`formatDiagnostic lost the message of ${d.code}`);
  }
  const errors = hasErrors(r.diagnostics);
  if (errors && r.program) throw new Error('a program was emitted despite errors');
  if (!errors && !r.program) throw new Error('no program and no error: the user would be told nothing');
  if (r.program) {
    const p = r.program;
    if (typeof p.text !== 'string' || p.text.trim() === '') throw new Error('empty program text');
    const lines = p.text.split('\n');
    for (const e of p.sourceMap.entries) {
      checkSpan(e.span, len, 'source map entry');
      const line = lines[e.line - 1];
      if (line === undefined) throw new Error(`source map entry on line ${e.line} of a ${lines.length}-line program`);
      if (!(e.colStart >= 1 && e.colStart <= e.colEnd && e.colEnd <= line.length + 1)) {
        throw new Error(`source map entry ${e.line}:${e.colStart}-${e.colEnd} outside its line (${line.length} chars)`);
      }
    }
    const userStrings = new Set([...source.text.matchAll(/"([^"\\]|\\.)*"/g)].map((m) => m[0]));
    const emitted = p.text.replace(/"([^"\\]|\\.)*"/g, (s) => (userStrings.has(s) ? '""' : s));
    if (SLOPPY.test(emitted)) throw new Error(`emitted program looks broken:\n${p.text}`);
  }
}

function compileChecked(text: string, facts: Facts, what: string, i: number): CompileResult {
  const source = new Source('fuzz.d', text);
  let r: CompileResult;
  try {
    r = compile(source, facts, { intervalMs: i % 11 === 0 ? 1000 : null, quiet: i % 5 === 0 });
  } catch (e) {
    throw new Error(`case ${i} (${what}): compile threw on ${JSON.stringify(text)}: ${e instanceof Error ? e.stack : String(e)}`);
  }
  try {
    checkResult(source, r);
  } catch (e) {
    throw new Error(`case ${i} (${what}): ${e instanceof Error ? e.message : String(e)}\nprogram: ${JSON.stringify(text)}`);
  }
  return r;
}

describe('compiler fuzz', () => {
  it(`${CASES} typed, mutated and grammar-only programs: compile never throws and every diagnostic is well-formed`, () => {
    const r = new Rand(prng(SEED));
    const grammar = new ProgramGen(r);
    const stats = { typed: 0, typedOk: 0, mutatedErrors: 0, grammarErrors: 0 };
    for (let i = 0; i < CASES; i++) {
      const v = VARIANTS[i % VARIANTS.length]!;
      const typed = new TypedGen(r, { target: v.target, go: v.go, mistakes: 0.1 }).program();
      const t = compileChecked(typed, v.facts, `typed, ${v.name}`, i);
      stats.typed++;
      if (t.program) {
        stats.typedOk++;
        if (i % 7 === 0) {
          const again = compile(new Source('fuzz.d', typed), v.facts, { intervalMs: i % 11 === 0 ? 1000 : null, quiet: i % 5 === 0 });
          expect(again.program?.text, `case ${i}: the same program compiled differently`).toBe(t.program.text);
        }
      }
      const m = compileChecked(mutate(typed, r), v.facts, `mutated typed, ${v.name}`, i);
      if (hasErrors(m.diagnostics)) stats.mutatedErrors++;
      const g = grammar.program().text;
      const gr = compileChecked(i % 2 ? mutate(g, r) : g, v.facts, `grammar${i % 2 ? ', mutated' : ''}, ${v.name}`, i);
      if (hasErrors(gr.diagnostics)) stats.grammarErrors++;
    }
    // The typed generator must mostly produce programs that compile (so lowering is exercised),
    // and mutations must exercise the error paths.
    expect(stats.typedOk / stats.typed, JSON.stringify(stats)).toBeGreaterThan(0.5);
    expect(stats.mutatedErrors, JSON.stringify(stats)).toBeGreaterThan(CASES / 4);
  });

  it.skipIf(DRYRUN === 0 || !existsSync(BPFTRACE_023))(`a sample of ${DRYRUN} compiled programs is accepted by bpftrace 0.23 --dry-run`, { timeout: 120_000 }, async () => {
    // Its own seeded programs (so it runs alone with -t too), on the machine-independent facts.
    const r = new Rand(prng(SEED ^ 0xd7));
    const picked: { text: string; bpf: string; unsafe: boolean }[] = [];
    for (let i = 0; picked.length < DRYRUN && i < DRYRUN * 20; i++) {
      const v = VARIANTS[i % 2 ? 0 : 4]!;
      const text = new TypedGen(r, { target: false, go: false, mistakes: 0 }).program();
      const c = compileChecked(text, v.facts, `dry-run sample, ${v.name}`, i);
      if (c.program) picked.push({ text, bpf: c.program.text, unsafe: c.program.options.destructive });
    }
    expect(picked.length).toBe(DRYRUN);
    const rejected: { errors: string[]; report: string }[] = [];
    for (let i = 0; i < picked.length; i += 2) {
      await Promise.all(
        picked.slice(i, i + 2).map(async (s) => {
          const args = ['--dry-run', ...(s.unsafe ? ['--unsafe'] : []), '-e', s.bpf];
          const res = await run(BPFTRACE_023, args, { timeout: 30_000 }).catch((e: { stderr?: string; message: string }) => ({ stderr: `FAILED ${e.stderr ?? e.message}` }));
          const err = res.stderr.split('\n').filter((l) => /ERROR/.test(l) || (/FAILED/.test(l) && !/RLIMIT/.test(l)));
          if (err.length) rejected.push({ errors: err.map((l) => l.replace(/^.*?ERROR: /, '')), report: `program:\n${s.text}\ncompiled:\n${s.bpf}\nbpftrace: ${res.stderr.trim()}` });
        }),
      );
    }
    // Distinct reasons first (one line each), then the first rejected program in full.
    const reasons = [...new Set(rejected.flatMap((x) => x.errors))];
    const unknown = reasons.filter((why) => !KNOWN_REJECTIONS.some((k) => k.test(why)));
    if (reasons.length) {
      console.warn(`bpftrace --dry-run rejected ${rejected.length} of ${picked.length} compiled programs, for known compiler bugs:\n  ${reasons.join('\n  ')}`);
    }
    const first = rejected.find((x) => x.errors.some((e) => unknown.includes(e)));
    expect(unknown, `${rejected.length} of ${picked.length} rejected; new reasons:\n${unknown.join('\n')}\n\n${first?.report ?? ''}`).toEqual([]);
  });
});

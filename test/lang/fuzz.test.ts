// Parser fuzz test: programs generated from the grammar must parse cleanly into the tree
// they were generated from; the same programs, mutated, must never make parse() throw or
// report a span outside the text. Seeded, so a failure names a reproducible case.
// CTRACE_FUZZ_CASES sets the number of cases (default 5000; the nightly runs 20000).

import { describe, expect, it } from 'vitest';
import { walkExprs, type Expr, type Program } from '../../src/lang/ast.js';
import type { Diagnostic } from '../../src/lang/diagnostics.js';
import { parse } from '../../src/lang/parse.js';
import { Source, type Span } from '../../src/lang/source.js';
import { allTokens } from '../../src/lang/tokens.js';
import { ProgramGen, Rand, mutateTokens, prng } from './gen.js';
import { sexpr, stmtSexpr } from './sexpr.js';

const CASES = Number(process.env['CTRACE_FUZZ_CASES'] ?? 5000);
const SEED = 0x5eed_c7ace;

/** The same notation gen.ts predicts. */
function summarize(program: Program): string[] {
  return program.items.map((it) => {
    if (it.kind === 'Pragma') return `pragma ${it.namespace} ${it.directive} [${it.argument}]`;
    const probes = it.probes.map((p) => JSON.stringify(p.parts.map((x) => x.value + (x.quoted ? '"' : '')))).join(', ');
    return `clause ${probes} /${it.predicate ? sexpr(it.predicate) : ''}/ ${it.blockStyle} {${it.body.map(stmtSexpr).join('; ')}}`;
  });
}

// ---- mutations ----

const INSERTS = [
  '{', '}', '(', ')', '[', ']', '<', '>', '/', '*', ';', ':', ',', '"', "'", '\\', '@', '$', '#', '=', '-', '>>=', '->', '/*', '*/', '//',
  '#pragma D option quiet\n', 'if', 'else', 'self', 'int', '0x', '12abc', '"\\q"', 'é', '漢', '😀', '\u0000', '\u0001', '\u001b', '\u007f',
  '\uD800', '\uDC00', '\uFEFF', '\u2028', '\n', '\t', '\r', ' ', 'BEGIN', 'syscall::read:entry',
];

function mutate(text: string, r: Rand): string {
  let t = text;
  for (let n = 1 + r.int(4); n > 0; n--) {
    const at = r.int(t.length + 1);
    const len = 1 + r.int(6);
    switch (r.int(7)) {
      case 0: // delete characters
        t = t.slice(0, at) + t.slice(at + len);
        break;
      case 1: // duplicate characters
        t = t.slice(0, at + len) + t.slice(at, at + len) + t.slice(at + len);
        break;
      case 2: { // swap two ranges
        const b = r.int(t.length + 1);
        const [x, y] = at < b ? [at, b] : [b, at];
        t = t.slice(0, x) + t.slice(y, y + len) + t.slice(x + len, y) + t.slice(x, x + len) + t.slice(y + len);
        break;
      }
      case 3: // insert something troublesome
        t = t.slice(0, at) + r.pick(INSERTS) + t.slice(at);
        break;
      case 4: // insert a random code unit, any at all
        t = t.slice(0, at) + String.fromCharCode(r.int(0x10000)) + t.slice(at);
        break;
      case 5: // token-level: delete, duplicate or swap whole tokens
        t = mutateTokens(t, r);
        break;
      default: // truncate
        t = t.slice(0, at);
    }
  }
  return t;
}

// ---- invariants ----

function checkSpan(s: Span, len: number, what: string): void {
  if (!(Number.isInteger(s.start) && Number.isInteger(s.end) && s.start >= 0 && s.start <= s.end && s.end <= len)) {
    throw new Error(`${what} has span ${JSON.stringify(s)} outside [0, ${len}]`);
  }
}

const TOKEN_NAMES = new RegExp(`\\b(?:EOF|${allTokens.map((t) => t.name).filter((n) => /[a-z][A-Z]|^[A-Z]{2}/.test(n) || n.length > 5).join('|')})\\b`);

function checkDiagnostics(diags: readonly Diagnostic[], len: number): void {
  for (const d of diags) {
    checkSpan(d.span, len, `diagnostic ${d.code} '${d.message}'`);
    for (const r of d.related ?? []) checkSpan(r.span, len, `related note of ${d.code}`);
    expect(d.code).toMatch(/^CT1\d{3}$/);
    // Chevrotain's token names (RCurly, BinaryOp...) must never reach a message; quoted user text may say anything.
    expect(d.message.replace(/'[^']*'/g, "''")).not.toMatch(TOKEN_NAMES);
    expect(d.message).not.toContain('\n');
    // parse() turns a crash into this diagnostic rather than throwing: here it is a failure.
    expect(d.message).not.toMatch(/internal error|nested too deeply/);
  }
}

function checkAst(program: Program, len: number): void {
  checkSpan(program.span, len, 'Program');
  for (const item of program.items) {
    checkSpan(item.span, len, item.kind);
    if (item.kind === 'Pragma') {
      checkSpan(item.argumentSpan, len, 'Pragma argument');
      continue;
    }
    for (const p of item.probes) {
      checkSpan(p.span, len, 'ProbeDesc');
      for (const part of p.parts) checkSpan(part.span, len, 'ProbePart');
    }
    const visit = (e: Expr): void => {
      checkSpan(e.span, len, e.kind);
      if (e.kind === 'Call') checkSpan(e.calleeSpan, len, 'Call callee');
      if (e.kind === 'Member') checkSpan(e.propertySpan, len, 'Member property');
      if (e.kind === 'Cast') checkSpan(e.type.span, len, 'Cast type');
    };
    if (item.predicate) walkExprs([{ kind: 'ExprStmt', expr: item.predicate, span: item.predicate.span }], visit);
    walkExprs(item.body, visit);
    const stmts = [...item.body];
    while (stmts.length) {
      const s = stmts.pop()!;
      checkSpan(s.span, len, s.kind);
      if (s.kind === 'If') stmts.push(...s.then, ...(s.else ?? []));
    }
  }
}

describe('parser fuzz', () => {
  it(`${CASES} generated programs parse to the tree they came from; mutated ones never break parse()`, () => {
    const r = new Rand(prng(SEED));
    const gen = new ProgramGen(r);
    let mutatedWithErrors = 0;
    for (let i = 0; i < CASES; i++) {
      const g = gen.program();
      const clean = parse(new Source('gen.d', g.text));
      if (clean.diagnostics.length || summarize(clean.program).join('\n') !== g.items.join('\n')) {
        // Shows the case, its diagnostics and the tree difference.
        expect({ case: i, text: g.text, diagnostics: clean.diagnostics.map((d) => d.message), items: summarize(clean.program) }).toEqual({
          case: i, text: g.text, diagnostics: [], items: g.items,
        });
      }
      checkAst(clean.program, g.text.length);

      const text = mutate(g.text, r);
      let result: ReturnType<typeof parse>;
      try {
        result = parse(new Source('mutated.d', text));
      } catch (e) {
        throw new Error(`case ${i}: parse threw on ${JSON.stringify(text)}: ${String(e)}`);
      }
      try {
        checkDiagnostics(result.diagnostics, text.length);
        checkAst(result.program, text.length);
      } catch (e) {
        throw new Error(`case ${i} (${JSON.stringify(text)}): ${e instanceof Error ? e.message : String(e)}`);
      }
      if (result.diagnostics.length) mutatedWithErrors++;
    }
    // The mutations must actually exercise error paths.
    expect(mutatedWithErrors).toBeGreaterThan(CASES / 3);
  });
});

// The compiler, at a glance (pure: no I/O, no process, no clock):
//
//   1. parse      src/lang/parse.ts     text -> AST + syntax diagnostics
//   2. check      checker.ts            AST + facts -> types, symbols, probes (probes.ts; source lines:
//                                       lines.ts), diagnostics
//   3. lower      lower.ts              D constructs -> bpftrace text through emitter.ts (with a source map)
//
// A phase that reports an error stops the phases after it. Facts (facts.ts) are the only
// view of the machine; program.ts is the only thing the runner takes from here.

import { parse } from '../lang/parse.js';
import { hasErrors, type Diagnostic } from '../lang/diagnostics.js';
import type { Program } from '../lang/ast.js';
import type { Source } from '../lang/source.js';
import { check } from './checker.js';
import type { Facts } from './facts.js';
import { lower } from './lower.js';
import type { CompiledProgram } from './program.js';

export interface CompileOptions {
  /** Reprint aggregations every N ms (-i). */
  readonly intervalMs?: number | null;
  /** -q */
  readonly quiet?: boolean;
}

export interface CompileResult {
  readonly program: CompiledProgram | null;
  readonly diagnostics: Diagnostic[];
  /** The AST, when parsing got that far (for tools: REPL, list). */
  readonly ast: Program | null;
}

export function compile(source: Source, facts: Facts, options: CompileOptions = {}): CompileResult {
  const parsed = parse(source);
  if (hasErrors(parsed.diagnostics)) return { program: null, diagnostics: parsed.diagnostics, ast: parsed.program };
  return compileAst(parsed.program, source, facts, options, parsed.diagnostics);
}

export function compileAst(ast: Program, source: Source, facts: Facts, options: CompileOptions = {}, prior: Diagnostic[] = []): CompileResult {
  const analysis = check(ast, source, facts);
  const diagnostics = [...prior, ...analysis.diagnostics];
  if (hasErrors(diagnostics)) return { program: null, diagnostics: sortDiags(diagnostics), ast };
  const lowered = lower(analysis, source, facts, { intervalMs: options.intervalMs ?? null });
  diagnostics.push(...lowered.diagnostics);
  if (hasErrors(diagnostics)) return { program: null, diagnostics: sortDiags(diagnostics), ast };
  const raw = Object.fromEntries(analysis.options);
  const program: CompiledProgram = {
    text: lowered.text,
    sourceMap: lowered.sourceMap,
    aggregations: lowered.aggregations,
    internalMaps: lowered.internalMaps,
    printa: lowered.printa,
    printedAtEnd: lowered.printedAtEnd,
    options: {
      quiet: options.quiet === true || analysis.options.has('quiet'),
      intervalMs: options.intervalMs ?? null,
      destructive: facts.destructive || analysis.options.has('destructive'),
      raw,
    },
    bpftraceArgs: lowered.bpftraceArgs,
    expectations: analysis.expectations,
  };
  return { program, diagnostics: sortDiags(diagnostics), ast };
}

function sortDiags(d: Diagnostic[]): Diagnostic[] {
  return [...d].sort((a, b) => a.span.start - b.span.start);
}

// The compiler's phases after parsing: AST + facts -> checked -> lowered -> a compiled program
// (compile.ts lists them all). Apart from compile.ts so that a caller holding an AST (the run,
// with a parse from the cache) does not load the parser.

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

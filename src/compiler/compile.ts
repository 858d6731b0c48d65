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
import { hasErrors } from '../lang/diagnostics.js';
import type { Source } from '../lang/source.js';
import { compileAst, type CompileOptions, type CompileResult } from './compile-ast.js';
import type { Facts } from './facts.js';

export { compileAst, type CompileOptions, type CompileResult } from './compile-ast.js';

export function compile(source: Source, facts: Facts, options: CompileOptions = {}): CompileResult {
  const parsed = parse(source);
  if (hasErrors(parsed.diagnostics)) return { program: null, diagnostics: parsed.diagnostics, ast: parsed.program };
  return compileAst(parsed.program, source, facts, options, parsed.diagnostics);
}

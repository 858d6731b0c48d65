// Diagnostics are values: every phase returns them, none throws them.
// Codes: CT1xxx lexical and syntax, CT2xxx semantic, CT3xxx probes and target facts,
// CT4xxx reported by bpftrace and mapped back to the user's source.

import type { Source, Span } from './source.js';

export type Severity = 'error' | 'warning' | 'note';

export interface Related {
  readonly message: string;
  readonly span: Span;
}

export interface Diagnostic {
  readonly code: Code;
  readonly severity: Severity;
  readonly message: string;
  readonly span: Span;
  readonly hints?: readonly string[];
  readonly related?: readonly Related[];
}

export const Codes = {
  // lexical and syntax
  UnexpectedCharacter: 'CT1001',
  UnterminatedString: 'CT1002',
  BadEscape: 'CT1003',
  BadNumber: 'CT1004',
  UnterminatedComment: 'CT1005',
  SyntaxError: 'CT1010',
  MissingBlock: 'CT1011',
  BadProbeName: 'CT1012',
  BadPragma: 'CT1013',
  // semantic
  UnknownFunction: 'CT2001',
  UnknownAggregation: 'CT2002',
  UnknownBuiltin: 'CT2003',
  WrongArity: 'CT2004',
  AggregationAsValue: 'CT2005',
  SelfReadBeforeWrite: 'CT2006',
  TypeMismatch: 'CT2007',
  NotAssignable: 'CT2008',
  AggregationMismatch: 'CT2009',
  BadArgument: 'CT2010',
  UnknownOption: 'CT2011',
  DestructiveNotAllowed: 'CT2012',
  ThisReadBeforeWrite: 'CT2013',
  UnknownVariable: 'CT2014',
  NotInContext: 'CT2015',
  ScriptArgMissing: 'CT2016',
  Unsupported: 'CT2017',
  VariableUnreadable: 'CT2018',
  // probes and target facts
  UnknownProvider: 'CT3001',
  ProbeTypeUnavailable: 'CT3002',
  NeedsTarget: 'CT3003',
  UnknownTracepoint: 'CT3004',
  UnknownSyscall: 'CT3005',
  UnknownModule: 'CT3006',
  GoReturnProbeUnsupported: 'CT3007',
  NoSourceFile: 'CT3008',
  NoCodeAtLine: 'CT3009',
  AmbiguousSourceFile: 'CT3010',
  // bpftrace
  BpftraceError: 'CT4001',
  BpftraceWarning: 'CT4002',
  // trace check expectations (src/check/expect.ts)
  ExpectSyntax: 'CT5001',
  ExpectUnknownFunction: 'CT5002',
  ExpectUnknownAggregation: 'CT5003',
  ExpectWrongFunction: 'CT5004',
  ExpectKeys: 'CT5005',
  ExpectUnits: 'CT5006',
  ExpectNoEvents: 'CT5007',
  ExpectNoDuration: 'CT5008',
} as const;

export type Code = (typeof Codes)[keyof typeof Codes];

export function error(code: Code, message: string, span: Span, hints?: string[], related?: Related[]): Diagnostic {
  return { code, severity: 'error', message, span, ...(hints?.length ? { hints } : {}), ...(related?.length ? { related } : {}) };
}

export function warning(code: Code, message: string, span: Span, hints?: string[]): Diagnostic {
  return { code, severity: 'warning', message, span, ...(hints?.length ? { hints } : {}) };
}

export function hasErrors(diags: readonly Diagnostic[]): boolean {
  return diags.some((d) => d.severity === 'error');
}

/**
 * Renders a diagnostic the way compilers do:
 *
 *     probe.d:3:22: error CT2003: unknown builtin 'pidd'
 *       3 | syscall::read:entry /pidd == 1/ {
 *         |                      ^~~~
 *     hint: did you mean 'pid'?
 *
 * `paint` colours the parts; the default leaves them plain.
 */
export function formatDiagnostic(d: Diagnostic, source: Source, paint: Painter = plain): string {
  const out: string[] = [];
  out.push(...formatAt(source, d.span, `${paint.severity(d.severity, `${d.severity} ${d.code}`)}: ${paint.bold(d.message)}`, paint));
  for (const r of d.related ?? []) out.push(...formatAt(source, r.span, `${paint.note('note')}: ${r.message}`, paint));
  for (const h of d.hints ?? []) out.push(`${paint.note('hint')}: ${h}`);
  return out.join('\n');
}

function formatAt(source: Source, s: Span, headline: string, paint: Painter): string[] {
  const { line, col } = source.lineCol(s.start);
  const text = source.lineText(line).replace(/\t/g, ' ');
  const gutter = String(line);
  const pad = ' '.repeat(gutter.length);
  const lineEnd = source.offsetOf(line, text.length + 1);
  const width = Math.max(1, Math.min(s.end, lineEnd) - s.start);
  const underline = '^' + '~'.repeat(width - 1);
  return [
    `${source.name}:${line}:${col}: ${headline}`,
    `  ${gutter} | ${text}`,
    `  ${pad} | ${' '.repeat(col - 1)}${paint.caret(underline)}`,
  ];
}

export interface Painter {
  severity(sev: Severity, text: string): string;
  bold(text: string): string;
  note(text: string): string;
  caret(text: string): string;
}

export const plain: Painter = {
  severity: (_s, t) => t,
  bold: (t) => t,
  note: (t) => t,
  caret: (t) => t,
};

/** Closest candidate by edit distance, for "did you mean" hints. */
export function suggest(name: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDist = Infinity;
  for (const c of candidates) {
    const d = editDistance(name.toLowerCase(), c.toLowerCase());
    if (d < bestDist) {
      bestDist = d;
      best = c;
    }
  }
  const limit = name.length <= 3 ? 1 : name.length <= 6 ? 2 : 3;
  return bestDist <= limit ? best : undefined;
}

function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length]!;
}

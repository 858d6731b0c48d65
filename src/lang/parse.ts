// The front end's one entry point: text -> AST + diagnostics. Never throws.
//
// The lexer cuts the program into top-level items; each clause is parsed on its own, so a
// broken clause cannot swallow the ones after it, and at most one syntax error is reported
// per clause (the first; later ones are usually its echoes). Lexical errors are all reported.

import type { IToken } from 'chevrotain';
import type { Clause, Pragma, Program } from './ast.js';
import { buildClause, buildPragma } from './build-ast.js';
import { Codes, error, type Diagnostic } from './diagnostics.js';
import { ANGLE_HINT, lex, type Item, type LexResult } from './lexer.js';
import { parser } from './parser.js';
import type { Source, Span } from './source.js';
import { TooManyErrors, type SyntaxProblem } from './syntax-messages.js';
import * as T from './tokens.js';

export function parse(source: Source): { program: Program; diagnostics: Diagnostic[] } {
  const text = source.text;
  const diagnostics: Diagnostic[] = [];
  const items: (Clause | Pragma)[] = [];
  try {
    const lexed = lex(text);
    diagnostics.push(...lexed.diagnostics);
    const lexicalStarts = lexed.diagnostics.map((d) => d.span.start).sort((a, b) => a - b);
    const lexicalAt = new Set(lexicalStarts);
    lexed.items.forEach((item, i) => {
      if (item.kind === 'pragma') {
        const p = buildPragma(lexed.tokens[item.token]!);
        if (p) items.push(p);
        return;
      }
      const { clause, diagnostic } = parseClause(source, lexed, lexicalStarts, item, lexed.items[i - 1]);
      if (clause) items.push(clause);
      if (diagnostic && !lexicalAt.has(diagnostic.span.start)) diagnostics.push(diagnostic);
    });
  } catch (e) {
    // Not expected; but a compiler front end must answer with a diagnostic, not a crash.
    diagnostics.push(error(Codes.SyntaxError, `internal error in the parser: ${e instanceof Error ? e.message : String(e)}`, { start: 0, end: 0 }));
  }
  diagnostics.sort((a, b) => a.span.start - b.span.start);
  return { program: { kind: 'Program', items, span: { start: 0, end: text.length } }, diagnostics };
}

interface Found {
  readonly span: Span;
  readonly problem: SyntaxProblem;
}

function parseClause(
  source: Source,
  lexed: LexResult,
  lexicalStarts: readonly number[],
  item: Extract<Item, { kind: 'clause' }>,
  previous: Item | undefined,
): { clause: Clause | null; diagnostic: Diagnostic | null } {
  const tokens = lexed.tokens.slice(item.from, item.to);
  const follow = lexed.tokens[item.to];
  // Errors at the clause's end point at what follows it, or past the input's last token.
  const endSpan = (follow && tokenSpan(follow)) ?? endOfInput(lexed.tokens, source.text.length);
  const { clause, found } = runParser(source, tokens, endSpan);
  // An unterminated comment ran to the end: what the parser then missed is its echo.
  const swallowed = follow === undefined && lexed.swallowedFrom < source.text.length;
  let first: Found | undefined;
  for (const f of found) {
    if (swallowed && f.span === endSpan) continue;
    if (!first || f.span.start < first.span.start) first = f;
  }
  if (!first || lexicalCause(lexicalStarts, tokens, first.span.start)) return { clause, diagnostic: null };
  const hints = [...first.problem.hints];
  if (followsAngleCloseOnSameLine(source.text, lexed.tokens, first.span.start, previous)) hints.push(ANGLE_HINT);
  return { clause, diagnostic: error(first.problem.code, first.problem.message, first.span, hints, first.problem.related) };
}

/** Parses one clause's tokens into a Clause (partial if need be), with every syntax error found. */
function runParser(source: Source, tokens: IToken[], endSpan: Span): { clause: Clause | null; found: Found[] } {
  const collect = (): Found[] => [
    ...parser.errors.map((ex) => ({ span: tokenSpan(ex.token) ?? endSpan, problem: parser.messages.problemOf(ex.message) ?? problemOf('syntax error') })),
    ...parser.actionErrors.map((ae) => ({ span: tokenSpan(ae.token) ?? endSpan, problem: problemOf(ae.message) })),
  ];
  try {
    parser.messages.begin(source, tokens);
    try {
      const cst = parser.parseClause(tokens);
      return { clause: buildClause(cst), found: collect() };
    } catch (e) {
      if (!(e instanceof TooManyErrors)) throw e;
      // Hostile input: keep the errors so far, and build what precedes the first of them,
      // or failing that (deep unclosed nesting errs once per level), the clause's header.
      const found = collect();
      const firstAt = found.reduce((m, f) => Math.min(m, f.span.start), Infinity);
      const blockAt = tokens.findIndex((t) => t.tokenType === T.LCurly || t.tokenType === T.LAngle);
      for (const prefix of [tokens.filter((t) => t.startOffset < firstAt), tokens.slice(0, blockAt < 0 ? tokens.length : blockAt)]) {
        parser.messages.begin(source, prefix);
        try {
          return { clause: buildClause(parser.parseClause(prefix)), found };
        } catch (again) {
          if (!(again instanceof TooManyErrors)) throw again;
        }
      }
      return { clause: null, found };
    }
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
    const first = tokens[0];
    return { clause: null, found: [{ span: (first && tokenSpan(first)) ?? endSpan, problem: problemOf('this clause is nested too deeply to parse') }] };
  }
}

function problemOf(message: string): SyntaxProblem {
  return { code: Codes.SyntaxError, message, hints: [], related: [] };
}

/**
 * A lexical error on the token before a syntax error, or on characters dropped between the
 * two, is its cause (an unterminated string ate the ';'; a stray '`' left a gap): report that only.
 */
function lexicalCause(lexicalStarts: readonly number[], tokens: readonly IToken[], at: number): boolean {
  let prevStart = at;
  for (const t of tokens) {
    if (t.startOffset >= at) break;
    prevStart = t.startOffset;
  }
  // First lexical diagnostic at or after prevStart (starts are sorted).
  let lo = 0;
  let hi = lexicalStarts.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (lexicalStarts[mid]! < prevStart) lo = mid + 1;
    else hi = mid;
  }
  return lo < lexicalStarts.length && lexicalStarts[lo]! <= at;
}

/** An error right after a `< >` block, on the same line, is most likely a '>' that closed it too early. */
function followsAngleCloseOnSameLine(text: string, tokens: readonly IToken[], at: number, previous: Item | undefined): boolean {
  if (previous?.kind !== 'clause' || previous.closedBy !== 'angle') return false;
  const close = tokens[previous.to - 1];
  return !!close && !text.slice(close.startOffset, at).includes('\n');
}

function tokenSpan(t: IToken): Span | null {
  return Number.isFinite(t.startOffset) ? { start: t.startOffset, end: t.startOffset + t.image.length } : null;
}

/** Errors at the end of the input point just past the last token (a 1-char span where the text allows). */
function endOfInput(tokens: readonly IToken[], length: number): Span {
  const last = tokens[tokens.length - 1];
  const p = last ? last.startOffset + last.image.length : 0;
  return { start: p, end: Math.min(p + 1, length) };
}

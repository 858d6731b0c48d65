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
import type { SyntaxProblem } from './syntax-messages.js';

export function parse(source: Source): { program: Program; diagnostics: Diagnostic[] } {
  const text = source.text;
  const diagnostics: Diagnostic[] = [];
  const items: (Clause | Pragma)[] = [];
  try {
    const lexed = lex(text);
    diagnostics.push(...lexed.diagnostics);
    const lexicalStarts = new Set(lexed.diagnostics.map((d) => d.span.start));
    lexed.items.forEach((item, i) => {
      if (item.kind === 'pragma') {
        const p = buildPragma(lexed.tokens[item.token]!);
        if (p) items.push(p);
        return;
      }
      const { clause, diagnostic } = parseClause(source, lexed, item, lexed.items[i - 1]);
      if (clause) items.push(clause);
      if (diagnostic && !lexicalStarts.has(diagnostic.span.start)) diagnostics.push(diagnostic);
    });
  } catch (e) {
    // Not expected; but a compiler front end must answer with a diagnostic, not a crash.
    diagnostics.push(error(Codes.SyntaxError, `internal error in the parser: ${e instanceof Error ? e.message : String(e)}`, { start: 0, end: 0 }));
  }
  diagnostics.sort((a, b) => a.span.start - b.span.start);
  return { program: { kind: 'Program', items, span: { start: 0, end: text.length } }, diagnostics };
}

function parseClause(
  source: Source,
  lexed: LexResult,
  item: Extract<Item, { kind: 'clause' }>,
  previous: Item | undefined,
): { clause: Clause | null; diagnostic: Diagnostic | null } {
  const tokens = lexed.tokens.slice(item.from, item.to);
  const follow = lexed.tokens[item.to];
  const atEnd = follow === undefined;
  const endSpan = (follow && tokenSpan(follow)) ?? endOfInput(lexed.tokens, source.text.length);
  let clause: Clause | null = null;
  let found: { span: Span; problem: SyntaxProblem }[] = [];
  try {
    parser.messages.begin(source, tokens);
    const cst = parser.parseClause(tokens);
    for (const ex of parser.errors) {
      const problem = parser.messages.problemOf(ex.message) ?? problemOf('syntax error');
      found.push({ span: tokenSpan(ex.token) ?? endSpan, problem });
    }
    for (const ae of parser.actionErrors) {
      found.push({ span: tokenSpan(ae.token) ?? endSpan, problem: problemOf(ae.message) });
    }
    clause = buildClause(cst);
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
    const first = tokens[0];
    const span = (first && tokenSpan(first)) ?? endSpan;
    found = [{ span, problem: problemOf('this clause is nested too deeply to parse') }];
  }
  // An unterminated comment ran to the end: what the parser then missed is its echo.
  if (atEnd && lexed.swallowedFrom < source.text.length) found = found.filter((f) => f.span !== endSpan);
  found.sort((a, b) => a.span.start - b.span.start);
  const first = found[0];
  if (first && lexicalCause(lexed, tokens, first.span.start)) return { clause, diagnostic: null };
  if (!first) return { clause, diagnostic: null };
  const hints = [...first.problem.hints];
  if (followsAngleCloseOnSameLine(source.text, lexed.tokens, first.span.start, previous)) hints.push(ANGLE_HINT);
  return { clause, diagnostic: error(first.problem.code, first.problem.message, first.span, hints, first.problem.related) };
}

function problemOf(message: string): SyntaxProblem {
  return { code: Codes.SyntaxError, message, hints: [], related: [] };
}

/**
 * A lexical error on the token before a syntax error, or on characters dropped between the
 * two, is its cause (an unterminated string ate the ';'; a stray '`' left a gap): report that only.
 */
function lexicalCause(lexed: LexResult, tokens: readonly IToken[], at: number): boolean {
  let prevStart = at;
  for (const t of tokens) {
    if (t.startOffset >= at) break;
    prevStart = t.startOffset;
  }
  return lexed.diagnostics.some((d) => d.span.start >= prevStart && d.span.start <= at);
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

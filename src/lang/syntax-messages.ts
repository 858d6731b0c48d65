// Turns chevrotain's recognition errors into plain-words syntax diagnostics
// ("expected an expression after '=='", "expected '}' to close the block opened at line 1").
// chevrotain only carries a message string on its exceptions, so the provider files each
// problem in `problems` and returns its index as the "message"; parse.ts looks it up.

import { EOF, tokenMatcher, type IParserErrorMessageProvider, type IToken, type TokenType } from 'chevrotain';
import { Codes, type Code, type Related } from './diagnostics.js';
import type { Source } from './source.js';
import * as T from './tokens.js';
import { describeType, quote } from './tokens.js';

export interface SyntaxProblem {
  readonly code: Code;
  readonly message: string;
  readonly hints: string[];
  readonly related: Related[];
}

/** Tokens that can begin an expression: any of them in an expected set reads "an expression". */
const EXPR_STARTS: ReadonlySet<TokenType> = new Set([
  T.Int, T.Char, T.Str, T.Ident, T.ScriptArg, T.MacroVar, T.Self, T.This, T.Agg, T.LParen,
  T.UnaryOp, T.IncDec, T.Star, T.Amp, T.Plus, T.Minus, T.Bang, T.Tilde, T.PlusPlus, T.MinusMinus,
]);

/** Tokens after which an operand must follow. */
const NEEDS_OPERAND: readonly TokenType[] = [
  T.BinaryOp, T.UnaryOp, T.AssignOp, T.IncDec, T.LParen, T.LBracket, T.Comma, T.Question, T.Colon, T.PredOpen,
];

/** Rules with comma-separated lists closed by ')' or ']'. */
const LIST_RULES: ReadonlySet<string> = new Set(['callArgs', 'postfixOp', 'unaryExpr']);

const OPENER_OF: ReadonlyMap<TokenType, { readonly open: TokenType; readonly what: string }> = new Map([
  [T.RCurly, { open: T.LCurly, what: 'the block' }],
  [T.AngleClose, { open: T.LAngle, what: 'the block' }],
  [T.RParen, { open: T.LParen, what: "the '('" }],
  [T.RBracket, { open: T.LBracket, what: "the '['" }],
  [T.PredClose, { open: T.PredOpen, what: 'the predicate' }],
]);

/**
 * Thrown by the provider once a clause has this many errors: only its first is reported, and
 * chevrotain's recovery costs grow with every further error (hostile input can make thousands).
 */
export class TooManyErrors extends Error {}
const MAX_ERRORS_PER_CLAUSE = 25;

export class SyntaxMessages implements IParserErrorMessageProvider {
  readonly problems: SyntaxProblem[] = [];
  private source: Source | null = null;
  private tokens: readonly IToken[] = [];

  /** Called before each clause is parsed. */
  begin(source: Source, tokens: readonly IToken[]): void {
    this.source = source;
    this.tokens = tokens;
    this.problems.length = 0;
  }

  problemOf(message: string): SyntaxProblem | undefined {
    return /^\d+$/.test(message) ? this.problems[Number(message)] : undefined;
  }

  buildMismatchTokenMessage(o: { expected: TokenType; actual: IToken; previous: IToken; ruleName: string }): string {
    const { expected, actual } = o;
    const prev = real(o.previous);
    const opener = OPENER_OF.get(expected);
    if (opener) {
      const list = expected === T.RParen || expected === T.RBracket;
      if (list && prev && tokenMatcher(prev, opener.open)) {
        return this.add(`expected an expression or ${describeType(expected)} after ${quote(prev.image)}`);
      }
      // Inside argument and key lists, a ',' would do as well.
      if (list && prev && !isEnd(actual) && LIST_RULES.has(o.ruleName)) {
        return this.add(`expected ',' or ${describeType(expected)} after ${quote(prev.image)}, found ${quote(actual.image)}`);
      }
      const isBlock = expected === T.RCurly || expected === T.AngleClose;
      if (isBlock && !isEnd(actual)) return this.add(`unexpected ${quote(actual.image)}`);
      const open = this.findOpener(opener.open, expected, actual);
      if (!open) return this.add(`expected ${describeType(expected)}${found(actual)}`);
      const line = this.source?.lineCol(open.startOffset).line ?? 0;
      const verb = expected === T.PredClose ? 'end' : 'close';
      return this.add(`expected ${describeType(expected)} to ${verb} ${opener.what} opened at line ${line}`, [], [
        { message: `${opener.what} opened here`, span: { start: open.startOffset, end: open.startOffset + open.image.length } },
      ]);
    }
    if (expected === T.Ident && prev && (prev.tokenType === T.Arrow || prev.tokenType === T.Dot)) {
      return this.add(`expected a field name after ${quote(prev.image)}`);
    }
    if (expected === T.Arrow && prev && (prev.tokenType === T.Self || prev.tokenType === T.This)) {
      return this.add(`expected '->' after '${prev.image}'`, [`${prev.image} variables are written ${prev.image}->name`]);
    }
    if (expected === T.ProbeDesc) {
      return this.add(prev?.tokenType === T.Comma ? "expected a probe description after ','" : `expected a probe description before ${quote(actual.image)}`);
    }
    if (expected === T.Colon) return this.add(`expected ':' to complete the '?' expression${found(actual)}`);
    return this.add(`expected ${describeType(expected)}${prev ? ` after ${quote(prev.image)}` : ''}${found(actual)}`);
  }

  buildNotAllInputParsedMessage(o: { firstRedundant: IToken; ruleName: string }): string {
    return this.add(`unexpected ${quote(o.firstRedundant.image)}`);
  }

  buildNoViableAltMessage(o: {
    expectedPathsPerAlt: TokenType[][][];
    actual: IToken[];
    previous: IToken;
    customUserDescription?: string;
    ruleName: string;
  }): string {
    const firsts = o.expectedPathsPerAlt.flatMap((alt) => alt.map((path) => path[0]).filter((t) => t !== undefined));
    return this.expectedOneOf(firsts, o.actual[0], o.previous);
  }

  buildEarlyExitMessage(o: {
    expectedIterationPaths: TokenType[][];
    actual: IToken[];
    previous: IToken;
    customUserDescription?: string;
    ruleName: string;
  }): string {
    const firsts = o.expectedIterationPaths.map((path) => path[0]).filter((t) => t !== undefined);
    return this.expectedOneOf(firsts, o.actual[0], o.previous);
  }

  private expectedOneOf(firsts: TokenType[], actual: IToken | undefined, previous: IToken): string {
    const prev = real(previous);
    if (firsts.includes(T.LCurly) && firsts.includes(T.LAngle)) {
      const after = prev?.tokenType === T.PredClose ? 'the predicate' : 'the probe description';
      const hints = actual?.tokenType === T.ProbeDesc ? ["separate the probe descriptions of one clause with ','"] : [];
      return this.add(`expected '{' or '<' to start the actions after ${after}`, hints, [], Codes.MissingBlock);
    }
    if (firsts.includes(T.If)) return this.add(`expected a statement${prev ? ` after ${quote(prev.image)}` : found(actual)}`);
    if (firsts.some((t) => EXPR_STARTS.has(t))) {
      if (prev && NEEDS_OPERAND.some((t) => tokenMatcher(prev, t))) return this.add(`expected an expression after ${quote(prev.image)}`);
      return this.add(`expected an expression${found(actual)}`);
    }
    const names = [...new Set(firsts.map(describeType))];
    const list = names.length <= 1 ? (names[0] ?? 'something else') : `${names.slice(0, -1).join(', ')} or ${names[names.length - 1]}`;
    return this.add(`expected ${list}${found(actual)}`);
  }

  /** The unclosed opener that `closer` should have matched, scanning back from `at`. */
  private findOpener(open: TokenType, close: TokenType, at: IToken): IToken | undefined {
    // Only the first errors of a clause are reported: spare recovery's later ones the linear scan.
    if (this.problems.length > 2) return undefined;
    const idx = this.tokens.indexOf(at);
    let depth = 0;
    for (let i = (idx < 0 ? this.tokens.length : idx) - 1; i >= 0; i--) {
      const t = this.tokens[i]!;
      if (t.tokenType === close) depth++;
      else if (t.tokenType === open) {
        if (depth === 0) return t;
        depth--;
      }
    }
    return undefined;
  }

  private add(message: string, hints: string[] = [], related: Related[] = [], code: Code = Codes.SyntaxError): string {
    if (this.problems.length >= MAX_ERRORS_PER_CLAUSE) throw new TooManyErrors();
    this.problems.push({ code, message, hints, related });
    return String(this.problems.length - 1);
  }
}

/** chevrotain passes its EOF token (offsets NaN) where there is no previous or next token. */
function real(t: IToken | undefined): IToken | undefined {
  return t && t.tokenType !== EOF && Number.isFinite(t.startOffset) ? t : undefined;
}

function isEnd(t: IToken | undefined): boolean {
  return !t || t.tokenType === EOF;
}

function found(t: IToken | undefined): string {
  return isEnd(t) ? ' at the end of the input' : `, found ${quote(t!.image)}`;
}

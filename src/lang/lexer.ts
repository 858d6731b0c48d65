// The lexer: hand-written because D's tokens depend on where they appear.
//  - At the top level a probe description (`syscall::read:entry`, `uprobe:/bin/x:"a.(*b).c"`)
//    is one token; inside a clause the same characters are ordinary expression tokens.
//  - Inside a predicate, a '/' at nesting depth 0 closes it; inside a `< >` block, a '>' at
//    depth 0 closes it. So the lexer tracks a stack of open delimiters ("frames").
// The same stack cuts the token stream into top-level items (clauses and pragmas), so that
// parse.ts can parse each clause on its own: an error in one clause cannot swallow the next.

import type { IToken, TokenType } from 'chevrotain';
import type { ProbePart } from './ast.js';
import { Codes, error, type Code, type Diagnostic } from './diagnostics.js';
import * as T from './tokens.js';
import { printable, quote } from './tokens.js';
import { isDigit, isIdentPart, isIdentStart, isSpace, scanNumber, scanQuoted, type Report } from './literals.js';

export type Item =
  | {
      readonly kind: 'clause';
      /** Token index range [from, to). */
      readonly from: number;
      readonly to: number;
      /** How the clause's block was closed, null if it never was. */
      readonly closedBy: 'brace' | 'angle' | null;
    }
  | { readonly kind: 'pragma'; readonly token: number };

export interface LexResult {
  readonly tokens: readonly IToken[];
  readonly items: readonly Item[];
  readonly diagnostics: readonly Diagnostic[];
  /** Offset where an unterminated comment swallowed the rest of the input (text.length if none). */
  readonly swallowedFrom: number;
}

type Frame = 'brace' | 'angle' | 'pred' | 'paren' | 'bracket';

export const ANGLE_HINT = "inside '< >', a '>' outside parentheses ends the block: write comparisons and shifts in parentheses, e.g. < @big = (x > 10) >";
export const PREDICATE_HINT = "a '/' outside parentheses ends the predicate: write division in parentheses, e.g. /(x / 2) > 1/";


// Operators grouped by first character, longest first.
const OPS_BY_CHAR = new Map<string, (readonly [string, TokenType])[]>();
for (const op of T.OPERATORS) {
  const list = OPS_BY_CHAR.get(op[0][0]!) ?? [];
  list.push(op);
  OPS_BY_CHAR.set(op[0][0]!, list);
}

/** Characters of an unquoted probe part. */
const isProbeChar = (c: string | undefined): boolean => isIdentPart(c) || (c !== undefined && '$.*?+-[]!~@()'.includes(c));
/** Characters that make a run of probe characters a probe, not stray punctuation like ')'. */
const isProbeWordChar = (c: string | undefined): boolean => isIdentPart(c) || c === '*' || c === '?' || c === '$';
/** A path part (starting with '/') runs to the next ':' or whitespace or clause punctuation. */
const isPathChar = (c: string | undefined): boolean =>
  c !== undefined && !isSpace(c) && !':{}<>,;"'.includes(c) && c >= ' ';
/** Characters that can start some token; anything else is reported as unexpected. */
const isKnownChar = (c: string | undefined): boolean =>
  isIdentPart(c) || isSpace(c) || (c !== undefined && `"'@$#+-*/%<>=!~&|^?:;,.()[]{}`.includes(c));

export function lex(text: string): LexResult {
  return new Scanner(text).run();
}

class Scanner {
  private pos = 0;
  private readonly len: number;
  private readonly tokens: IToken[] = [];
  private readonly items: Item[] = [];
  private readonly diags: Diagnostic[] = [];
  private readonly frames: Frame[] = [];
  /** First token of the clause being lexed, -1 between items. */
  private itemFrom = -1;
  private lastTopType: TokenType | null = null;
  private lastType: TokenType | null = null;
  private newlineSeen = false;
  /** Stray top-level tokens are reported once per run, not once each. */
  private junkRun = false;
  private swallowedFrom: number;
  /** End of a run of punctuation already found not to be a probe description. */
  private notProbeUntil = 0;

  constructor(private readonly text: string) {
    this.len = text.length;
    this.swallowedFrom = text.length;
  }

  run(): LexResult {
    for (;;) {
      this.skipTrivia();
      if (this.pos >= this.len) break;
      if (this.frames.length === 0) this.lexTop();
      else this.lexInner();
    }
    if (this.itemFrom >= 0) this.closeItem(null);
    return { tokens: this.tokens, items: this.items, diagnostics: this.diags, swallowedFrom: this.swallowedFrom };
  }

  private diag(code: Code, message: string, start: number, end: number, hints?: string[]): void {
    this.diags.push(error(code, message, { start, end }, hints));
  }

  private readonly report: Report = (code, message, start, end, hints) => this.diag(code, message, start, end, hints);

  // ---- whitespace, comments, shebang ----

  private skipTrivia(): void {
    const s = this.text;
    while (this.pos < this.len) {
      const c = s[this.pos];
      if (c === '\n') {
        this.newlineSeen = true;
        this.pos++;
      } else if (isSpace(c) || (c === '\uFEFF' && this.pos === 0)) {
        this.pos++;
      } else if (c === '/' && s[this.pos + 1] === '/') {
        this.pos = this.lineEnd(this.pos);
      } else if (c === '/' && s[this.pos + 1] === '*') {
        const end = s.indexOf('*/', this.pos + 2);
        if (end < 0) {
          this.diag(Codes.UnterminatedComment, "unterminated comment: '/*' has no matching '*/'", this.pos, this.pos + 2);
          this.swallowedFrom = this.pos;
          this.pos = this.len;
        } else {
          if (s.slice(this.pos, end).includes('\n')) this.newlineSeen = true;
          this.pos = end + 2;
        }
      } else if (c === '#' && s[this.pos + 1] === '!' && this.pos === 0) {
        this.pos = this.lineEnd(this.pos);
      } else {
        return;
      }
    }
  }

  private lineEnd(from: number): number {
    const nl = this.text.indexOf('\n', from);
    return nl < 0 ? this.len : nl;
  }

  // ---- emitting tokens and grouping them into items ----

  private emit(tok: IToken): void {
    this.tokens.push(tok);
    this.lastType = tok.tokenType;
    this.newlineSeen = false;
  }

  /** A token lexed at the top level: it starts, continues or falls between clauses. */
  private emitTop(tok: IToken): void {
    const type = tok.tokenType;
    if (this.itemFrom >= 0) {
      // A probe on a new line right after a complete header is the next clause: the
      // previous one lacks its block (the parser reports that).
      const splits =
        type === T.ProbeDesc && this.newlineSeen && (this.lastTopType === T.ProbeDesc || this.lastTopType === T.PredClose);
      if (!splits) {
        this.lastTopType = type;
        this.emit(tok);
        return;
      }
      this.closeItem(null);
    }
    if (type === T.ProbeDesc || type === T.LCurly || type === T.LAngle || type === T.PredOpen) {
      this.itemFrom = this.tokens.length;
      this.lastTopType = type;
      this.junkRun = false;
    } else if (!this.junkRun) {
      this.junkRun = true;
      const angle = this.afterAngleCloseOnSameLine(tok.startOffset);
      this.diag(Codes.SyntaxError, `unexpected ${quote(tok.image)}`, tok.startOffset, tok.startOffset + tok.image.length,
        angle ? [ANGLE_HINT] : undefined);
    }
    this.emit(tok);
  }

  private closeItem(closedBy: 'brace' | 'angle' | null): void {
    this.items.push({ kind: 'clause', from: this.itemFrom, to: this.tokens.length, closedBy });
    this.itemFrom = -1;
    this.lastTopType = null;
    this.junkRun = false;
  }

  private afterAngleCloseOnSameLine(offset: number): boolean {
    const last = this.items[this.items.length - 1];
    if (last?.kind !== 'clause' || last.closedBy !== 'angle') return false;
    const close = this.tokens[last.to - 1]!;
    return !this.text.slice(close.startOffset, offset).includes('\n');
  }

  // ---- top level: probes, pragmas, clause punctuation ----

  private lexTop(): void {
    const c = this.text[this.pos]!;
    if (c === '#') return this.lexHash(true);
    if ((isProbeChar(c) || c === ':' || c === '"') && this.pos >= this.notProbeUntil && this.lexProbe()) return;
    const single = c === '/' ? T.PredOpen : c === '{' ? T.LCurly : c === '<' ? T.LAngle : c === ',' ? T.Comma : null;
    if (single) {
      this.emitTop(T.makeToken(single, this.text, this.pos, this.pos + 1));
      this.pos++;
      if (single === T.PredOpen) this.frames.push('pred');
      else if (single === T.LCurly) this.frames.push('brace');
      else if (single === T.LAngle) this.frames.push('angle');
      return;
    }
    this.lexExprToken(true);
  }

  /** Lexes a probe description at `pos`; returns false (consuming nothing) if it is only punctuation. */
  private lexProbe(): boolean {
    const s = this.text;
    const start = this.pos;
    const parts: ProbePart[] = [];
    let p = start;
    let wordy = false;
    for (;;) {
      const partStart = p;
      if (s[p] === '"') {
        const chunks: string[] = [];
        let closed = false;
        p++;
        while (p < this.len && s[p] !== '\n' && s[p] !== '\r') {
          if (s[p] === '"') {
            closed = true;
            p++;
            break;
          }
          if (s[p] === '\\' && (s[p + 1] === '"' || s[p + 1] === '\\')) p++;
          chunks.push(s[p]!);
          p++;
        }
        if (!closed) this.diag(Codes.UnterminatedString, 'unterminated string in probe description', partStart, p);
        parts.push({ value: chunks.join(''), quoted: true, span: { start: partStart, end: p } });
        wordy = true;
      } else {
        const path = s[p] === '/' && parts.length > 0;
        while (p < this.len && (path ? isPathChar(s[p]) : isProbeChar(s[p]))) {
          if (isProbeWordChar(s[p])) wordy = true;
          p++;
        }
        parts.push({ value: s.slice(partStart, p), quoted: false, span: { start: partStart, end: p } });
      }
      if (s[p] !== ':') break;
      wordy = true;
      p++;
    }
    if (!wordy) {
      // No suffix of this run is a probe either: do not rescan it token by token.
      this.notProbeUntil = p;
      return false;
    }
    this.emitTop(T.makeToken(T.ProbeDesc, s, start, p, { kind: 'probe', parts }));
    this.pos = p;
    return true;
  }

  /** `#pragma ...` (top level only), other `#` directives are reported and skipped. */
  private lexHash(top: boolean): void {
    const s = this.text;
    const start = this.pos;
    let p = start + 1;
    while (s[p] === ' ' || s[p] === '\t') p++;
    const pragma = s.startsWith('pragma', p) && !isIdentPart(s[p + 6]);
    if (!pragma && !top) {
      this.diag(Codes.UnexpectedCharacter, "unexpected character '#'", start, start + 1);
      this.pos = start + 1;
      return;
    }
    const end = this.lineEnd(start);
    const contentEnd = start + s.slice(start, end).trimEnd().length;
    if (!pragma) {
      while (isIdentPart(s[p]) || s[p] === '!') p++;
      const word = s.slice(start, p);
      this.diag(Codes.BadPragma, word.length > 1 ? `unsupported directive '${word}'` : "unexpected '#'", start, start + Math.max(1, word.length),
        ['the only directive is #pragma, e.g. #pragma D option quiet']);
      this.pos = end;
      return;
    }
    this.pos = end;
    if (!top) {
      this.diag(Codes.BadPragma, "'#pragma' must appear outside clauses", start, contentEnd);
      return;
    }
    p += 'pragma'.length;
    const skipBlanks = (): void => {
      while (s[p] === ' ' || s[p] === '\t') p++;
    };
    const word = (): string => {
      const w0 = p;
      if (isIdentStart(s[p])) while (p < contentEnd && (isIdentPart(s[p]) || s[p] === '-')) p++;
      return s.slice(w0, p);
    };
    skipBlanks();
    const namespace = word();
    skipBlanks();
    const directive = word();
    skipBlanks();
    if (!namespace || !directive) {
      this.diag(Codes.BadPragma, "expected '#pragma NAMESPACE DIRECTIVE [ARGUMENT]', e.g. '#pragma D option quiet'", start, contentEnd);
      return;
    }
    const argStart = Math.min(p, contentEnd);
    const argument = s.slice(argStart, contentEnd);
    if (this.itemFrom >= 0) this.closeItem(null);
    this.junkRun = false;
    this.items.push({ kind: 'pragma', token: this.tokens.length });
    this.emit(T.makeToken(T.Pragma, s, start, contentEnd, {
      kind: 'pragma', namespace, directive, argument, argumentSpan: { start: argStart, end: contentEnd },
    }));
  }

  // ---- inside a clause ----

  private lexInner(): void {
    const s = this.text;
    const c = s[this.pos];
    const top = this.frames[this.frames.length - 1];
    switch (c) {
      case '(':
        return this.punct(T.LParen, 'paren');
      case '[':
        return this.punct(T.LBracket, 'bracket');
      case '{':
        if (this.frames[0] === 'pred') {
          // A predicate never holds a block: its closing '/' is missing (the parser says so).
          this.frames.length = 0;
          this.emitTop(T.makeToken(T.LCurly, s, this.pos, this.pos + 1));
          this.pos++;
          this.frames.push('brace');
          return;
        }
        return this.punct(T.LCurly, 'brace');
      case ')':
        return this.closeGroup('paren', T.RParen);
      case ']':
        return this.closeGroup('bracket', T.RBracket);
      case '}':
        return this.closeBrace();
      case '#':
        return this.lexHash(false);
      case '>':
        if (top === 'angle') return this.angleGt();
        break;
      case '/':
        if (top === 'pred') return this.predicateSlash();
        break;
    }
    this.lexExprToken(false);
  }

  private punct(type: TokenType, frame: Frame | null): void {
    this.emit(T.makeToken(type, this.text, this.pos, this.pos + 1));
    this.pos++;
    if (frame) this.frames.push(frame);
  }

  /** ')' or ']': closes the innermost matching group, skipping unclosed ones inside it. */
  private closeGroup(kind: 'paren' | 'bracket', type: TokenType): void {
    let i = this.frames.length - 1;
    while (i >= 0 && (this.frames[i] === 'paren' || this.frames[i] === 'bracket') && this.frames[i] !== kind) i--;
    if (i >= 0 && this.frames[i] === kind) this.frames.length = i;
    this.punct(type, null);
  }

  private closeBrace(): void {
    let i = this.frames.length - 1;
    while (i >= 0 && (this.frames[i] === 'paren' || this.frames[i] === 'bracket')) i--;
    const closes = i >= 0 && this.frames[i] === 'brace';
    if (closes) this.frames.length = i;
    this.punct(T.RCurly, null);
    if (closes && i === 0) this.closeItem('brace');
  }

  /** A '>' at depth 0 of a `< >` block closes it; '>=', '>>', '>>=' there are errors. */
  private angleGt(): void {
    const s = this.text;
    const p = this.pos;
    const op: readonly [string, TokenType] | null =
      s.startsWith('>>=', p) ? ['>>=', T.ShrEq] : s.startsWith('>>', p) ? ['>>', T.Shr] : s.startsWith('>=', p) ? ['>=', T.Ge] : null;
    if (!op) {
      this.punct(T.AngleClose, null);
      this.frames.pop();
      if (this.frames.length === 0) this.closeItem('angle');
      return;
    }
    // Closing here could never parse ('=' or '>' cannot start a clause), so keep the operator.
    this.diag(Codes.SyntaxError, `'${op[0]}' inside '< >' must be in parentheses`, p, p + op[0].length, [ANGLE_HINT]);
    this.emit(T.makeToken(op[1], s, p, p + op[0].length));
    this.pos = p + op[0].length;
  }

  /** A '/' at depth 0 of a predicate closes it, unless what follows shows it is a division. */
  private predicateSlash(): void {
    const p = this.pos;
    if (this.closesPredicate(p)) {
      this.emit(T.makeToken(T.PredClose, this.text, p, p + 1));
      this.pos = p + 1;
      this.frames.pop();
      this.lastTopType = T.PredClose;
      return;
    }
    this.diag(Codes.SyntaxError, "'/' inside a predicate must be in parentheses", p, p + 1, [PREDICATE_HINT]);
    this.lexExprToken(false);
  }

  /** A predicate is followed by its block ('{' or '<'), possibly on the next line. */
  private closesPredicate(slash: number): boolean {
    const s = this.text;
    let j = slash + 1;
    for (;;) {
      while (s[j] === ' ' || s[j] === '\t') j++;
      if (s.startsWith('//', j)) return true;
      if (!s.startsWith('/*', j)) break;
      const end = s.indexOf('*/', j + 2);
      if (end < 0) return true;
      j = end + 2;
    }
    const c = s[j];
    return c === undefined || c === '{' || c === '<' || c === '\n' || c === '\r';
  }

  // ---- expression tokens ----

  private lexExprToken(top: boolean): void {
    const s = this.text;
    const c = s[this.pos];
    let tok: IToken | null = null;
    if (isIdentStart(c)) tok = this.lexWord();
    else if (isDigit(c)) tok = scanNumber(s, this.pos, this.report);
    else if (c === '"' || c === "'") tok = scanQuoted(s, this.pos, c, this.report);
    else if (c === '@') tok = this.lexAgg();
    else if (c === '$') tok = this.lexDollar();
    else {
      for (const [op, type] of OPS_BY_CHAR.get(c!) ?? []) {
        if (s.startsWith(op, this.pos)) {
          tok = T.makeToken(type, s, this.pos, this.pos + op.length);
          break;
        }
      }
      if (!tok) return this.unexpectedChars();
    }
    if (!tok) return;
    this.pos = tok.startOffset + tok.image.length;
    if (top) this.emitTop(tok);
    else this.emit(tok);
  }

  private lexWord(): IToken {
    const s = this.text;
    let p = this.pos + 1;
    while (isIdentPart(s[p])) p++;
    const word = s.slice(this.pos, p);
    // After '->' or '.', any word is a field name: `curthread->this`, `args->string`.
    const afterMember = this.lastType === T.Arrow || this.lastType === T.Dot;
    const type = (!afterMember && T.KEYWORDS.get(word)) || T.Ident;
    return T.makeToken(type, s, this.pos, p);
  }

  private lexAgg(): IToken {
    let p = this.pos + 1;
    while (isIdentPart(this.text[p])) p++;
    return T.makeToken(T.Agg, this.text, this.pos, p, { kind: 'name', name: this.text.slice(this.pos + 1, p) });
  }

  /** `$1`, `$$1` (script arguments) and `$target` (macro variables). */
  private lexDollar(): IToken | null {
    const s = this.text;
    const start = this.pos;
    const quoted = s[start + 1] === '$';
    let p = start + (quoted ? 2 : 1);
    if (isDigit(s[p])) {
      while (isDigit(s[p])) p++;
      const index = Number(s.slice(start + (quoted ? 2 : 1), p));
      if (isIdentPart(s[p])) {
        while (isIdentPart(s[p])) p++;
        this.diag(Codes.UnexpectedCharacter, `malformed script argument '${s.slice(start, p)}'`, start, p);
      }
      return T.makeToken(T.ScriptArg, s, start, p, { kind: 'arg', index, quoted });
    }
    if (!quoted && isIdentStart(s[p])) {
      while (isIdentPart(s[p])) p++;
      return T.makeToken(T.MacroVar, s, start, p, { kind: 'name', name: s.slice(start + 1, p) });
    }
    this.diag(Codes.UnexpectedCharacter,
      quoted ? "'$$' must be followed by an argument number, as in '$$1'" : "'$' must be followed by an argument number or a name, as in '$1' or '$target'",
      start, p);
    this.pos = p;
    return null;
  }

  /** Reports a run of characters that start no token, as one diagnostic. */
  private unexpectedChars(): void {
    const s = this.text;
    const start = this.pos;
    let p = start;
    do p += s.codePointAt(p)! > 0xffff ? 2 : 1;
    while (p < this.len && !isKnownChar(s[p]));
    const run = s.slice(start, p);
    const shown = run.length > 24 ? `${printable(run.slice(0, 24))}...` : printable(run);
    this.diag(Codes.UnexpectedCharacter, `unexpected character${[...run].length > 1 ? 's' : ''} '${shown}'`, start, p);
    this.pos = p;
  }
}

// Expectations for `trace check`: `p99(@lat) < 20ms && count(@errors) == 0`.
//
//   parseExpectation(source[, span])   text -> AST with spans (syntax errors as diagnostics)
//   checkExpectation(e, declared)      against the program's aggregations, before the run
//   evaluateExpectation(e, ctx)        against the aggregations at the end of the run
//
// Pure: no I/O, no clock (the measured run duration is an input).
//
// Grammar (the language's own tokens where they overlap):
//
//   expectation := or
//   or          := and ('||' and)*
//   and         := primary ('&&' primary)*
//   primary     := '(' or ')' | comparison
//   comparison  := operand OP operand          one side a measurement, the other a value
//   OP          := '<' | '<=' | '>' | '>=' | '==' | '!='
//   operand     := measurement | value
//   measurement := FUNC '(' AGGREGATION keys? ')'
//   FUNC        := p50 | p90 | p99 | p999 | pDIGITS | count | sum | avg | min | max | stddev | rate
//   keys        := '[' key (',' key)* ']'     key := STRING | ['-'] INTEGER | '*'
//   value       := ['-'] NUMBER [UNIT] ['/' UNIT]
//   UNIT        := ns | us | ms | s | m | h

import type { AggFunc, AggregationInfo, KeyInfo } from '../compiler/program.js';
import { Codes, error, suggest, type Code, type Diagnostic } from '../lang/diagnostics.js';
import type { Source, Span } from '../lang/source.js';
import { syscallName } from '../platform/syscalls.js';
import { merge, percentile, type Aggregation, type HistAggregation, type ScalarAggregation } from '../runner/aggregate.js';
import type { Bucket } from '../runner/events.js';
import type { Key } from '../runner/keys.js';

// ---- AST ----

export type CompareOp = '<' | '<=' | '>' | '>=' | '==' | '!=';
export type MeasureFunc = 'percentile' | 'count' | 'sum' | 'avg' | 'min' | 'max' | 'stddev' | 'rate';
/** A bound's kind: a plain number, a duration (its value in ns) or a rate (per second). */
export type BoundUnit = 'none' | 'duration' | 'rate';

export interface KeyPattern {
  readonly kind: 'string' | 'int' | 'any';
  /** The string or integer; null for `*`. */
  readonly value: string | number | null;
  readonly span: Span;
}

export interface MeasureNode {
  readonly kind: 'measure';
  readonly func: MeasureFunc;
  /** As written: 'p99', 'count'. */
  readonly name: string;
  /** For percentiles: the fraction, e.g. 0.99. */
  readonly q?: number;
  /** As written: '@lat', or '@' for the anonymous aggregation. */
  readonly aggregation: string;
  /** Null when no keys were given: every key counts (see evaluate). */
  readonly keys: readonly KeyPattern[] | null;
  readonly nameSpan: Span;
  readonly aggregationSpan: Span;
  /** The `[...]`, when given. */
  readonly keysSpan: Span | null;
  readonly span: Span;
}

export interface BoundNode {
  readonly kind: 'bound';
  /** Nanoseconds for durations, events per second for rates, else the number. */
  readonly value: number;
  readonly unit: BoundUnit;
  readonly span: Span;
}

export interface CompareNode {
  readonly kind: 'compare';
  /** Normalised so that the measurement is on the left (`10ms > p99(@x)` is `p99(@x) < 10ms`). */
  readonly op: CompareOp;
  readonly measure: MeasureNode;
  readonly bound: BoundNode;
  readonly span: Span;
}

export interface LogicalNode {
  readonly kind: 'and' | 'or';
  readonly left: ExpectExpr;
  readonly right: ExpectExpr;
  readonly span: Span;
}

export type ExpectExpr = CompareNode | LogicalNode;

export interface Expectation {
  readonly source: Source;
  /** From the first token to the last (comments and blanks around it excluded). */
  readonly span: Span;
  /** The expectation as written: source.slice(span). */
  readonly text: string;
  readonly expr: ExpectExpr;
}

export function comparisons(e: ExpectExpr): CompareNode[] {
  return e.kind === 'compare' ? [e] : [...comparisons(e.left), ...comparisons(e.right)];
}

// ---- units ----

export const DURATION_UNITS: Readonly<Record<string, number>> = { ns: 1, us: 1e3, 'µs': 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };
const UNIT_NAMES = ['ns', 'us', 'ms', 's', 'm', 'h'];

const PERCENTILE = /^p(\d{2,})$/;
const FUNCS: readonly string[] = ['count', 'sum', 'avg', 'min', 'max', 'stddev', 'rate'];
const FUNC_SUGGESTIONS = ['p50', 'p90', 'p95', 'p99', 'p999', ...FUNCS];

/** `p50` -> 0.5, `p999` -> 0.999, `p100` -> 1 (the first two digits are the percent). */
export function percentileFraction(name: string): number | null {
  const m = PERCENTILE.exec(name);
  if (!m) return null;
  const digits = m[1]!;
  if (digits === '100') return 1;
  if (digits.startsWith('100')) return null;
  return Number(`0.${digits}`);
}

// ---- lexer ----

type TokKind = 'ident' | 'agg' | 'number' | 'string' | 'punct' | 'eof';

interface Tok {
  readonly kind: TokKind;
  readonly text: string;
  readonly start: number;
  readonly end: number;
  /** number: its value; string: its decoded text. */
  readonly value?: number | string;
  /** A number with a fraction or an exponent. */
  readonly fractional?: boolean;
}

class ParseError extends Error {
  constructor(readonly diagnostic: Diagnostic) {
    super(diagnostic.message);
  }
}

function fail(code: Code, message: string, start: number, end: number, hints?: string[]): never {
  throw new ParseError(error(code, message, { start, end: Math.max(end, start + 1) }, hints));
}

const isIdentStart = (c: string | undefined) => c !== undefined && /[A-Za-z_\u00b5]/.test(c);
const isIdentPart = (c: string | undefined) => c !== undefined && /[A-Za-z0-9_\u00b5]/.test(c);
const isDigit = (c: string | undefined) => c !== undefined && c >= '0' && c <= '9';

const TWO_CHAR = ['<=', '>=', '==', '!=', '&&', '||'];
const ONE_CHAR = '<>()[],*/-!=&|';
const ESCAPES: Readonly<Record<string, string>> = { n: '\n', t: '\t', r: '\r', '0': '\0', '\\': '\\', '"': '"', "'": "'" };

function lex(text: string, from: number, to: number): Tok[] {
  const toks: Tok[] = [];
  let p = from;
  while (p < to) {
    const c = text[p]!;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      p++;
      continue;
    }
    if (text.startsWith('//', p)) {
      const nl = text.indexOf('\n', p);
      p = nl === -1 || nl > to ? to : nl;
      continue;
    }
    if (text.startsWith('/*', p)) {
      const close = text.indexOf('*/', p + 2);
      if (close === -1 || close + 2 > to) fail(Codes.ExpectSyntax, 'unterminated comment', p, p + 2);
      p = close + 2;
      continue;
    }
    const start = p;
    if (isIdentStart(c)) {
      while (p < to && isIdentPart(text[p])) p++;
      toks.push({ kind: 'ident', text: text.slice(start, p), start, end: p });
      continue;
    }
    if (c === '@') {
      p++;
      while (p < to && isIdentPart(text[p])) p++;
      toks.push({ kind: 'agg', text: text.slice(start, p), start, end: p });
      continue;
    }
    if (isDigit(c)) {
      let fractional = false;
      if (c === '0' && (text[p + 1] === 'x' || text[p + 1] === 'X') && /[0-9a-fA-F]/.test(text[p + 2] ?? '')) {
        p += 2;
        while (p < to && /[0-9a-fA-F]/.test(text[p]!)) p++;
      } else {
        while (p < to && (isDigit(text[p]) || (text[p] === '_' && isDigit(text[p + 1])))) p++;
        if (text[p] === '.' && isDigit(text[p + 1]) && p + 1 < to) {
          fractional = true;
          p++;
          while (p < to && isDigit(text[p])) p++;
        }
        const e = text[p];
        if ((e === 'e' || e === 'E') && (isDigit(text[p + 1]) || ((text[p + 1] === '+' || text[p + 1] === '-') && isDigit(text[p + 2])))) {
          fractional = true;
          p += text[p + 1] === '+' || text[p + 1] === '-' ? 2 : 1;
          while (p < to && isDigit(text[p])) p++;
        }
      }
      const image = text.slice(start, p);
      toks.push({ kind: 'number', text: image, start, end: p, value: Number(image.replace(/_/g, '')), fractional });
      continue;
    }
    if (c === '"') {
      p++;
      let value = '';
      for (;;) {
        if (p >= to || text[p] === '\n') fail(Codes.ExpectSyntax, 'unterminated string', start, p);
        const ch = text[p]!;
        if (ch === '"') {
          p++;
          break;
        }
        if (ch === '\\') {
          const n = text[p + 1];
          if (n !== undefined && ESCAPES[n] !== undefined) {
            value += ESCAPES[n];
            p += 2;
            continue;
          }
          const hex = /^x([0-9a-fA-F]{2})/.exec(text.slice(p + 1, p + 4));
          if (hex) {
            value += String.fromCharCode(parseInt(hex[1]!, 16));
            p += 4;
            continue;
          }
          fail(Codes.ExpectSyntax, `unknown escape '\\${n ?? ''}'`, p, p + 2, ['escapes: \\n \\t \\r \\0 \\\\ \\" \\xHH']);
        }
        value += ch;
        p++;
      }
      toks.push({ kind: 'string', text: text.slice(start, p), start, end: p, value });
      continue;
    }
    const two = text.slice(p, p + 2);
    if (p + 2 <= to && TWO_CHAR.includes(two)) {
      toks.push({ kind: 'punct', text: two, start, end: p + 2 });
      p += 2;
      continue;
    }
    if (ONE_CHAR.includes(c)) {
      toks.push({ kind: 'punct', text: c, start, end: p + 1 });
      p++;
      continue;
    }
    fail(Codes.ExpectSyntax, `unexpected character '${c}'`, p, p + 1);
  }
  toks.push({ kind: 'eof', text: '', start: to, end: to });
  return toks;
}

// ---- parser ----

const COMPARE_OPS: readonly string[] = ['<', '<=', '>', '>=', '==', '!='];
const FLIP: Readonly<Record<CompareOp, CompareOp>> = { '<': '>', '<=': '>=', '>': '<', '>=': '<=', '==': '==', '!=': '!=' };
const EXAMPLE = 'p99(@lat) < 20ms';

type Operand = MeasureNode | BoundNode;

class Parser {
  private i = 0;

  constructor(private readonly toks: readonly Tok[]) {}

  private get tok(): Tok {
    return this.toks[Math.min(this.i, this.toks.length - 1)]!;
  }

  private next(): Tok {
    const t = this.tok;
    if (this.i < this.toks.length - 1) this.i++;
    return t;
  }

  private is(text: string): boolean {
    return this.tok.kind === 'punct' && this.tok.text === text;
  }

  private describe(t: Tok): string {
    return t.kind === 'eof' ? 'the end' : `'${t.text}'`;
  }

  private expect(text: string, what: string): Tok {
    if (!this.is(text)) fail(Codes.ExpectSyntax, `expected ${what}, found ${this.describe(this.tok)}`, this.tok.start, this.tok.end);
    return this.next();
  }

  parse(): ExpectExpr {
    if (this.tok.kind === 'eof') fail(Codes.ExpectSyntax, `empty expectation: write a comparison such as ${EXAMPLE}`, this.tok.start, this.tok.end);
    const e = this.or();
    const t = this.tok;
    if (t.kind !== 'eof') {
      const word = t.text.toLowerCase();
      const hint = word === 'and' ? ["write '&&' for and"] : word === 'or' ? ["write '||' for or"] : t.text === '&' || t.text === '|' ? [`write '${t.text}${t.text}'`] : undefined;
      fail(Codes.ExpectSyntax, `unexpected ${this.describe(t)} after the comparison: join comparisons with && or ||`, t.start, t.end, hint);
    }
    return e;
  }

  private or(): ExpectExpr {
    let left = this.and();
    while (this.is('||')) {
      this.next();
      const right = this.and();
      left = { kind: 'or', left, right, span: { start: left.span.start, end: right.span.end } };
    }
    return left;
  }

  private and(): ExpectExpr {
    let left = this.primary();
    while (this.is('&&')) {
      this.next();
      const right = this.primary();
      left = { kind: 'and', left, right, span: { start: left.span.start, end: right.span.end } };
    }
    return left;
  }

  private primary(): ExpectExpr {
    if (this.is('(')) {
      const open = this.next();
      if (this.is(')')) fail(Codes.ExpectSyntax, `empty parentheses: expected a comparison such as ${EXAMPLE}`, open.start, this.tok.end);
      const inner = this.or();
      if (!this.is(')')) fail(Codes.ExpectSyntax, `expected ')' to close the '(' at column ${open.start + 1}, found ${this.describe(this.tok)}`, this.tok.start, this.tok.end);
      this.next();
      return inner;
    }
    return this.comparison();
  }

  private comparison(): CompareNode {
    const lhs = this.operand();
    const opTok = this.tok;
    if (opTok.kind === 'punct' && opTok.text === '=') fail(Codes.ExpectSyntax, "'=' is not a comparison: write '=='", opTok.start, opTok.end);
    if (opTok.kind !== 'punct' || !COMPARE_OPS.includes(opTok.text)) {
      const what = lhs.kind === 'measure' ? 'the measurement' : 'the value';
      fail(Codes.ExpectSyntax, `expected a comparison (<, <=, >, >=, ==, !=) after ${what}, found ${this.describe(opTok)}`, opTok.start, opTok.end, [
        `an expectation compares a measurement with a value, e.g. ${EXAMPLE}`,
      ]);
    }
    this.next();
    const rhs = this.operand();
    const after = this.tok;
    if (after.kind === 'punct' && COMPARE_OPS.includes(after.text)) {
      fail(Codes.ExpectSyntax, 'comparisons cannot be chained', after.start, after.end, ['write two comparisons joined by &&, e.g. p50(@lat) > 1ms && p50(@lat) < 5ms']);
    }
    const span = { start: lhs.span.start, end: rhs.span.end };
    if (lhs.kind === 'measure' && rhs.kind === 'bound') return { kind: 'compare', op: opTok.text as CompareOp, measure: lhs, bound: rhs, span };
    if (lhs.kind === 'bound' && rhs.kind === 'measure') return { kind: 'compare', op: FLIP[opTok.text as CompareOp], measure: rhs, bound: lhs, span };
    if (lhs.kind === 'measure') fail(Codes.ExpectSyntax, 'two measurements cannot be compared with each other: compare a measurement with a value', rhs.span.start, rhs.span.end, [`e.g. ${EXAMPLE}`]);
    fail(Codes.ExpectSyntax, 'nothing is measured here: one side must be a measurement such as p99(@lat) or count(@errors)', span.start, span.end);
  }

  private operand(): Operand {
    const t = this.tok;
    if (t.kind === 'ident') {
      const after = this.toks[this.i + 1];
      if (after?.kind === 'punct' && after.text === '(') return this.measure();
      if (percentileFraction(t.text) !== null || FUNCS.includes(t.text)) fail(Codes.ExpectSyntax, `expected '(' after ${t.text}`, after?.start ?? t.end, after?.end ?? t.end, [`e.g. ${t.text}(@lat)`]);
      fail(Codes.ExpectSyntax, `unexpected '${t.text}': expected a measurement such as p99(@lat) or a value such as 20ms`, t.start, t.end);
    }
    if (t.kind === 'number' || (t.kind === 'punct' && t.text === '-')) return this.bound();
    if (t.kind === 'agg') {
      fail(Codes.ExpectSyntax, `${t.text} alone is not a measurement: say what to measure`, t.start, t.end, [`e.g. count(${t.text}), p99(${t.text}), avg(${t.text}), rate(${t.text})`]);
    }
    if (t.kind === 'string') fail(Codes.ExpectSyntax, 'a string cannot be compared: strings are keys, as in count(@req["/checkout"])', t.start, t.end);
    fail(Codes.ExpectSyntax, `expected a measurement such as p99(@lat) or a value such as 20ms, found ${this.describe(t)}`, t.start, t.end);
  }

  private measure(): MeasureNode {
    const name = this.next();
    let func: MeasureFunc;
    let q: number | undefined;
    const frac = percentileFraction(name.text);
    if (frac !== null) {
      func = 'percentile';
      q = frac;
    } else if (FUNCS.includes(name.text)) {
      func = name.text as MeasureFunc;
    } else {
      const s = suggest(name.text, FUNC_SUGGESTIONS);
      const hints = [
        ...(s ? [`did you mean ${s}?`] : []),
        /^p\d$/.test(name.text) ? 'percentiles take two digits or more: p05, p50, p90, p99, p999' : 'measurements: p50, p90, p99, p999 (any pNN), count, sum, avg, min, max, stddev, rate',
      ];
      fail(Codes.ExpectUnknownFunction, `unknown measurement '${name.text}'`, name.start, name.end, hints);
    }
    this.expect('(', `'(' after ${name.text}`);
    const agg = this.tok;
    if (agg.kind !== 'agg') fail(Codes.ExpectSyntax, `expected an aggregation such as @lat inside ${name.text}(), found ${this.describe(agg)}`, agg.start, agg.end);
    this.next();
    let keys: KeyPattern[] | null = null;
    let keysSpan: Span | null = null;
    if (this.is('[')) {
      const open = this.next();
      keys = [];
      if (this.is(']')) fail(Codes.ExpectSyntax, 'expected a key inside [ ]', open.start, this.tok.end, ['leave out the [ ] to take every key together']);
      for (;;) {
        keys.push(this.key());
        if (this.is(',')) {
          this.next();
          continue;
        }
        if (!this.is(']')) fail(Codes.ExpectSyntax, `expected ',' or ']' after a key, found ${this.describe(this.tok)}`, this.tok.start, this.tok.end);
        const close = this.next();
        keysSpan = { start: open.start, end: close.end };
        break;
      }
    }
    if (!this.is(')')) {
      const t = this.tok;
      const extra = t.kind === 'punct' && t.text === ',' ? `${name.text}() takes one aggregation` : `expected ')', found ${this.describe(t)}`;
      fail(Codes.ExpectSyntax, extra, t.start, t.end);
    }
    const close = this.next();
    return {
      kind: 'measure',
      func,
      name: name.text,
      ...(q !== undefined ? { q } : {}),
      aggregation: agg.text,
      keys,
      nameSpan: { start: name.start, end: name.end },
      aggregationSpan: { start: agg.start, end: agg.end },
      keysSpan,
      span: { start: name.start, end: close.end },
    };
  }

  private key(): KeyPattern {
    const t = this.tok;
    if (t.kind === 'string') {
      this.next();
      return { kind: 'string', value: t.value as string, span: { start: t.start, end: t.end } };
    }
    if (t.kind === 'punct' && t.text === '*') {
      this.next();
      return { kind: 'any', value: null, span: { start: t.start, end: t.end } };
    }
    let neg: Tok | null = null;
    if (t.kind === 'punct' && t.text === '-') neg = this.next();
    const n = this.tok;
    if (n.kind === 'number' && !n.fractional) {
      this.next();
      const unit = this.tok;
      if (unit.kind === 'ident' && unit.start === n.end) fail(Codes.ExpectSyntax, 'a key is a string or an integer, without a unit', unit.start, unit.end);
      const v = n.value as number;
      return { kind: 'int', value: neg ? -v : v, span: { start: (neg ?? n).start, end: n.end } };
    }
    if (n.kind === 'number') fail(Codes.ExpectSyntax, 'a key is a string or an integer', n.start, n.end);
    const hint = n.kind === 'ident' ? [`strings are quoted: "${n.text}"`] : undefined;
    fail(Codes.ExpectSyntax, `expected a key (a "string", an integer or *), found ${this.describe(n)}`, n.start, n.end, hint);
  }

  private bound(): BoundNode {
    const first = this.tok;
    let sign = 1;
    if (first.kind === 'punct' && first.text === '-') {
      this.next();
      sign = -1;
    }
    const n = this.tok;
    if (n.kind !== 'number') fail(Codes.ExpectSyntax, `expected a number after '-', found ${this.describe(n)}`, n.start, n.end);
    this.next();
    let value = sign * (n.value as number);
    let unit: BoundUnit = 'none';
    let end = n.end;
    // A unit: a word right after the number (`20ms`, `20sec` is a bad unit), or a known unit
    // after a blank (`20 ms`); any other word is left for the caller (`1 and ...`).
    if (this.tok.kind === 'ident' && (this.tok.start === n.end || DURATION_UNITS[this.tok.text] !== undefined)) {
      const u = this.next();
      value *= unitScale(u);
      unit = 'duration';
      end = u.end;
    }
    if (this.is('/')) {
      const slash = this.next();
      if (unit === 'duration') fail(Codes.ExpectUnits, 'a rate is a plain number per unit of time, e.g. 100/s', first.start, this.tok.end);
      const u = this.tok;
      if (u.kind !== 'ident') fail(Codes.ExpectSyntax, `expected a unit of time after '/', found ${this.describe(u)}`, slash.start, u.end, ['e.g. 100/s, 6000/m']);
      this.next();
      value = value * (1e9 / unitScale(u));
      unit = 'rate';
      end = u.end;
    }
    return { kind: 'bound', value, unit, span: { start: first.start, end } };
  }
}

function unitScale(u: Tok): number {
  const scale = DURATION_UNITS[u.text];
  if (scale !== undefined) return scale;
  const s = suggest(u.text, UNIT_NAMES);
  fail(Codes.ExpectUnits, `unknown unit '${u.text}'`, u.start, u.end, [...(s ? [`did you mean ${s}?`] : []), 'units: ns, us, ms, s, m (minutes), h; rates: 100/s, 6000/m']);
}

export interface ParsedExpectation {
  readonly expectation: Expectation | null;
  readonly diagnostics: readonly Diagnostic[];
}

/**
 * Parses one expectation: all of `source`, or the part of it in `span` (a `#pragma ctrace
 * expect` argument inside a program, whose spans then point into the program).
 */
export function parseExpectation(source: Source, span: Span = { start: 0, end: source.text.length }): ParsedExpectation {
  try {
    const toks = lex(source.text, span.start, span.end);
    const expr = new Parser(toks).parse();
    const first = toks[0]!;
    const last = toks[toks.length - 2] ?? first;
    const whole = { start: first.start, end: last.end };
    return { expectation: { source, span: whole, text: source.slice(whole), expr }, diagnostics: [] };
  } catch (e) {
    if (e instanceof ParseError) return { expectation: null, diagnostics: [e.diagnostic] };
    throw e;
  }
}

// ---- checking against the program ----

const HIST_FUNCS: readonly AggFunc[] = ['quantize', 'lquantize', 'llquantize', 'latency'];
const isHist = (f: AggFunc) => HIST_FUNCS.includes(f);

/** Which measurements apply to which aggregating functions. */
export function supports(m: MeasureFunc, agg: AggFunc): boolean {
  const hist = isHist(agg);
  switch (m) {
    case 'percentile':
      return hist;
    case 'count':
      return hist || agg === 'count' || agg === 'avg' || agg === 'stddev';
    case 'sum':
      return agg === 'sum' || agg === 'count' || agg === 'avg' || agg === 'stddev';
    case 'avg':
      return hist || agg === 'avg' || agg === 'stddev';
    case 'min':
      return hist || agg === 'min';
    case 'max':
      return hist || agg === 'max';
    case 'stddev':
      return agg === 'stddev';
    case 'rate':
      return hist || agg === 'count' || agg === 'sum';
  }
}

const MEASURES: readonly MeasureFunc[] = ['percentile', 'count', 'sum', 'avg', 'min', 'max', 'stddev', 'rate'];
const measureLabel = (m: MeasureFunc) => (m === 'percentile' ? 'p50/p90/p99/p999' : m);

function describeAgg(info: AggregationInfo): string {
  return isHist(info.func) ? `a ${info.func}() distribution` : `a ${info.func}() aggregation`;
}

function declaredList(declared: readonly AggregationInfo[]): string {
  return declared.length ? `the program's aggregations: ${declared.map((a) => a.name).join(', ')}` : 'the program declares no aggregations';
}

/** Errors of an expectation against the program's aggregations; empty when it can be evaluated. */
export function checkExpectation(e: Expectation, declared: readonly AggregationInfo[]): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const c of comparisons(e.expr)) {
    const d = checkComparison(c, declared);
    if (d) out.push(d);
  }
  return out;
}

function checkComparison(c: CompareNode, declared: readonly AggregationInfo[]): Diagnostic | null {
  const m = c.measure;
  const info = declared.find((a) => a.name === m.aggregation);
  if (!info) {
    const s = suggest(m.aggregation, declared.map((a) => a.name));
    return error(Codes.ExpectUnknownAggregation, `unknown aggregation ${m.aggregation}`, m.aggregationSpan, [...(s ? [`did you mean ${s}?`] : []), declaredList(declared)]);
  }
  if (!supports(m.func, info.func)) {
    const fits = MEASURES.filter((f) => supports(f, info.func)).map(measureLabel);
    const what =
      m.func === 'percentile'
        ? `${m.name}() needs a distribution (latency, quantize, lquantize or llquantize)`
        : m.func === 'rate'
          ? 'rate() needs a count(), sum() or distribution aggregation'
          : `${m.name}() does not apply to ${m.aggregation}`;
    return error(Codes.ExpectWrongFunction, `${what}: ${m.aggregation} is ${describeAgg(info)}`, m.nameSpan, [`for ${describeAgg(info)}: ${fits.join(', ')}`]);
  }
  const keyErr = checkKeys(m, info);
  if (keyErr) return keyErr;
  return checkUnits(c);
}

function keyNames(info: AggregationInfo): string {
  return info.keys.map((k) => k.label).join(', ');
}

function checkKeys(m: MeasureNode, info: AggregationInfo): Diagnostic | null {
  if (m.keys === null || m.keysSpan === null) return null;
  if (info.keys.length === 0) {
    return error(Codes.ExpectKeys, `${m.aggregation} has no keys`, m.keysSpan, [`write ${m.name}(${m.aggregation})`]);
  }
  if (m.keys.length !== info.keys.length) {
    const n = info.keys.length;
    return error(Codes.ExpectKeys, `${m.aggregation} has ${n} key${n === 1 ? '' : 's'} (${keyNames(info)}), not ${m.keys.length}`, m.keysSpan, [
      `give ${n} (* for any), or none to take every key together`,
    ]);
  }
  for (const [i, k] of m.keys.entries()) {
    const ki = info.keys[i]!;
    const which = `key ${i + 1} of ${m.aggregation} (${ki.label})`;
    if (k.kind === 'string' && ki.type === 'int' && ki.transform === 'none') {
      return error(Codes.ExpectKeys, `${which} is an integer, not a string`, k.span, /^-?\d+$/.test(String(k.value)) ? [`write ${String(k.value)}`] : undefined);
    }
    if (k.kind === 'int' && ki.type !== 'int') {
      return error(Codes.ExpectKeys, `${which} is a ${ki.type === 'stack' ? 'stack' : 'string'}, not an integer`, k.span, [`write "${String(k.value)}"`]);
    }
  }
  return null;
}

function checkUnits(c: CompareNode): Diagnostic | null {
  const m = c.measure;
  const b = c.bound;
  const call = `${m.name}(${m.aggregation})`;
  if (m.func === 'count') {
    if (b.unit === 'duration') return error(Codes.ExpectUnits, `${call} is a number of events: compare it with a plain number`, b.span, [`e.g. ${call} > 100`]);
    if (b.unit === 'rate') return error(Codes.ExpectUnits, `${call} is a number of events, not a rate`, b.span, [`for events per second: rate(${m.aggregation}) > 100/s`]);
  } else if (m.func === 'rate') {
    if (b.unit === 'duration') return error(Codes.ExpectUnits, `${call} is a rate: write a number per unit of time`, b.span, ['e.g. 100/s or 6000/m (a plain number is per second)']);
  } else if (b.unit === 'rate') {
    return error(Codes.ExpectUnits, `${call} is not a rate`, b.span, [`a value such as 20ms or 1000; for a rate: rate(${m.aggregation}) > 100/s`]);
  }
  return null;
}

// ---- evaluation ----

export interface EvalContext {
  /** The aggregations at the end of the run (those that received no data are absent). */
  readonly aggregations: readonly Aggregation[];
  /** The program's declared aggregations. */
  readonly declared: readonly AggregationInfo[];
  /** The measured duration of the run, for rate(); null when unknown. */
  readonly durationMs: number | null;
}

/** What a measured value is, for showing it. */
export type ValueKind = 'duration' | 'count' | 'rate' | 'number';

export interface ComparisonResult {
  /** The comparison as written: 'p99(@lat) < 10ms'. */
  readonly text: string;
  /** The measurement as written: 'p99(@lat)'. */
  readonly measure: string;
  /** Normalised: the measurement on the left. */
  readonly op: CompareOp;
  /** In base units (ns for durations, per second for rates); null when it could not be measured. */
  readonly value: number | null;
  readonly kind: ValueKind;
  readonly bound: number;
  /** The bound as written: '10ms'. */
  readonly boundText: string;
  /** Null when the value could not be measured (see diagnostic). */
  readonly pass: boolean | null;
  /** Events behind the value, when known. */
  readonly events: number | null;
  /** From bucket midpoints, or avg merged without counts. */
  readonly approximate: boolean;
  /** count/sum/rate of an aggregation that received no events: the value is 0. */
  readonly noEvents: boolean;
  readonly diagnostic?: Diagnostic;
}

export type VerdictStatus = 'pass' | 'fail' | 'error';

export interface Verdict {
  readonly expectation: Expectation;
  readonly status: VerdictStatus;
  readonly comparisons: readonly ComparisonResult[];
}

export const NO_EVENTS_HINT = 'the probe never fired (is the function called? is the container under load?)';

export function evaluateExpectation(e: Expectation, ctx: EvalContext): Verdict {
  const results: ComparisonResult[] = [];
  const value = evalExpr(e.expr, e, ctx, results);
  const status: VerdictStatus = results.some((r) => r.pass === null) || value === null ? 'error' : value ? 'pass' : 'fail';
  return { expectation: e, status, comparisons: results };
}

function evalExpr(x: ExpectExpr, e: Expectation, ctx: EvalContext, out: ComparisonResult[]): boolean | null {
  if (x.kind === 'compare') {
    const r = evalComparison(x, e.source, ctx);
    out.push(r);
    return r.pass;
  }
  // Both sides always, so that every measured value is shown.
  const l = evalExpr(x.left, e, ctx, out);
  const r = evalExpr(x.right, e, ctx, out);
  if (l === null || r === null) return null;
  return x.kind === 'and' ? l && r : l || r;
}

export function compare(a: number, op: CompareOp, b: number): boolean {
  switch (op) {
    case '<':
      return a < b;
    case '<=':
      return a <= b;
    case '>':
      return a > b;
    case '>=':
      return a >= b;
    case '==':
      return a === b;
    case '!=':
      return a !== b;
  }
}

function valueKind(c: CompareNode): ValueKind {
  if (c.measure.func === 'rate') return 'rate';
  if (c.measure.func === 'count') return 'count';
  return c.bound.unit === 'duration' ? 'duration' : 'number';
}

interface Measured {
  readonly value: number | null;
  readonly events: number | null;
  readonly approximate?: boolean;
  readonly noEvents?: boolean;
  readonly diagnostic?: Diagnostic;
}

function evalComparison(c: CompareNode, source: Source, ctx: EvalContext): ComparisonResult {
  const m = measureOf(c.measure, source, ctx);
  const base = {
    text: source.slice(c.span),
    measure: source.slice(c.measure.span),
    op: c.op,
    kind: valueKind(c),
    bound: c.bound.value,
    boundText: source.slice(c.bound.span),
    events: m.events,
    approximate: m.approximate === true,
    noEvents: m.noEvents === true,
  };
  if (m.value === null) return { ...base, value: null, pass: null, ...(m.diagnostic ? { diagnostic: m.diagnostic } : {}) };
  return { ...base, value: m.value, pass: compare(m.value, c.op, c.bound.value) };
}

/** Does a row key equal a key pattern? Strings also match a translated key (a syscall's name). */
function keyMatches(k: Key | undefined, p: KeyPattern, info: KeyInfo | undefined): boolean {
  if (p.kind === 'any') return true;
  if (k === undefined) return false;
  if (p.kind === 'int') return typeof k === 'number' ? k === p.value : k === String(p.value);
  if (typeof k === 'string') return k === p.value;
  return info?.transform === 'syscall' && syscallName(k) === p.value;
}

function keyText(m: MeasureNode, source: Source): string {
  return m.keysSpan ? `${m.aggregation}${source.slice(m.keysSpan)}` : m.aggregation;
}

function noEvents(m: MeasureNode, source: Source, others: readonly (readonly Key[])[]): Diagnostic {
  const what = keyText(m, source);
  const hints: string[] = [];
  if (m.keys !== null && others.length > 0) {
    const shown = others.slice(0, 5).map((ks) => `[${ks.map((k) => JSON.stringify(k)).join(', ')}]`);
    hints.push(`${m.aggregation} has events for ${others.length === 1 ? 'the key' : 'the keys'} ${shown.join(', ')}${others.length > 5 ? ', ...' : ''}`);
    return error(Codes.ExpectNoEvents, `${what} received no events`, m.keysSpan ?? m.aggregationSpan, hints);
  }
  return error(Codes.ExpectNoEvents, `${what} received no events: ${NO_EVENTS_HINT}`, m.aggregationSpan);
}

/** The rows of `agg` that match the measurement's keys, merged into one row (keys []). */
function selectAndMerge(agg: Aggregation, m: MeasureNode): Aggregation | null {
  const wanted = (r: { keys: readonly Key[] }) => m.keys === null || m.keys.every((p, i) => keyMatches(r.keys[i], p, agg.keys[i]));
  const single: Aggregation[] =
    agg.kind === 'hist'
      ? agg.rows.filter(wanted).map((r) => ({ ...agg, keys: [], rows: [{ ...r, keys: [] }] }))
      : agg.rows.filter(wanted).map((r) => ({ ...agg, keys: [], rows: [{ ...r, keys: [] }] }));
  if (single.length === 0) return null;
  return single.reduce((a, b) => merge(a, b));
}

function histTotalOf(b: readonly Bucket[]): number {
  return b.reduce((s, x) => s + Math.max(0, x.count), 0);
}

/** Mean from bucket midpoints (an open-ended bucket counts at its finite edge). */
function bucketMean(buckets: readonly Bucket[]): number | null {
  let n = 0;
  let s = 0;
  for (const b of buckets) {
    if (b.count <= 0) continue;
    const mid = b.lo === -Infinity ? b.hi : b.hi === Infinity ? b.lo : (b.lo + b.hi) / 2;
    n += b.count;
    s += b.count * mid;
  }
  return n > 0 ? s / n : null;
}

function measureOf(m: MeasureNode, source: Source, ctx: EvalContext): Measured {
  const info = ctx.declared.find((a) => a.name === m.aggregation);
  const agg = ctx.aggregations.find((a) => a.name === m.aggregation);
  if (!info && !agg) {
    return { value: null, events: null, diagnostic: error(Codes.ExpectUnknownAggregation, `unknown aggregation ${m.aggregation}`, m.aggregationSpan, [declaredList(ctx.declared)]) };
  }
  const merged = agg ? selectAndMerge(agg, m) : null;
  const others = agg && m.keys !== null ? (agg.rows as readonly { keys: readonly Key[] }[]).map((r) => r.keys) : [];
  const zeroOk = m.func === 'count' || m.func === 'sum' || m.func === 'rate';
  const perSecond = (v: number): Measured => {
    if (ctx.durationMs === null || !(ctx.durationMs > 0)) {
      return { value: null, events: null, diagnostic: error(Codes.ExpectNoDuration, `${m.name}() needs the run's duration, which is not known`, m.nameSpan) };
    }
    return { value: v / (ctx.durationMs / 1000), events: null };
  };
  const empty = (): Measured => {
    if (!zeroOk) return { value: null, events: 0, diagnostic: noEvents(m, source, others) };
    const r = m.func === 'rate' ? perSecond(0) : { value: 0, events: 0 };
    return { ...r, events: 0, noEvents: true };
  };
  if (!merged) return empty();

  if (merged.kind === 'hist') {
    const row = (merged as HistAggregation).rows[0];
    const buckets = row?.buckets ?? [];
    const total = histTotalOf(buckets);
    if (total === 0) return empty();
    switch (m.func) {
      case 'percentile':
        return { value: percentile(buckets, m.q ?? 0.5), events: total };
      case 'max':
        return { value: percentile(buckets, 1), events: total };
      case 'min': {
        const low = buckets.find((b) => b.count > 0)!;
        return { value: low.lo === -Infinity ? low.hi : low.lo, events: total };
      }
      case 'avg':
        return { value: bucketMean(buckets), events: total, approximate: true };
      case 'count':
        return { value: total, events: total };
      case 'rate':
        return { ...perSecond(total), events: total };
      default:
        return unsupported(m, merged);
    }
  }

  const row = (merged as ScalarAggregation).rows[0];
  if (!row) return empty();
  const approximate = merged.approximate === true;
  switch (merged.func) {
    case 'count':
      if (row.value === 0 && zeroOk) return empty();
      if (m.func === 'count' || m.func === 'sum') return { value: row.value, events: row.value };
      if (m.func === 'rate') return { ...perSecond(row.value), events: row.value };
      return unsupported(m, merged);
    case 'sum':
      if (m.func === 'sum') return { value: row.value, events: null };
      if (m.func === 'rate') return { ...perSecond(row.value), events: null };
      return unsupported(m, merged);
    case 'min':
    case 'max':
      if (m.func === merged.func) return { value: row.value, events: null };
      return unsupported(m, merged);
    case 'avg':
    case 'stddev': {
      if (m.func === 'count') {
        if (row.count === undefined) return missingParts(m);
        if (row.count === 0) return empty();
        return { value: row.count, events: row.count };
      }
      if (m.func === 'sum') {
        if (row.sum === undefined) return missingParts(m);
        return { value: row.sum, events: row.count ?? null };
      }
      if (m.func === 'avg') {
        if (merged.func === 'stddev') {
          if (row.count === undefined || row.sum === undefined) return missingParts(m);
          if (row.count === 0) return empty();
          return { value: row.sum / row.count, events: row.count };
        }
        return { value: row.value, events: row.count ?? null, approximate };
      }
      if (m.func === 'stddev' && merged.func === 'stddev') return { value: row.value, events: row.count ?? null, approximate };
      return unsupported(m, merged);
    }
  }
}

function unsupported(m: MeasureNode, agg: Aggregation): Measured {
  return { value: null, events: null, diagnostic: error(Codes.ExpectWrongFunction, `${m.name}() does not apply to ${m.aggregation}, a ${agg.func}() aggregation`, m.nameSpan) };
}

function missingParts(m: MeasureNode): Measured {
  return {
    value: null,
    events: null,
    diagnostic: error(Codes.ExpectWrongFunction, `bpftrace did not report the count and sum behind ${m.aggregation}, so ${m.name}() cannot be computed`, m.nameSpan),
  };
}

// ---- showing values ----

function sig(v: number, digits = 4): string {
  if (!Number.isFinite(v)) return Number.isNaN(v) ? '-' : v > 0 ? 'inf' : '-inf';
  if (Number.isInteger(v) && Math.abs(v) < 1e15) return String(v);
  return String(Number(v.toPrecision(digits)));
}

/** Nanoseconds as a duration with up to 4 significant digits: 4128768 -> '4.129ms'. */
export function formatDuration(ns: number): string {
  if (!Number.isFinite(ns)) return sig(ns);
  const abs = Math.abs(ns);
  const fmt = (v: number, unit: string) => `${String(Number(v.toPrecision(4)))}${unit}`;
  if (abs >= 60e9 * 100) return fmt(ns / 60e9, 'm');
  if (abs >= 1e9) return fmt(ns / 1e9, 's');
  if (abs >= 1e6) return fmt(ns / 1e6, 'ms');
  if (abs >= 1e3) return fmt(ns / 1e3, 'us');
  return fmt(ns, 'ns');
}

/** A measured value as shown in the verdict table. */
export function formatValue(v: number | null, kind: ValueKind): string {
  if (v === null) return '-';
  switch (kind) {
    case 'duration':
      return formatDuration(v);
    case 'rate':
      return `${sig(v)}/s`;
    case 'count':
    case 'number':
      return sig(v, 6);
  }
}

/** The unit of a measured value in JSON: ns, per-second, or none. */
export function valueUnit(kind: ValueKind): 'ns' | 'per-second' | null {
  return kind === 'duration' ? 'ns' : kind === 'rate' ? 'per-second' : null;
}

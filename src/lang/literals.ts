// Character classes and the scanners of literals: numbers (with time units), strings and
// character literals (with C escapes). Pure functions; problems go to `report`.

import type { IToken } from 'chevrotain';
import type { TimeUnit } from './ast.js';
import { Codes, type Code } from './diagnostics.js';
import * as T from './tokens.js';
import { printable } from './tokens.js';

export type Report = (code: Code, message: string, start: number, end: number, hints?: string[]) => void;

export const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';
export const isHex = (c: string | undefined): boolean => isDigit(c) || (c !== undefined && ((c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')));
export const isIdentStart = (c: string | undefined): boolean =>
  c !== undefined && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c === '_');
export const isIdentPart = (c: string | undefined): boolean => isIdentStart(c) || isDigit(c);
export const isSpace = (c: string | undefined): boolean =>
  c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\f' || c === '\v';

const UNITS: ReadonlySet<string> = new Set<TimeUnit>(['ns', 'us', 'ms', 's', 'm', 'h']);
const INT_SUFFIX = /^(?:u|l|ul|lu|ll|ull|llu)$/i;
const MAX_U64 = (1n << 64n) - 1n;
const SIMPLE_ESCAPES: Readonly<Record<string, string>> = {
  n: '\n', t: '\t', r: '\r', '\\': '\\', '"': '"', "'": "'", a: '\x07', b: '\b', f: '\f', v: '\v', '?': '?',
};

/** A number at `start`: decimal, 0x hex or 0 octal, with an optional time unit or C integer suffix. */
export function scanNumber(s: string, start: number, report: Report): IToken {
  let p = start;
  let digits: string;
  let radix: 'hex' | 'oct' | 'dec';
  if (s[p] === '0' && (s[p + 1] === 'x' || s[p + 1] === 'X')) {
    p += 2;
    const d0 = p;
    while (isHex(s[p])) p++;
    digits = s.slice(d0, p);
    radix = 'hex';
  } else {
    while (isDigit(s[p])) p++;
    digits = s.slice(start, p);
    radix = digits.length > 1 && digits[0] === '0' ? 'oct' : 'dec';
  }
  const suffixStart = p;
  while (isIdentPart(s[p])) p++;
  const suffix = s.slice(suffixStart, p);
  let problem: string | null = null;
  if (suffix === '' && s[p] === '.' && isDigit(s[p + 1])) {
    p++;
    while (isIdentPart(s[p])) p++;
    problem = `floating-point numbers are not supported: '${s.slice(start, p)}'`;
  }
  const image = s.slice(start, p);
  const unit = UNITS.has(suffix) ? (suffix as TimeUnit) : null;
  if (!problem && unit === null && suffix !== '' && !INT_SUFFIX.test(suffix)) problem = `malformed number '${image}'`;
  if (!problem && radix === 'hex' && digits === '') problem = `malformed number '${image}': expected hex digits after '0x'`;
  if (!problem && radix === 'oct' && /[89]/.test(digits)) problem = `malformed octal number '${image}'`;
  let value = 0n;
  if (!problem) {
    value = BigInt(radix === 'hex' ? `0x${digits}` : radix === 'oct' ? `0o${digits.slice(1)}` : digits);
    if (value > MAX_U64) problem = `integer literal '${image}' does not fit in 64 bits`;
  }
  if (problem) report(Codes.BadNumber, problem, start, p);
  return T.makeToken(T.Int, s, start, p, { kind: 'int', value: problem ? 0n : value, unit });
}

/** A string ("...") or character ('x') literal at `start`, escapes decoded. */
export function scanQuoted(s: string, start: number, q: '"' | "'", report: Report): IToken {
  const out: string[] = [];
  let p = start + 1;
  let closed = false;
  while (p < s.length && s[p] !== '\n' && s[p] !== '\r') {
    const c = s[p]!;
    if (c === q) {
      closed = true;
      p++;
      break;
    }
    if (c === '\\') p = escape(s, p, out, report);
    else {
      out.push(c);
      p++;
    }
  }
  const value = out.join('');
  if (q === '"') {
    if (!closed) report(Codes.UnterminatedString, 'unterminated string: expected a closing \'"\' on the same line', start, p);
    return T.makeToken(T.Str, s, start, p, { kind: 'str', value });
  }
  const cp = value.codePointAt(0) ?? 0;
  if (!closed) report(Codes.UnterminatedString, "unterminated character literal: expected a closing \"'\"", start, p);
  else if (value.length === 0) report(Codes.SyntaxError, 'empty character literal', start, p);
  else if (String.fromCodePoint(cp).length !== value.length) {
    report(Codes.SyntaxError, 'a character literal holds exactly one character', start, p, ['use double quotes for strings']);
  }
  return T.makeToken(T.Char, s, start, p, { kind: 'int', value: BigInt(cp), unit: null });
}

/** Decodes the escape starting at the backslash at `p` into `out`; returns the offset after it. */
function escape(s: string, p: number, out: string[], report: Report): number {
  const c = s[p + 1];
  if (c === undefined || c === '\n' || c === '\r') return p + 1; // the caller reports the unterminated literal
  const simple = SIMPLE_ESCAPES[c];
  if (simple !== undefined) {
    out.push(simple);
    return p + 2;
  }
  if (c >= '0' && c <= '7') {
    let q = p + 1;
    while (q < p + 4 && s[q]! >= '0' && s[q]! <= '7') q++;
    const v = parseInt(s.slice(p + 1, q), 8);
    if (v > 255) report(Codes.BadEscape, `octal escape '${s.slice(p, q)}' is out of range (max \\377)`, p, q);
    out.push(String.fromCharCode(v & 0xff));
    return q;
  }
  if (c === 'x') {
    let q = p + 2;
    while (q < p + 4 && isHex(s[q])) q++;
    if (q === p + 2) {
      report(Codes.BadEscape, "'\\x' must be followed by hex digits, e.g. '\\x41'", p, p + 2);
      return p + 2;
    }
    out.push(String.fromCharCode(parseInt(s.slice(p + 2, q), 16)));
    return q;
  }
  const ch = String.fromCodePoint(s.codePointAt(p + 1)!);
  report(Codes.BadEscape, `unknown escape sequence '\\${printable(ch)}'`, p, p + 1 + ch.length,
    ['valid escapes are \\n \\t \\r \\\\ \\" \\\' \\0 \\a \\b \\f \\v \\xHH and \\NNN (octal)']);
  out.push(ch);
  return p + 1 + ch.length;
}

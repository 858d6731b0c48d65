// Token types shared by the hand-written lexer (lexer.ts) and the chevrotain parser
// (parser.ts). The lexer is context-sensitive (probe descriptions, predicate and `< >`
// delimiters depend on where they appear), so no token has a chevrotain pattern: every
// type is `Lexer.NA` and only names, labels (for messages) and categories matter here.

import { createToken, Lexer, type IToken, type TokenType } from 'chevrotain';
import type { ProbePart, TimeUnit } from './ast.js';
import type { Span } from './source.js';

function tok(name: string, label: string, categories: TokenType[] = []): TokenType {
  return createToken({ name, label, pattern: Lexer.NA, categories });
}

// Categories, so that the grammar can say "any binary operator" in one place.
export const BinaryOp = tok('BinaryOp', 'a binary operator');
export const UnaryOp = tok('UnaryOp', 'a unary operator');
export const IncDec = tok('IncDec', "'++' or '--'");
export const AssignOp = tok('AssignOp', 'an assignment operator');

// Clause structure: only produced at the top level of a program.
export const ProbeDesc = tok('ProbeDesc', 'a probe description');
export const Pragma = tok('Pragma', "'#pragma'");
export const PredOpen = tok('PredOpen', "'/'");
export const PredClose = tok('PredClose', "'/'");
export const LAngle = tok('LAngle', "'<'");
export const AngleClose = tok('AngleClose', "'>'");

export const LCurly = tok('LCurly', "'{'");
export const RCurly = tok('RCurly', "'}'");
export const LParen = tok('LParen', "'('");
export const RParen = tok('RParen', "')'");
export const LBracket = tok('LBracket', "'['");
export const RBracket = tok('RBracket', "']'");
export const Comma = tok('Comma', "','");
export const Semi = tok('Semi', "';'");
export const Colon = tok('Colon', "':'");
export const Question = tok('Question', "'?'");
export const Arrow = tok('Arrow', "'->'");
export const Dot = tok('Dot', "'.'");

export const Star = tok('Star', "'*'", [BinaryOp, UnaryOp]);
export const Amp = tok('Amp', "'&'", [BinaryOp, UnaryOp]);
export const Plus = tok('Plus', "'+'", [BinaryOp, UnaryOp]);
export const Minus = tok('Minus', "'-'", [BinaryOp, UnaryOp]);
export const Bang = tok('Bang', "'!'", [UnaryOp]);
export const Tilde = tok('Tilde', "'~'", [UnaryOp]);
export const PlusPlus = tok('PlusPlus', "'++'", [IncDec]);
export const MinusMinus = tok('MinusMinus', "'--'", [IncDec]);
export const Slash = tok('Slash', "'/'", [BinaryOp]);
export const Percent = tok('Percent', "'%'", [BinaryOp]);
export const Shl = tok('Shl', "'<<'", [BinaryOp]);
export const Shr = tok('Shr', "'>>'", [BinaryOp]);
export const Lt = tok('Lt', "'<'", [BinaryOp]);
export const Le = tok('Le', "'<='", [BinaryOp]);
export const Gt = tok('Gt', "'>'", [BinaryOp]);
export const Ge = tok('Ge', "'>='", [BinaryOp]);
export const EqEq = tok('EqEq', "'=='", [BinaryOp]);
export const NotEq = tok('NotEq', "'!='", [BinaryOp]);
export const Caret = tok('Caret', "'^'", [BinaryOp]);
export const Pipe = tok('Pipe', "'|'", [BinaryOp]);
export const AndAnd = tok('AndAnd', "'&&'", [BinaryOp]);
export const XorXor = tok('XorXor', "'^^'", [BinaryOp]);
export const OrOr = tok('OrOr', "'||'", [BinaryOp]);

export const Assign = tok('Assign', "'='", [AssignOp]);
export const PlusEq = tok('PlusEq', "'+='", [AssignOp]);
export const MinusEq = tok('MinusEq', "'-='", [AssignOp]);
export const StarEq = tok('StarEq', "'*='", [AssignOp]);
export const SlashEq = tok('SlashEq', "'/='", [AssignOp]);
export const PercentEq = tok('PercentEq', "'%='", [AssignOp]);
export const AmpEq = tok('AmpEq', "'&='", [AssignOp]);
export const PipeEq = tok('PipeEq', "'|='", [AssignOp]);
export const CaretEq = tok('CaretEq', "'^='", [AssignOp]);
export const ShlEq = tok('ShlEq', "'<<='", [AssignOp]);
export const ShrEq = tok('ShrEq', "'>>='", [AssignOp]);

export const Int = tok('Int', 'a number');
export const Char = tok('Char', 'a character literal');
export const Str = tok('Str', 'a string');
export const Ident = tok('Ident', 'an identifier');
export const Agg = tok('Agg', 'an aggregation');
export const ScriptArg = tok('ScriptArg', 'a script argument');
export const MacroVar = tok('MacroVar', 'a macro variable');

export const If = tok('If', "'if'");
export const Else = tok('Else', "'else'");
export const Self = tok('Self', "'self'");
export const This = tok('This', "'this'");
/** int, unsigned, uint64_t, string, ...: one token type, the word is the image. */
export const TypeKw = tok('TypeKw', 'a type name');
/** struct, union, enum */
export const StructKw = tok('StructKw', "'struct'");

export const allTokens: TokenType[] = [
  BinaryOp, UnaryOp, IncDec, AssignOp,
  ProbeDesc, Pragma, PredOpen, PredClose, LAngle, AngleClose,
  LCurly, RCurly, LParen, RParen, LBracket, RBracket, Comma, Semi, Colon, Question, Arrow, Dot,
  Star, Amp, Plus, Minus, Bang, Tilde, PlusPlus, MinusMinus, Slash, Percent, Shl, Shr,
  Lt, Le, Gt, Ge, EqEq, NotEq, Caret, Pipe, AndAnd, XorXor, OrOr,
  Assign, PlusEq, MinusEq, StarEq, SlashEq, PercentEq, AmpEq, PipeEq, CaretEq, ShlEq, ShrEq,
  Int, Char, Str, Ident, Agg, ScriptArg, MacroVar,
  If, Else, Self, This, TypeKw, StructKw,
];

/** Operators and punctuation of expression context, longest first (the lexer takes the first match). */
export const OPERATORS: readonly (readonly [string, TokenType])[] = [
  ['<<=', ShlEq], ['>>=', ShrEq],
  ['->', Arrow], ['++', PlusPlus], ['--', MinusMinus], ['<<', Shl], ['>>', Shr], ['<=', Le], ['>=', Ge],
  ['==', EqEq], ['!=', NotEq], ['&&', AndAnd], ['||', OrOr], ['^^', XorXor],
  ['+=', PlusEq], ['-=', MinusEq], ['*=', StarEq], ['/=', SlashEq], ['%=', PercentEq],
  ['&=', AmpEq], ['|=', PipeEq], ['^=', CaretEq],
  ['+', Plus], ['-', Minus], ['*', Star], ['/', Slash], ['%', Percent], ['<', Lt], ['>', Gt],
  ['=', Assign], ['!', Bang], ['~', Tilde], ['&', Amp], ['|', Pipe], ['^', Caret],
  ['?', Question], [':', Colon], [';', Semi], [',', Comma], ['.', Dot],
  ['(', LParen], [')', RParen], ['[', LBracket], [']', RBracket], ['{', LCurly], ['}', RCurly],
];

export const KEYWORDS: ReadonlyMap<string, TokenType> = new Map([
  ['if', If], ['else', Else], ['self', Self], ['this', This],
  ['struct', StructKw], ['union', StructKw], ['enum', StructKw],
  ...[
    'void', 'char', 'short', 'int', 'long', 'signed', 'unsigned', 'bool', 'string', 'uint',
    'int8_t', 'int16_t', 'int32_t', 'int64_t', 'uint8_t', 'uint16_t', 'uint32_t', 'uint64_t',
    'intptr_t', 'uintptr_t', 'size_t', 'ssize_t',
  ].map((w) => [w, TypeKw] as const),
]);

// ---- token payloads: what the lexer already decoded, read back by build-ast.ts ----

export interface ProbePayload { readonly kind: 'probe'; readonly parts: readonly ProbePart[] }
export interface PragmaPayload {
  readonly kind: 'pragma';
  readonly namespace: string;
  readonly directive: string;
  readonly argument: string;
  readonly argumentSpan: Span;
}
export interface IntPayload { readonly kind: 'int'; readonly value: bigint; readonly unit: TimeUnit | null }
export interface StrPayload { readonly kind: 'str'; readonly value: string }
export interface NamePayload { readonly kind: 'name'; readonly name: string }
export interface ScriptArgPayload { readonly kind: 'arg'; readonly index: number; readonly quoted: boolean }

export type Payload = ProbePayload | PragmaPayload | IntPayload | StrPayload | NamePayload | ScriptArgPayload;

export function payloadOf<K extends Payload['kind']>(t: IToken, kind: K): Extract<Payload, { kind: K }> | undefined {
  const p = t.payload as Payload | undefined;
  return p?.kind === kind ? (p as Extract<Payload, { kind: K }>) : undefined;
}

/** Creates a token; `end` is exclusive (chevrotain's endOffset is inclusive). */
export function makeToken(type: TokenType, text: string, start: number, end: number, payload?: Payload): IToken {
  return {
    image: text.slice(start, end),
    startOffset: start,
    endOffset: end - 1,
    tokenType: type,
    tokenTypeIdx: type.tokenTypeIdx!,
    payload,
  };
}

/** The literal text of a token type for messages: `'}'`, never `RCurly`. */
export function describeType(t: TokenType): string {
  return t.LABEL ?? t.name;
}

/** Text safe to show inside a one-line message: control and invisible characters escaped. */
export function printable(text: string): string {
  let out = '';
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    const invisible = cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || (cp >= 0xd800 && cp <= 0xdfff) || cp === 0xfeff || (cp >= 0x200b && cp <= 0x200f) || cp === 0x2028 || cp === 0x2029;
    out += invisible ? `\\u{${cp.toString(16).toUpperCase()}}` : ch;
  }
  return out;
}

/** `'x'` for a message, shortened and made printable. */
export function quote(image: string): string {
  const shown = image.length > 32 ? `${image.slice(0, 32)}...` : image;
  return `'${printable(shown)}'`;
}

// A small random program generator for the parser fuzz test. It builds a program as a
// tree, prints it as source (with the fewest parentheses precedence allows, plus those the
// context demands: '/' in predicates, '>' in `< >` blocks), and also prints what the parser
// should build, in the S-expression form of sexpr.ts. No dependencies; seeded.

import { BINARY_PRECEDENCE, type BinaryOp } from '../../src/lang/ast.js';

/** mulberry32: a tiny seeded PRNG. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class Rand {
  constructor(readonly next: () => number) {}
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
}

/** A token-level mutation: delete, duplicate or swap whole tokens (words, punctuation, spaces). */
export function mutateTokens(t: string, r: Rand): string {
  const toks = t.match(/\s+|\w+|[^\w\s]/gu) ?? [];
  if (toks.length < 2) return t;
  const i = r.int(toks.length);
  const j = r.int(toks.length);
  const op = r.int(3);
  if (op === 0) toks.splice(i, 1);
  else if (op === 1) toks.splice(i, 0, toks[j]!);
  else [toks[i], toks[j]] = [toks[j]!, toks[i]!];
  return toks.join('');
}

// ---- expressions ----

type N =
  | { k: 'leaf'; text: string; sx: string }
  | { k: 'agg'; name: string; keys: N[] | null }
  | { k: 'call'; name: string; args: N[] }
  | { k: 'index'; obj: N; keys: N[] }
  | { k: 'member'; obj: N; name: string; arrow: boolean }
  | { k: 'unary'; op: string; x: N }
  | { k: 'pre'; op: string; x: N }
  | { k: 'post'; op: string; x: N }
  | { k: 'bin'; op: BinaryOp; l: N; r: N }
  | { k: 'tern'; c: N; t: N; e: N }
  | { k: 'assign'; op: string; t: N; v: N }
  | { k: 'cast'; type: string; ptr: number; x: N };

type Mode = 'normal' | 'pred' | 'angle';
interface Ctx {
  readonly mode: Mode;
  /** Not inside any (), [] or {}: where '/' ends a predicate and '>' ends a `< >` block. */
  readonly depth0: boolean;
}

const IDENTS = ['x', 'y', 'foo', 'pid', 'tid', 'arg0', 'arg1', 'args', 'execname', 'timestamp', 'curthread', 'retval', 'n_2', '_tmp'];
const FIELDS = ['ts', 'name', 'pr_argv', 'filename', 'count', 'this', 'self', 'string', 'int'];
const FUNCS = ['count', 'sum', 'avg', 'quantize', 'lquantize', 'printf', 'copyinstr', 'strlen', 'stringof', 'f'];
const AGGS = ['', 'lat', 'calls', 'bytes_by_pid', 'x1'];
const MACROS = ['target', 'pid', 'ppid', 'uid'];
const TYPES: readonly (readonly [string, string])[] = [
  // [as written, as the AST names it]
  ['int', 'int'], ['uint64_t', 'uint64_t'], ['unsigned long', 'unsigned long'], ['unsigned long long', 'unsigned long long'],
  ['string', 'string'], ['char', 'char'], ['struct task_struct', 'struct task_struct'], ['size_t', 'size_t'], ['signed char', 'signed char'],
];
const BINOPS = Object.keys(BINARY_PRECEDENCE) as BinaryOp[];
const ASSIGN_OPS = ['=', '=', '=', '+=', '-=', '*=', '/=', '%=', '&=', '|=', '^=', '<<=', '>>='];
const UNITS = ['ns', 'us', 'ms', 's', 'm', 'h'];
const FORBIDDEN: Readonly<Record<Mode, readonly string[]>> = {
  normal: [],
  pred: ['/', '/='],
  angle: ['>', '>=', '>>', '>>='],
};

const level = (n: N): number => {
  switch (n.k) {
    case 'leaf': case 'agg': case 'call': return 15;
    case 'index': case 'member': case 'post': return 14;
    case 'unary': case 'pre': case 'cast': return 13;
    case 'bin': return 1 + BINARY_PRECEDENCE[n.op];
    case 'tern': return 1;
    case 'assign': return 0;
  }
};

export class ExprGen {
  constructor(private readonly r: Rand) {}

  intLit(): N {
    const r = this.r;
    const v = BigInt(r.int(r.chance(0.2) ? 1_000_000_000 : 300));
    const form = r.int(6);
    if (form === 0) return { k: 'leaf', text: `0x${v.toString(16)}${r.pick(['', 'u', 'UL'])}`, sx: `${v}` };
    if (form === 1 && v > 0n) return { k: 'leaf', text: `0${v.toString(8)}`, sx: `${v}` };
    if (form === 2) {
      const unit = r.pick(UNITS);
      return { k: 'leaf', text: `${v}${unit}`, sx: `${v}${unit}` };
    }
    if (form === 3) return { k: 'leaf', text: `${v}${r.pick(['u', 'l', 'ul', 'ull', 'LL'])}`, sx: `${v}` };
    return { k: 'leaf', text: `${v}`, sx: `${v}` };
  }

  strLit(): N {
    const r = this.r;
    const chars = ['a', 'b', 'Z', ' ', '%', 'd', '/', '>', '<', '{', '}', "'", '"', '\\', '\n', '\t', '\0', '\x07', 'é', '漢', '😀', 'A'];
    let value = '';
    let text = '"';
    for (let i = r.int(8); i > 0; i--) {
      const c = r.pick(chars);
      value += c;
      text += escapeFor(c, r);
    }
    return { k: 'leaf', text: text + '"', sx: JSON.stringify(value) };
  }

  charLit(): N {
    const r = this.r;
    const [text, code] = r.pick([["'a'", 97], ["'\\n'", 10], ["'\\''", 39], ["'\\0'", 0], ["'\\x41'", 65], ["'\"'", 34], ["'/'", 47], ["'>'", 62], ["'\\\\'", 92]] as const);
    return { k: 'leaf', text, sx: `${code}` };
  }

  variable(): N {
    const r = this.r;
    switch (r.int(7)) {
      case 0: {
        const f = r.pick(FIELDS);
        return { k: 'leaf', text: `self->${f}`, sx: `self->${f}` };
      }
      case 1: {
        const f = r.pick(FIELDS);
        return { k: 'leaf', text: `this->${f}`, sx: `this->${f}` };
      }
      case 2: {
        const i = r.int(10);
        const q = r.chance(0.3) ? '$' : '';
        return { k: 'leaf', text: `$${q}${i}`, sx: `$${q}${i}` };
      }
      case 3: {
        const m = r.pick(MACROS);
        return { k: 'leaf', text: `$${m}`, sx: `$${m}` };
      }
      default: {
        const id = r.pick(IDENTS);
        return { k: 'leaf', text: id, sx: id };
      }
    }
  }

  /** Something assignable: a variable, aggregation, member or index. */
  lvalue(d: number): N {
    const r = this.r;
    const c = r.int(5);
    if (c === 0) return { k: 'agg', name: r.pick(AGGS), keys: r.chance(0.6) ? this.list(d, 1 + r.int(2)) : null };
    if (c === 1) return { k: 'member', obj: this.variable(), name: r.pick(FIELDS), arrow: r.chance(0.7) };
    if (c === 2) return { k: 'index', obj: this.variable(), keys: this.list(d, 1 + r.int(2)) };
    return this.variable();
  }

  list(d: number, n: number): N[] {
    return Array.from({ length: n }, () => this.expr(d - 1));
  }

  primary(d: number): N {
    const r = this.r;
    switch (r.int(8)) {
      case 0: case 1: return this.intLit();
      case 2: return this.strLit();
      case 3: return this.charLit();
      case 4: return { k: 'call', name: r.pick(FUNCS), args: d > 0 ? this.list(d, r.int(4)) : [] };
      case 5: return { k: 'agg', name: r.pick(AGGS), keys: d > 0 && r.chance(0.5) ? this.list(d, 1 + r.int(2)) : null };
      default: return this.variable();
    }
  }

  expr(d: number): N {
    const r = this.r;
    if (d <= 0) return this.primary(0);
    switch (r.int(12)) {
      case 0: case 1: case 2: return { k: 'bin', op: r.pick(BINOPS), l: this.expr(d - 1), r: this.expr(d - 1) };
      case 3: return { k: 'unary', op: r.pick(['-', '+', '!', '~', '*', '&']), x: this.expr(d - 1) };
      case 4: return { k: r.chance(0.5) ? 'pre' : 'post', op: r.pick(['++', '--']), x: this.lvalue(d - 1) };
      case 5: return { k: 'tern', c: this.expr(d - 1), t: this.expr(d - 1), e: this.expr(d - 1) };
      case 6: return { k: 'assign', op: r.pick(ASSIGN_OPS), t: this.lvalue(d - 1), v: this.expr(d - 1) };
      case 7: {
        const [written] = r.pick(TYPES);
        return { k: 'cast', type: written, ptr: written.startsWith('struct') ? 1 + r.int(2) : r.int(2), x: this.expr(d - 1) };
      }
      case 8: return { k: 'member', obj: this.postfixable(d - 1), name: r.pick(FIELDS), arrow: r.chance(0.6) };
      case 9: return { k: 'index', obj: this.postfixable(d - 1), keys: this.list(d, 1 + r.int(2)) };
      default: return this.primary(d);
    }
  }

  /** An object for '->', '.', '[]': anything but a number (`1.x` would lex as a bad number). */
  private postfixable(d: number): N {
    const n = this.expr(d);
    return n.k === 'leaf' && /^[0-9'"]/.test(n.text) ? this.variable() : n;
  }
}

function escapeFor(c: string, r: Rand): string {
  switch (c) {
    case '\n': return '\\n';
    case '\t': return '\\t';
    case '\0': return r.pick(['\\0', '\\000', '\\x00']);
    case '\x07': return r.pick(['\\a', '\\x07', '\\007']);
    case '"': return '\\"';
    case '\\': return '\\\\';
    case "'": return r.pick(["'", "\\'"]);
    case 'A': return r.pick(['A', '\\x41', '\\101']);
    default: return c;
  }
}

/** Source text of an expression, parenthesised where precedence or context requires. */
export function print(n: N, ctx: Ctx): string {
  const sub = (child: N, min: number, inner: Ctx = ctx): string =>
    level(child) < min ? `(${print(child, { ...inner, depth0: false })})` : print(child, inner);
  const nested: Ctx = { ...ctx, depth0: false };
  switch (n.k) {
    case 'leaf':
      return n.text;
    case 'agg':
      return `@${n.name}${n.keys ? `[${n.keys.map((k) => print(k, nested)).join(', ')}]` : ''}`;
    case 'call':
      return `${n.name}(${n.args.map((a) => print(a, nested)).join(', ')})`;
    case 'index': {
      // `@a[k]` would be the aggregation's own keys; `(@a)[k]` indexes it.
      const obj = n.obj.k === 'agg' && !n.obj.keys ? `(${print(n.obj, nested)})` : sub(n.obj, 14);
      return `${obj}[${n.keys.map((k) => print(k, nested)).join(', ')}]`;
    }
    case 'member':
      return `${sub(n.obj, 14)}${n.arrow ? '->' : '.'}${n.name}`;
    case 'unary':
    case 'pre':
      return glue(n.op, sub(n.x, 13));
    case 'post':
      return `${sub(n.x, 14)}${n.op}`;
    case 'cast':
      return `(${n.type}${' *'.repeat(n.ptr)})${sub(n.x, 13)}`;
    case 'tern':
      return `${sub(n.c, 2)} ? ${sub(n.t, 0)} : ${sub(n.e, 0)}`;
    case 'bin':
    case 'assign': {
      if (ctx.depth0 && FORBIDDEN[ctx.mode].includes(n.op)) return `(${print(n, nested)})`;
      if (n.k === 'assign') return `${sub(n.t, 2)} ${n.op} ${sub(n.v, 0)}`;
      const p = level(n);
      return `${sub(n.l, p)} ${n.op} ${sub(n.r, p + 1)}`;
    }
  }
}

/** A prefix operator and its operand, spaced where they would otherwise lex as one token. */
function glue(op: string, operand: string): string {
  return /^[-+&*!~<>=|]/.test(operand) ? `${op} ${operand}` : `${op}${operand}`;
}

/** What the parser should build, in sexpr.ts's notation. */
export function expected(n: N): string {
  switch (n.k) {
    case 'leaf': return n.sx;
    case 'agg': return n.keys ? `(@${n.name} ${n.keys.map(expected).join(' ')})` : `@${n.name}`;
    case 'call': return `(${n.name}${n.args.map((a) => ` ${expected(a)}`).join('')})`;
    case 'index': return `(index ${expected(n.obj)} ${n.keys.map(expected).join(' ')})`;
    case 'member': return `(${n.arrow ? '->' : '.'} ${expected(n.obj)} ${n.name})`;
    case 'unary': return `(${n.op} ${expected(n.x)})`;
    case 'pre': return `(${n.op}x ${expected(n.x)})`;
    case 'post': return `(x${n.op} ${expected(n.x)})`;
    case 'cast': return `(cast ${n.type}${'*'.repeat(n.ptr)} ${expected(n.x)})`;
    case 'tern': return `(? ${expected(n.c)} ${expected(n.t)} ${expected(n.e)})`;
    case 'bin': return `(${n.op} ${expected(n.l)} ${expected(n.r)})`;
    case 'assign': return `(${n.op} ${expected(n.t)} ${expected(n.v)})`;
  }
}

// ---- statements, clauses, programs ----

type S = { k: 'expr'; e: N } | { k: 'if'; c: N; then: S[]; thenBlock: boolean; else: S[] | null; elseBlock: boolean } | { k: 'empty' };

const PROBES: readonly (readonly [string, readonly string[]])[] = [
  ['BEGIN', ['BEGIN']], ['END', ['END']], ['tick-1s', ['tick-1s']], ['profile-997', ['profile-997']],
  ['profile:hz:99', ['profile', 'hz', '99']], ['interval:s:1', ['interval', 's', '1']],
  ['tracepoint:syscalls:sys_enter_openat', ['tracepoint', 'syscalls', 'sys_enter_openat']],
  ['tracepoint:syscalls:sys_enter_*', ['tracepoint', 'syscalls', 'sys_enter_*']],
  ['syscall::read:entry', ['syscall', '', 'read', 'entry']], ['syscall::read*:return', ['syscall', '', 'read*', 'return']],
  ['pid$target::main.handle:entry', ['pid$target', '', 'main.handle', 'entry']],
  ['pid1234:libc.so.6:malloc:entry', ['pid1234', 'libc.so.6', 'malloc', 'entry']],
  ['uprobe:main.handle', ['uprobe', 'main.handle']], ['uprobe:main.(*Server).handle', ['uprobe', 'main.(*Server).handle']],
  ['uretprobe:/app/bin/svc:main.handle', ['uretprobe', '/app/bin/svc', 'main.handle']],
  ['uprobe:/lib/x86_64-linux-gnu/libc.so.6:malloc', ['uprobe', '/lib/x86_64-linux-gnu/libc.so.6', 'malloc']],
  ['usdt:/app/svc:myprov:myprobe', ['usdt', '/app/svc', 'myprov', 'myprobe']],
  ['usdt:/usr/lib/libc.so.6:libc:setjmp', ['usdt', '/usr/lib/libc.so.6', 'libc', 'setjmp']],
  ['software:page-faults:100', ['software', 'page-faults', '100']], ['syscall:::entry', ['syscall', '', '', 'entry']],
  ['uprobe:/svc:"net/http.(*conn).serve"', ['uprobe', '/svc', 'net/http.(*conn).serve"']],
];
const PROVIDERS = ['syscall', 'pid$target', 'pid42', 'fbt', 'sched', 'proc', 'io'];
const FUNCTIONS = ['read', 'write*', 'main.handle', 'main.(*S).h', 'sys_?ead', '', 'a-b+c', 'x[1]!~@'];

export interface Generated {
  readonly text: string;
  /** The expected summary of Program.items (see summarize in fuzz.test.ts). */
  readonly items: readonly string[];
}

export class ProgramGen {
  private readonly ex: ExprGen;
  constructor(private readonly r: Rand) {
    this.ex = new ExprGen(r);
  }

  program(): Generated {
    const r = this.r;
    let text = r.chance(0.1) ? '#!/usr/sbin/trace -s\n' : '';
    const items: string[] = [];
    const n = 1 + r.int(4);
    for (let i = 0; i < n; i++) {
      if (r.chance(0.15)) {
        const [ns, dir, arg] = r.pick([['D', 'option', 'quiet'], ['D', 'option', 'aggrate=1s'], ['ctrace', 'expect', 'p99(@lat) < 20ms'], ['D', 'option', '']] as const);
        text += `${text && !text.endsWith('\n') ? '\n' : ''}#pragma ${ns} ${dir}${arg ? ` ${arg}` : ''}${r.pick(['', '  '])}\n`;
        items.push(`pragma ${ns} ${dir} [${arg}]`);
      }
      const c = this.clause();
      text += c.text + this.between();
      items.push(c.summary);
    }
    return { text, items };
  }

  private between(): string {
    return this.r.pick(['\n', '\n\n', ' ', '\n/* between\n clauses */\n', ' // trailing comment\n', '\r\n']);
  }

  private probe(): { text: string; parts: string[] } {
    const r = this.r;
    if (r.chance(0.6)) {
      const [text, parts] = r.pick(PROBES);
      return { text, parts: parts.map((p) => p) };
    }
    const parts = [r.pick(PROVIDERS), r.pick(['', 'libc.so.6', 'kernel']), r.pick(FUNCTIONS), r.pick(['entry', 'return', ''])];
    if (parts[0] === 'syscall' && r.chance(0.5)) parts[1] = '';
    return { text: parts.join(':'), parts };
  }

  private clause(): { text: string; summary: string } {
    const r = this.r;
    const probes = Array.from({ length: r.chance(0.3) ? 2 + r.int(2) : 1 }, () => this.probe());
    let text = probes[0]!.text;
    for (const p of probes.slice(1)) text += r.pick([',', ', ', ',\n  ', ', /* or */ ', ', // or\n']) + p.text;
    const last = probes[probes.length - 1]!;
    const angle = r.chance(0.35);
    let pred = '';
    if (r.chance(0.4)) {
      const e = this.ex.expr(1 + r.int(3));
      // `probe/pred/` is one probe then a predicate, unless the probe's last part is empty or a path.
      const lastPart = last.parts[last.parts.length - 1]!;
      const tight = lastPart !== '' && !lastPart.startsWith('/') && r.chance(0.5);
      const p = print(e, { mode: 'pred', depth0: true });
      // `/*p/` would open a comment.
      text += `${tight ? '' : r.pick([' ', '\n'])}/${p.startsWith('*') ? ' ' : ''}${p}/`;
      pred = expected(e);
    }
    const body = Array.from({ length: r.int(4) }, () => this.stmt(2));
    const inner = this.stmts(body, angle ? 'angle' : 'normal', true);
    text += angle ? `${r.pick([' ', '', '\n'])}<${inner}>` : `${r.pick([' ', '', '\n'])}{${inner}}`;
    const parts = probes.map((p) => JSON.stringify(p.parts)).join(', ');
    return { text, summary: `clause ${parts} /${pred}/ ${angle ? 'angle' : 'brace'} {${summarizeStmts(body)}}` };
  }

  private stmt(d: number): S {
    const r = this.r;
    const c = r.int(10);
    if (c === 0) return { k: 'empty' };
    if (c <= 2 && d > 0) {
      const then = Array.from({ length: r.int(3) }, () => this.stmt(d - 1));
      const thenBlock = then.length !== 1 || then[0]!.k !== 'expr' || r.chance(0.5);
      let otherwise: S[] | null = null;
      let elseBlock = true;
      if (r.chance(0.5)) {
        otherwise = r.chance(0.3) ? [this.stmt(d - 1)] : Array.from({ length: r.int(3) }, () => this.stmt(d - 1));
        // A lone `if` or expression may go without braces (`else if` chains).
        elseBlock = !(otherwise.length === 1 && otherwise[0]!.k !== 'empty') || r.chance(0.5);
      }
      return { k: 'if', c: this.ex.expr(1 + r.int(2)), then, thenBlock, else: otherwise, elseBlock };
    }
    if (c <= 5) return { k: 'expr', e: { k: 'assign', op: r.pick(ASSIGN_OPS), t: this.ex.lvalue(1), v: this.ex.expr(1 + r.int(3)) } };
    if (c <= 7) return { k: 'expr', e: { k: 'call', name: r.pick(FUNCS), args: this.ex.list(2, r.int(3)) } };
    return { k: 'expr', e: this.ex.expr(1 + r.int(3)) };
  }

  /** Statements of a block; the last ';' before the closer is optional. */
  private stmts(list: S[], mode: Mode, depth0: boolean): string {
    const r = this.r;
    const sep = (): string => r.pick([' ', '\n  ', ' ', '\n  // note\n  ', ' /* c */ ']);
    let out = sep();
    list.forEach((s, i) => {
      const last = i === list.length - 1;
      out += this.stmtText(s, mode, depth0, !last || r.chance(0.5)) + sep();
    });
    return out;
  }

  private stmtText(s: S, mode: Mode, depth0: boolean, semi: boolean): string {
    if (s.k === 'empty') return ';';
    if (s.k === 'expr') return print(s.e, { mode, depth0 }) + (semi ? ';' : '');
    const body = (b: S[], block: boolean): string =>
      block ? `{${this.stmts(b, mode, false)}}` : this.stmtText(b[0]!, mode, depth0, true);
    let out = `if (${print(s.c, { mode, depth0: false })}) ${body(s.then, s.thenBlock)}`;
    if (s.else) out += ` else ${body(s.else, s.elseBlock)}`;
    return out;
  }
}

function summarizeStmts(list: readonly S[]): string {
  return list.flatMap((s) => (s.k === 'empty' ? [] : [summarizeStmt(s)])).join('; ');
}

function summarizeStmt(s: Exclude<S, { k: 'empty' }>): string {
  if (s.k === 'expr') return expected(s.e);
  return `(if ${expected(s.c)} {${summarizeStmts(s.then)}}${s.else ? ` else {${summarizeStmts(s.else)}}` : ''})`;
}

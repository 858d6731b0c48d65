import { describe, expect, it } from 'vitest';
import type { AggRef, Call, Cast, Clause, ExprStmt, Expr, IfStmt, IntLit, Member, Pragma, Program } from '../../src/lang/ast.js';
import { formatDiagnostic, type Diagnostic } from '../../src/lang/diagnostics.js';
import { parse } from '../../src/lang/parse.js';
import { COMMAND_LINE, Source, type Span } from '../../src/lang/source.js';
import { allTokens } from '../../src/lang/tokens.js';
import { sexpr, stmtSexpr } from './sexpr.js';

// ---- helpers ----

function run(text: string, name = COMMAND_LINE): { program: Program; diagnostics: Diagnostic[]; source: Source } {
  const source = new Source(name, text);
  return { ...parse(source), source };
}

/** Parses a program that must have no diagnostics. */
function ok(text: string): Program {
  const r = run(text);
  expect(r.diagnostics.map((d) => d.message)).toEqual([]);
  return r.program;
}

function clauses(text: string): Clause[] {
  return ok(text).items.filter((i): i is Clause => i.kind === 'Clause');
}

function clause(text: string): Clause {
  const cs = clauses(text);
  expect(cs).toHaveLength(1);
  return cs[0]!;
}

/** The statements of `BEGIN { <body> }`, as S-expressions. */
function body(src: string): string[] {
  return clause(`BEGIN { ${src} }`).body.map(stmtSexpr);
}

/** The single expression statement of `BEGIN { <src>; }`. */
function exprOf(src: string): Expr {
  const c = clause(`BEGIN { ${src}; }`);
  expect(c.body).toHaveLength(1);
  const s = c.body[0]!;
  expect(s.kind).toBe('ExprStmt');
  return (s as ExprStmt).expr;
}

const e = (src: string): string => sexpr(exprOf(src));

/** The span of the nth occurrence of `fragment` in `text`. */
function at(text: string, fragment: string, nth = 0): Span {
  let i = -1;
  for (let k = 0; k <= nth; k++) {
    i = text.indexOf(fragment, i + 1);
    if (i < 0) throw new Error(`'${fragment}' not found ${nth + 1} times in '${text}'`);
  }
  return { start: i, end: i + fragment.length };
}

interface D {
  code: string;
  message: string;
  span: Span;
  hints?: readonly string[];
}

function diags(text: string): D[] {
  return run(text).diagnostics.map((d) => ({ code: d.code, message: d.message, span: d.span, ...(d.hints ? { hints: d.hints } : {}) }));
}

/** The one diagnostic a program yields. */
function diag(text: string): D {
  const ds = diags(text);
  expect(ds, JSON.stringify(ds)).toHaveLength(1);
  return ds[0]!;
}

// ---- probes ----

describe('probe descriptions', () => {
  it.each<[string, string[]]>([
    ['BEGIN', ['BEGIN']],
    ['END', ['END']],
    ['tick-1s', ['tick-1s']],
    ['profile-997', ['profile-997']],
    ['profile:hz:99', ['profile', 'hz', '99']],
    ['interval:s:1', ['interval', 's', '1']],
    ['tracepoint:syscalls:sys_enter_openat', ['tracepoint', 'syscalls', 'sys_enter_openat']],
    ['tracepoint:syscalls:sys_enter_*', ['tracepoint', 'syscalls', 'sys_enter_*']],
    ['syscall::read:entry', ['syscall', '', 'read', 'entry']],
    ['syscall::read*:return', ['syscall', '', 'read*', 'return']],
    ['syscall:::entry', ['syscall', '', '', 'entry']],
    ['pid$target::main.handle:entry', ['pid$target', '', 'main.handle', 'entry']],
    ['pid1234:libc.so.6:malloc:entry', ['pid1234', 'libc.so.6', 'malloc', 'entry']],
    ['uprobe:main.handle', ['uprobe', 'main.handle']],
    ['uprobe:main.(*Server).handle', ['uprobe', 'main.(*Server).handle']],
    ['uretprobe:/app/bin/svc:main.handle', ['uretprobe', '/app/bin/svc', 'main.handle']],
    ['uprobe:/lib/x86_64-linux-gnu/libc.so.6:malloc', ['uprobe', '/lib/x86_64-linux-gnu/libc.so.6', 'malloc']],
    ['usdt:/app/svc:myprov:myprobe', ['usdt', '/app/svc', 'myprov', 'myprobe']],
    ['usdt:/usr/lib/libc.so.6:libc:setjmp', ['usdt', '/usr/lib/libc.so.6', 'libc', 'setjmp']],
    ['software:page-faults:100', ['software', 'page-faults', '100']],
    ['sched:::on-cpu', ['sched', '', '', 'on-cpu']],
    ['uprobe:/bin/x:f+0x10', ['uprobe', '/bin/x', 'f+0x10']],
  ])('%s is one probe', (text, parts) => {
    for (const block of [' { }', '{}', ' < >', '\n{\n}']) {
      const c = clause(text + block);
      expect(c.probes).toHaveLength(1);
      const p = c.probes[0]!;
      expect(p.text).toBe(text);
      expect(p.span).toEqual({ start: 0, end: text.length });
      expect(p.parts.map((x) => x.value)).toEqual(parts);
      expect(p.parts.every((x) => !x.quoted)).toBe(true);
    }
  });

  it('gives each part its span, empty parts included', () => {
    const p = clause('syscall::read:entry {}').probes[0]!;
    expect(p.parts.map((x) => x.span)).toEqual([
      { start: 0, end: 7 },
      { start: 8, end: 8 },
      { start: 9, end: 13 },
      { start: 14, end: 19 },
    ]);
  });

  it('takes a double-quoted part verbatim, without its quotes', () => {
    const text = 'uprobe:/svc:"net/http.(*conn).serve" { }';
    const p = clause(text).probes[0]!;
    expect(p.parts).toEqual([
      { value: 'uprobe', quoted: false, span: at(text, 'uprobe') },
      { value: '/svc', quoted: false, span: at(text, '/svc') },
      { value: 'net/http.(*conn).serve', quoted: true, span: at(text, '"net/http.(*conn).serve"') },
    ]);
    expect(p.text).toBe('uprobe:/svc:"net/http.(*conn).serve"');
  });

  it('reads several probes separated by commas, whitespace, newlines and comments', () => {
    const text = 'syscall::read:entry,syscall::write:entry ,\n  uprobe:/app/svc:main.handle, // and\n  /* also */ BEGIN\n{ }';
    const c = clause(text);
    expect(c.probes.map((p) => p.text)).toEqual(['syscall::read:entry', 'syscall::write:entry', 'uprobe:/app/svc:main.handle', 'BEGIN']);
    expect(c.probes[3]!.span).toEqual(at(text, 'BEGIN'));
  });

  it("ends a probe at a '/' that does not start a part: the predicate may follow without a space", () => {
    const c = clause('syscall::read:entry/execname == "cat"/ { @ = count(); }');
    expect(c.probes[0]!.parts.map((p) => p.value)).toEqual(['syscall', '', 'read', 'entry']);
    expect(sexpr(c.predicate!)).toBe('(== execname "cat")');
    expect(sexpr(clause('uprobe:/app/bin/svc:main.handle/pid == 1/ {}').predicate!)).toBe('(== pid 1)');
    expect(sexpr(clause('tick-1s/x/<>').predicate!)).toBe('x');
  });

  it('ends a path part at whitespace', () => {
    const c = clause('uprobe:/app/bin/svc /pid == 1/ {}');
    expect(c.probes[0]!.parts.map((p) => p.value)).toEqual(['uprobe', '/app/bin/svc']);
    expect(c.predicate).not.toBeNull();
  });
});

// ---- clauses, predicates, blocks ----

describe('clauses', () => {
  it('reads both block styles', () => {
    const [a, b] = clauses('BEGIN { x = 1; }\ntick-1s < @x = count() >');
    expect(a!.blockStyle).toBe('brace');
    expect(a!.body.map(stmtSexpr)).toEqual(['(= x 1)']);
    expect(b!.blockStyle).toBe('angle');
    expect(b!.body.map(stmtSexpr)).toEqual(['(= @x (count))']);
  });

  it('reads clauses back to back, on one line or several', () => {
    const cs = clauses('BEGIN{}END{x=1;}tick-1s<y=2>profile:hz:99 < > interval:s:1\n{\n}\n');
    expect(cs.map((c) => c.probes[0]!.text)).toEqual(['BEGIN', 'END', 'tick-1s', 'profile:hz:99', 'interval:s:1']);
  });

  it('allows empty blocks, empty statements and a missing last semicolon', () => {
    expect(clause('BEGIN {}').body).toEqual([]);
    expect(clause('BEGIN < >').body).toEqual([]);
    expect(body(';;')).toEqual([]);
    expect(body('x = 1;; y = 2')).toEqual(['(= x 1)', '(= y 2)']);
    expect(clause('tick-1s < a = 1; b = 2; >').body.map(stmtSexpr)).toEqual(['(= a 1)', '(= b 2)']);
    expect(clause('tick-1s < a = 1; b = 2 >').body.map(stmtSexpr)).toEqual(['(= a 1)', '(= b 2)']);
  });

  it('reads a predicate, on the same line or the next', () => {
    expect(sexpr(clause('syscall::read:entry /pid == $target/ { }').predicate!)).toBe('(== pid $target)');
    expect(sexpr(clause('syscall::read:entry\n/pid == 1 &&\n  execname == "x"/\n{\n}').predicate!)).toBe('(&& (== pid 1) (== execname "x"))');
    expect(clause('BEGIN { }').predicate).toBeNull();
  });

  it("reads a parenthesised division in a predicate: a '/' at depth 0 ends it", () => {
    expect(sexpr(clause('BEGIN /(x / 2) > 1/ { }').predicate!)).toBe('(> (/ x 2) 1)');
    expect(sexpr(clause('BEGIN /f(a / b, c[d / 2]) < 3/ { }').predicate!)).toBe('(< (f (/ a b) (index c (/ d 2))) 3)');
    expect(sexpr(clause('BEGIN /a < b && c > d/ < @ = count() >').predicate!)).toBe('(&& (< a b) (> c d))');
    expect(sexpr(clause('BEGIN /x == "a/b"/ {}').predicate!)).toBe('(== x "a/b")');
  });

  it("reads '>' inside parentheses, brackets and braces of a '< >' block", () => {
    const c = clause('tick-1s < @x = (a > b); @y[a > b] = f(c >= d, e >> 1); if (x > 1) { @big = y > 2; } else { z >>= 1 } >');
    expect(c.body.map(stmtSexpr)).toEqual([
      '(= @x (> a b))',
      '(= (@y (> a b)) (f (>= c d) (>> e 1)))',
      '(if (> x 1) {(= @big (> y 2))} else {(>>= z 1)})',
    ]);
  });

  it("reads '->', '<' and '<<' at depth 0 of a '< >' block", () => {
    expect(clause('BEGIN < self->x = a < b; y = c << 2; this->z = curthread->pid >').body.map(stmtSexpr)).toEqual([
      '(= self->x (< a b))',
      '(= y (<< c 2))',
      '(= this->z (-> curthread pid))',
    ]);
  });
});

// ---- statements ----

describe('statements', () => {
  it('reads if, if/else and else-if chains', () => {
    expect(body('if (x) y = 1;')).toEqual(['(if x {(= y 1)})']);
    expect(body('if (x) { y = 1; z = 2; }')).toEqual(['(if x {(= y 1); (= z 2)})']);
    expect(body('if (x) y = 1; else y = 2;')).toEqual(['(if x {(= y 1)} else {(= y 2)})']);
    expect(body('if (a) { x = 1; } else if (b) { x = 2; } else if (c) x = 3; else { x = 4; }')).toEqual([
      '(if a {(= x 1)} else {(if b {(= x 2)} else {(if c {(= x 3)} else {(= x 4)})})})',
    ]);
    expect(body('if (x) ; else { }')).toEqual(['(if x {} else {})']);
  });

  it('gives an else to the nearest if', () => {
    expect(body('if (a) if (b) x; else y;')).toEqual(['(if a {(if b {x} else {y})})']);
  });

  it('reads an if as the last statement without a semicolon, and statements after an if', () => {
    expect(body('if (a) x = 1')).toEqual(['(if a {(= x 1)})']);
    expect(body('if (a) { } x = 1; if (b) { } y')).toEqual(['(if a {})', '(= x 1)', '(if b {})', 'y']);
  });

  it('builds else-if as an else branch holding one IfStmt', () => {
    const s = clause('BEGIN { if (a) x; else if (b) y; }').body[0] as IfStmt;
    expect(s.else).toHaveLength(1);
    expect(s.else![0]!.kind).toBe('If');
  });
});

// ---- expressions ----

describe('operator precedence and associativity', () => {
  it.each([
    ['a || b ^^ c', '(|| a (^^ b c))'],
    ['a ^^ b || c', '(|| (^^ a b) c)'],
    ['a ^^ b && c', '(^^ a (&& b c))'],
    ['a && b | c', '(&& a (| b c))'],
    ['a | b ^ c', '(| a (^ b c))'],
    ['a ^ b & c', '(^ a (& b c))'],
    ['a & b == c', '(& a (== b c))'],
    ['a == b < c', '(== a (< b c))'],
    ['a != b >= c', '(!= a (>= b c))'],
    ['a <= b > c', '(> (<= a b) c)'],
    ['a < b << c', '(< a (<< b c))'],
    ['a >> b + c', '(>> a (+ b c))'],
    ['a + b * c', '(+ a (* b c))'],
    ['a - b % c', '(- a (% b c))'],
    ['a * b / c % d', '(% (/ (* a b) c) d)'],
    ['a - b - c', '(- (- a b) c)'],
    ['a << b >> c', '(>> (<< a b) c)'],
    ['a == b != c', '(!= (== a b) c)'],
    ['a || b || c', '(|| (|| a b) c)'],
    ['a * b + c * d', '(+ (* a b) (* c d))'],
    ['a || b && c | d ^ e & f == g < h << i + j * k', '(|| a (&& b (| c (^ d (& e (== f (< g (<< h (+ i (* j k))))))))))'],
    ['a * b + c << d < e == f & g ^ h | i && j ^^ k || l', '(|| (^^ (&& (| (^ (& (== (< (<< (+ (* a b) c) d) e) f) g) h) i) j) k) l)'],
    ['(a + b) * c', '(* (+ a b) c)'],
    ['a - (b - c)', '(- a (- b c))'],
  ])('%s', (src, tree) => {
    expect(e(src)).toBe(tree);
  });

  it('reads ?: right-associative, looser than ||', () => {
    expect(e('a ? b : c ? d : e')).toBe('(? a b (? c d e))');
    expect(e('a || b ? c : d')).toBe('(? (|| a b) c d)');
    expect(e('a ? b ? c : d : e')).toBe('(? a (? b c d) e)');
    expect(e('x = a ? b : c')).toBe('(= x (? a b c))');
  });

  it('reads every assignment operator, right-associative and loosest', () => {
    for (const op of ['=', '+=', '-=', '*=', '/=', '%=', '&=', '|=', '^=', '<<=', '>>=']) {
      expect(e(`x ${op} y + 1`)).toBe(`(${op} x (+ y 1))`);
    }
    expect(e('a = b = c')).toBe('(= a (= b c))');
    expect(e('a += b -= c')).toBe('(+= a (-= b c))');
    expect(e('@x[k] = count()')).toBe('(= (@x k) (count))');
  });

  it('reads unary operators tighter than binary ones', () => {
    expect(e('!a')).toBe('(! a)');
    expect(e('~a')).toBe('(~ a)');
    expect(e('-a * b')).toBe('(* (- a) b)');
    expect(e('+a')).toBe('(+ a)');
    expect(e('*p')).toBe('(* p)');
    expect(e('&x')).toBe('(& x)');
    expect(e('- -a')).toBe('(- (- a))');
    expect(e('!!a && b')).toBe('(&& (! (! a)) b)');
    expect(e('a * *p')).toBe('(* a (* p))');
    expect(e('a & &b')).toBe('(& a (& b))');
  });

  it('reads postfix operators tighter than prefix ones', () => {
    expect(e('*p->x')).toBe('(* (-> p x))');
    expect(e('&a[1]')).toBe('(& (index a 1))');
    expect(e('-x++')).toBe('(- (x++ x))');
    expect(e('!f(x)')).toBe('(! (f x))');
  });

  it('reads prefix and postfix ++ and --', () => {
    expect(e('++x')).toBe('(++x x)');
    expect(e('--x')).toBe('(--x x)');
    expect(e('x++')).toBe('(x++ x)');
    expect(e('x--')).toBe('(x-- x)');
    expect(e('++self->n')).toBe('(++x self->n)');
    expect(e('a+++b')).toBe('(+ (x++ a) b)');
    const u = exprOf('x++');
    expect(u).toMatchObject({ kind: 'Update', op: '++', prefix: false });
    expect(exprOf('--x')).toMatchObject({ kind: 'Update', op: '--', prefix: true });
  });
});

describe('casts and parentheses', () => {
  it.each([
    ['(int)x', 'int', 0],
    ['(uint)x', 'uint', 0],
    ['(uint64_t)x', 'uint64_t', 0],
    ['(int8_t)x', 'int8_t', 0],
    ['(unsigned long)x', 'unsigned long', 0],
    ['(unsigned long long)x', 'unsigned long long', 0],
    ['(signed char)x', 'signed char', 0],
    ['(short)x', 'short', 0],
    ['(long)x', 'long', 0],
    ['(bool)x', 'bool', 0],
    ['(size_t)x', 'size_t', 0],
    ['(ssize_t)x', 'ssize_t', 0],
    ['(uintptr_t)x', 'uintptr_t', 0],
    ['(string)x', 'string', 0],
    ['(char *)x', 'char', 1],
    ['(void *)x', 'void', 1],
    ['(char **)x', 'char', 2],
    ['(struct task_struct *)x', 'struct task_struct', 1],
    ['(struct sock)x', 'struct sock', 0],
  ])('%s is a cast', (src, name, pointer) => {
    const c = exprOf(src) as Cast;
    expect(c.kind).toBe('Cast');
    expect(c.type.name).toBe(name);
    expect(c.type.pointer).toBe(pointer);
    expect(sexpr(c.operand)).toBe('x');
  });

  it('binds a cast like a unary operator', () => {
    expect(e('(int)x + 1')).toBe('(+ (cast int x) 1)');
    expect(e('(int)-x')).toBe('(cast int (- x))');
    expect(e('(char *)arg0')).toBe('(cast char* arg0)');
    expect(e('(struct task_struct *)curthread->mm')).toBe('(cast struct task_struct* (-> curthread mm))');
    expect(e('((struct task_struct *)curthread)->mm')).toBe('(-> (cast struct task_struct* curthread) mm)');
    expect(e('(int)(long)x')).toBe('(cast int (cast long x))');
  });

  it('reads anything else in parentheses as a parenthesised expression', () => {
    expect(e('(x)')).toBe('x');
    expect(e('(x) + 1')).toBe('(+ x 1)');
    expect(e('((a))')).toBe('a');
    expect(e('(args)[0]')).toBe('(index args 0)');
  });
});

describe('postfix expressions', () => {
  it('reads calls with any number of arguments', () => {
    expect(e('f()')).toBe('(f)');
    expect(e('f(a)')).toBe('(f a)');
    expect(e('printf("%d %s\\n", pid, copyinstr(arg0))')).toBe('(printf "%d %s\\n" pid (copyinstr arg0))');
    expect(e('f(a = 1, b ? c : d)')).toBe('(f (= a 1) (? b c d))');
    const c = exprOf('count()') as Call;
    expect(c).toMatchObject({ kind: 'Call', callee: 'count', args: [] });
  });

  it('reads index, member and arrow chains', () => {
    expect(e('x[1]')).toBe('(index x 1)');
    expect(e('x[a, b]')).toBe('(index x a b)');
    expect(e('args[0]')).toBe('(index args 0)');
    expect(e('curpsinfo->pr_argv[1]')).toBe('(index (-> curpsinfo pr_argv) 1)');
    expect(e('a->b.c->d')).toBe('(-> (. (-> a b) c) d)');
    expect(e('args->filename')).toBe('(-> args filename)');
    expect(exprOf('a.b')).toMatchObject({ kind: 'Member', arrow: false, property: 'b' });
    expect(exprOf('a->b')).toMatchObject({ kind: 'Member', arrow: true, property: 'b' });
  });

  it('reads keywords after -> and . as field names', () => {
    expect(e('curthread->this')).toBe('(-> curthread this)');
    expect(e('args->string')).toBe('(-> args string)');
    expect(e('x.if')).toBe('(. x if)');
    expect(e('self->int')).toBe('self->int');
  });

  it('reads @name[keys] as an aggregation with keys, and a further [] as an index', () => {
    expect(exprOf('@x[1, 2]')).toMatchObject({ kind: 'Agg', name: 'x', keys: [{ kind: 'Int' }, { kind: 'Int' }] });
    expect(e('@x[1][2]')).toBe('(index (@x 1) 2)');
    expect(e('(@x)[1]')).toBe('(index @x 1)');
  });
});

describe('literals', () => {
  it.each<[string, bigint, string | null]>([
    ['42', 42n, null],
    ['0', 0n, null],
    ['0x1F', 31n, null],
    ['0XfF', 255n, null],
    ['017', 15n, null],
    ['10u', 10n, null],
    ['10ul', 10n, null],
    ['10ULL', 10n, null],
    ['10l', 10n, null],
    ['0xffUL', 255n, null],
    ['18446744073709551615', 18446744073709551615n, null],
    ['20ms', 20n, 'ms'],
    ['1s', 1n, 's'],
    ['5us', 5n, 'us'],
    ['100ns', 100n, 'ns'],
    ['2m', 2n, 'm'],
    ['1h', 1n, 'h'],
  ])('integer %s', (src, value, unit) => {
    const n = exprOf(src) as IntLit;
    expect(n).toEqual({ kind: 'Int', value, unit, text: src, span: { start: 8, end: 8 + src.length } });
  });

  it.each<[string, number]>([
    ["'a'", 97],
    ["'\\n'", 10],
    ["'\\''", 39],
    ["'\\0'", 0],
    ["'\\x41'", 65],
    ["'\"'", 34],
    ["'\\\\'", 92],
  ])('character literal %s is an integer', (src, code) => {
    expect(exprOf(src)).toMatchObject({ kind: 'Int', value: BigInt(code), unit: null, text: src });
  });

  it('decodes string escapes', () => {
    const s = exprOf(String.raw`"a\nb\tc\rd\\e\"f\'g\0h\ai\bj\fk\vl\x41\x4a\101\7\177z"`);
    expect(s).toMatchObject({ kind: 'Str', value: 'a\nb\tc\rd\\e"f\'g\0h\x07i\bj\fk\vlAJA\x07\x7fz' });
    expect(exprOf('""')).toMatchObject({ kind: 'Str', value: '' });
    expect(exprOf('"é 漢 😀"')).toMatchObject({ kind: 'Str', value: 'é 漢 😀' });
  });
});

describe('variables', () => {
  it('reads identifiers, including builtins', () => {
    expect(exprOf('args')).toMatchObject({ kind: 'Ident', name: 'args' });
    expect(exprOf('arg0')).toMatchObject({ kind: 'Ident', name: 'arg0' });
    expect(exprOf('_x9')).toMatchObject({ kind: 'Ident', name: '_x9' });
  });

  it('reads self-> and this-> variables', () => {
    expect(exprOf('self->ts')).toEqual({ kind: 'SelfVar', name: 'ts', span: { start: 8, end: 16 } });
    expect(exprOf('this->x')).toEqual({ kind: 'ThisVar', name: 'x', span: { start: 8, end: 15 } });
    expect(exprOf('self -> ts')).toMatchObject({ kind: 'SelfVar', name: 'ts', span: { start: 8, end: 18 } });
  });

  it('reads aggregations', () => {
    expect(exprOf('@')).toEqual({ kind: 'Agg', name: '', keys: null, span: { start: 8, end: 9 } });
    expect(exprOf('@lat')).toEqual({ kind: 'Agg', name: 'lat', keys: null, span: { start: 8, end: 12 } });
    expect(e('@[execname, pid]')).toBe('(@ execname pid)');
    const a = exprOf('@calls[probefunc]') as AggRef;
    expect(a.name).toBe('calls');
    expect(a.keys!.map(sexpr)).toEqual(['probefunc']);
  });

  it('reads script arguments and macro variables', () => {
    expect(exprOf('$0')).toMatchObject({ kind: 'ScriptArg', index: 0, quoted: false });
    expect(exprOf('$1')).toMatchObject({ kind: 'ScriptArg', index: 1, quoted: false });
    expect(exprOf('$9')).toMatchObject({ kind: 'ScriptArg', index: 9, quoted: false });
    expect(exprOf('$$1')).toMatchObject({ kind: 'ScriptArg', index: 1, quoted: true, span: { start: 8, end: 11 } });
    expect(exprOf('$target')).toEqual({ kind: 'MacroVar', name: 'target', span: { start: 8, end: 15 } });
    for (const m of ['pid', 'ppid', 'uid', 'gid']) expect(exprOf(`$${m}`)).toMatchObject({ kind: 'MacroVar', name: m });
  });
});

// ---- pragmas, comments ----

describe('pragmas', () => {
  it('reads namespace, directive and argument, with exact spans', () => {
    const text = '#pragma D option quiet\n#pragma D option aggrate=1s\n#pragma ctrace expect p99(@lat) < 20ms   \nBEGIN {}';
    const items = ok(text).items;
    expect(items.map((i) => i.kind)).toEqual(['Pragma', 'Pragma', 'Pragma', 'Clause']);
    const [a, b, c] = items as Pragma[];
    expect(a).toEqual({
      kind: 'Pragma', namespace: 'D', directive: 'option', argument: 'quiet',
      argumentSpan: at(text, 'quiet'), span: at(text, '#pragma D option quiet'),
    });
    expect(b).toMatchObject({ namespace: 'D', directive: 'option', argument: 'aggrate=1s', argumentSpan: at(text, 'aggrate=1s') });
    expect(c).toMatchObject({
      namespace: 'ctrace', directive: 'expect', argument: 'p99(@lat) < 20ms',
      argumentSpan: at(text, 'p99(@lat) < 20ms'), span: at(text, '#pragma ctrace expect p99(@lat) < 20ms'),
    });
  });

  it('reads a pragma without argument, with CRLF endings, and between clauses', () => {
    const text = 'BEGIN {}\r\n#pragma D option destructive\r\n#pragma   D   option\r\nEND {}';
    const items = ok(text).items;
    expect(items.map((i) => (i.kind === 'Pragma' ? `${i.directive}:${i.argument}` : i.probes[0]!.text))).toEqual([
      'BEGIN', 'option:destructive', 'option:', 'END',
    ]);
    const empty = items[2] as Pragma;
    expect(empty.argumentSpan).toEqual({ start: empty.span.end, end: empty.span.end });
  });
});

describe('comments and shebang', () => {
  it('skips // and /* */ comments anywhere between tokens', () => {
    const text = [
      '#!/usr/sbin/trace -s',
      '/* header',
      '   comment */',
      'syscall::read:entry // the probe',
      '/ pid /* mid */ == 1 /',
      '{ // body',
      '  x = /* inline */ 1; // done',
      '}',
      '// end',
    ].join('\n');
    const c = clause(text);
    expect(sexpr(c.predicate!)).toBe('(== pid 1)');
    expect(c.body.map(stmtSexpr)).toEqual(['(= x 1)']);
    expect(clause('BEGIN/* c */{}').probes[0]!.text).toBe('BEGIN');
    expect(clause('tick-1s < /* > */ x = 1 // >\n >').body.map(stmtSexpr)).toEqual(['(= x 1)']);
  });
});

// ---- spans ----

describe('spans', () => {
  it('covers a clause from its first probe to its closing brace or angle', () => {
    const text = '  \nsyscall::read:entry, BEGIN /x/ { y = 1; }  \ntick-1s < z >\n';
    const [a, b] = clauses(text);
    expect(a!.span).toEqual({ start: 3, end: text.indexOf('}') + 1 });
    expect(b!.span).toEqual(at(text, 'tick-1s < z >'));
    expect(ok(text).span).toEqual({ start: 0, end: text.length });
  });

  it('covers exactly the source text of each expression', () => {
    const text = 'BEGIN { @lat[execname] = quantize((timestamp - self->ts) / 1000); }';
    const s = clause(text).body[0] as ExprStmt;
    expect(s.span).toEqual(at(text, '@lat[execname] = quantize((timestamp - self->ts) / 1000);'));
    const assign = s.expr;
    expect(assign.span).toEqual(at(text, '@lat[execname] = quantize((timestamp - self->ts) / 1000)'));
    if (assign.kind !== 'Assign') throw new Error('expected an Assign');
    expect(assign.target.span).toEqual(at(text, '@lat[execname]'));
    const call = assign.value as Call;
    expect(call.span).toEqual(at(text, 'quantize((timestamp - self->ts) / 1000)'));
    expect(call.calleeSpan).toEqual(at(text, 'quantize'));
    const div = call.args[0]!;
    // The '/' node spans its parenthesised left operand; the '-' node inside does not include the parentheses.
    expect(div.span).toEqual(at(text, '(timestamp - self->ts) / 1000'));
    if (div.kind !== 'Binary') throw new Error('expected a Binary');
    expect(div.left.span).toEqual(at(text, 'timestamp - self->ts'));
    expect(div.right.span).toEqual(at(text, '1000'));
  });

  it('gives the exact offsets of a binary expression', () => {
    //                      0123456789012345678901
    const c = clause('BEGIN /a + b * c/ { }');
    expect(c.predicate!.span).toEqual({ start: 7, end: 16 });
    if (c.predicate!.kind !== 'Binary') throw new Error('expected a Binary');
    expect(c.predicate!.right.span).toEqual({ start: 11, end: 16 });
  });

  it('gives members their property span, casts their type span', () => {
    const text = 'BEGIN { x = ((struct task_struct *)curthread)->real_parent->pid; }';
    const m = (clause(text).body[0] as ExprStmt).expr;
    if (m.kind !== 'Assign') throw new Error('expected an Assign');
    const outer = m.value as Member;
    expect(outer.propertySpan).toEqual(at(text, 'pid'));
    expect(outer.span).toEqual(at(text, '((struct task_struct *)curthread)->real_parent->pid'));
    const inner = outer.object as Member;
    expect(inner.propertySpan).toEqual(at(text, 'real_parent'));
    const cast = inner.object as Cast;
    expect(cast.span).toEqual(at(text, '(struct task_struct *)curthread'));
    expect(cast.type.span).toEqual(at(text, 'struct task_struct *'));
  });

  it('covers unary, update, ternary, index, if and predicate nodes', () => {
    const text = 'BEGIN /-x/ { if (a) { b = !c ? d++ : x[1, 2]; } else --e; }';
    const c = clause(text);
    expect(c.predicate!.span).toEqual(at(text, '-x'));
    const s = c.body[0] as IfStmt;
    expect(s.span).toEqual(at(text, 'if (a) { b = !c ? d++ : x[1, 2]; } else --e;'));
    const assign = (s.then[0] as ExprStmt).expr;
    if (assign.kind !== 'Assign' || assign.value.kind !== 'Ternary') throw new Error('expected b = ?:');
    const t = assign.value;
    expect(t.span).toEqual(at(text, '!c ? d++ : x[1, 2]'));
    expect(t.cond.span).toEqual(at(text, '!c'));
    expect(t.then.span).toEqual(at(text, 'd++'));
    expect(t.else.span).toEqual(at(text, 'x[1, 2]'));
    expect((s.else![0] as ExprStmt).expr.span).toEqual(at(text, '--e'));
  });

  it('covers literals with their quotes and suffixes', () => {
    const text = 'BEGIN { f("a\\tb", 20ms, \'x\'); }';
    const call = exprOf('f("a\\tb", 20ms, \'x\')') as Call;
    expect(call.args.map((a) => a.span)).toEqual(['"a\\tb"', '20ms', "'x'"].map((f) => at(text, f)));
  });
});

// ---- diagnostics ----

describe('lexical diagnostics', () => {
  it('CT1001: characters outside the language, a run reported once', () => {
    expect(diag('BEGIN { x = `1; }')).toEqual({ code: 'CT1001', message: "unexpected character '`'", span: { start: 12, end: 13 } });
    expect(diag('BEGIN { x = é漢 1; }')).toMatchObject({ code: 'CT1001', message: "unexpected characters 'é漢'", span: { start: 12, end: 14 } });
    expect(diag('BEGIN { x = 😀 1; }')).toMatchObject({ code: 'CT1001', span: { start: 12, end: 14 } });
    expect(diag('BEGIN { x = \u0001 1; }')).toMatchObject({ code: 'CT1001', message: "unexpected character '\\u{1}'" });
    expect(diag('BEGIN { x = $; }')).toMatchObject({ code: 'CT1001', span: { start: 12, end: 13 } });
  });

  it('CT1002: unterminated strings, character literals and quoted probe parts', () => {
    expect(diag('BEGIN { x = "abc\n}')).toEqual({
      code: 'CT1002', message: 'unterminated string: expected a closing \'"\' on the same line', span: { start: 12, end: 16 },
    });
    expect(diag("BEGIN { x = 'a; }")).toMatchObject({ code: 'CT1002', span: { start: 12, end: 17 } });
    expect(diag('uprobe:/svc:"main.h {}')).toMatchObject({ code: 'CT1002', span: { start: 12, end: 22 } });
  });

  it('CT1003: bad escapes', () => {
    expect(diag('BEGIN { x = "a\\qb"; }')).toMatchObject({ code: 'CT1003', message: "unknown escape sequence '\\q'", span: { start: 14, end: 16 } });
    expect(diag('BEGIN { x = "\\x"; }')).toMatchObject({ code: 'CT1003', span: { start: 13, end: 15 } });
    expect(diag('BEGIN { x = "\\777"; }')).toMatchObject({ code: 'CT1003', span: { start: 13, end: 17 } });
  });

  it('CT1004: malformed numbers', () => {
    expect(diag('BEGIN { x = 12abc; }')).toEqual({ code: 'CT1004', message: "malformed number '12abc'", span: { start: 12, end: 17 } });
    expect(diag('BEGIN { x = 0x; }')).toMatchObject({ code: 'CT1004', span: { start: 12, end: 14 } });
    expect(diag('BEGIN { x = 09; }')).toMatchObject({ code: 'CT1004', span: { start: 12, end: 14 } });
    expect(diag('BEGIN { x = 1.5; }')).toMatchObject({ code: 'CT1004', span: { start: 12, end: 15 } });
    expect(diag('BEGIN { x = 20mss; }')).toMatchObject({ code: 'CT1004', span: { start: 12, end: 17 } });
    expect(diag('BEGIN { x = 18446744073709551616; }')).toMatchObject({ code: 'CT1004', span: { start: 12, end: 32 } });
  });

  it('CT1005: an unterminated comment, without an echo at the end of the input', () => {
    expect(diags('BEGIN { x = 1; /* never closed\n }')).toEqual([
      { code: 'CT1005', message: "unterminated comment: '/*' has no matching '*/'", span: { start: 15, end: 17 } },
    ]);
  });

  it('reports every lexical error, not only the first', () => {
    expect(diags('BEGIN { a = "\\q"; b = 0x; c = `; }').map((d) => d.code)).toEqual(['CT1003', 'CT1004', 'CT1001']);
  });
});

describe('syntax diagnostics', () => {
  it('points at the token where an expression was expected', () => {
    const d = diag('syscall::read:entry { @x = count( }');
    expect(d).toEqual({ code: 'CT1010', message: "expected an expression or ')' after '('", span: { start: 34, end: 35 } });
    expect(diag('BEGIN { x == ; }')).toEqual({ code: 'CT1010', message: "expected an expression after '=='", span: { start: 13, end: 14 } });
    expect(diag('BEGIN { x = }')).toMatchObject({ message: "expected an expression after '='", span: { start: 12, end: 13 } });
    expect(diag('BEGIN / / {}')).toMatchObject({ message: "expected an expression after '/'", span: { start: 8, end: 9 } });
    expect(diag('BEGIN { f(1, ); }')).toMatchObject({ message: "expected an expression after ','", span: { start: 13, end: 14 } });
  });

  it('names the unclosed block and where it opened', () => {
    const text = 'BEGIN {\n  x = 1;\n';
    const r = run(text);
    expect(r.diagnostics).toHaveLength(1);
    const d = r.diagnostics[0]!;
    expect(d.message).toBe("expected '}' to close the block opened at line 1");
    expect(d.span).toEqual({ start: 16, end: 17 }); // just past the last token
    expect(d.related).toEqual([{ message: 'the block opened here', span: { start: 6, end: 7 } }]);
    expect(diag('tick-1s < x = 1')).toMatchObject({ message: "expected '>' to close the block opened at line 1", span: { start: 15, end: 15 } });
    expect(diag('BEGIN { x = (1 + 2; }')).toMatchObject({ message: "expected ')' to close the '(' opened at line 1", span: { start: 18, end: 19 } });
    expect(diag('BEGIN /x { }')).toMatchObject({ message: "expected '/' to end the predicate opened at line 1", span: { start: 9, end: 10 } });
  });

  it('reports stray closers and missing separators', () => {
    expect(diag('BEGIN { x = 1); }')).toEqual({ code: 'CT1010', message: "unexpected ')'", span: { start: 13, end: 14 } });
    expect(diag('BEGIN { a b }')).toMatchObject({ message: "expected ';' before 'b'", span: { start: 10, end: 11 } });
    expect(diag('BEGIN { } }')).toMatchObject({ message: "unexpected '}'", span: { start: 10, end: 11 } });
    expect(diag('BEGIN { x = 1; else y; }')).toMatchObject({ message: "unexpected 'else'", span: { start: 15, end: 19 } });
    expect(diag('BEGIN { f(a b); }')).toMatchObject({ message: "expected ',' or ')' after 'a', found 'b'", span: { start: 12, end: 13 } });
  });

  it('explains self, this, if and member syntax', () => {
    expect(diag('BEGIN { self.x = 1; }')).toMatchObject({ message: "expected '->' after 'self'", hints: ['self variables are written self->name'] });
    expect(diag('BEGIN { x = this; }')).toMatchObject({ message: "expected '->' after 'this'" });
    expect(diag('BEGIN { if x { } }')).toMatchObject({ message: "expected '(' after 'if', found 'x'", span: { start: 11, end: 12 } });
    expect(diag('BEGIN { a->; }')).toMatchObject({ message: "expected a field name after '->'", span: { start: 11, end: 12 } });
    expect(diag('BEGIN { if (x) }')).toMatchObject({ message: "expected a statement after ')'" });
    expect(diag('BEGIN { a ? b; }')).toMatchObject({ message: "expected ':' to complete the '?' expression, found ';'" });
    expect(diag('BEGIN { int x; }')).toMatchObject({ message: "unexpected 'int'", span: { start: 8, end: 11 } });
  });

  it('CT1011: a probe without a block; the next clause still parses', () => {
    const r = run('BEGIN\nEND { x = 1; }');
    expect(r.diagnostics.map((d) => ({ code: d.code, message: d.message, span: d.span }))).toEqual([
      { code: 'CT1011', message: "expected '{' or '<' to start the actions after the probe description", span: { start: 6, end: 9 } },
    ]);
    expect(r.program.items.map((i) => (i as Clause).probes[0]!.text)).toEqual(['BEGIN', 'END']);
    expect((r.program.items[1] as Clause).body).toHaveLength(1);
    expect(diag('BEGIN END { }')).toMatchObject({ code: 'CT1011', span: { start: 6, end: 9 }, hints: ["separate the probe descriptions of one clause with ','"] });
    expect(diag('BEGIN /x/')).toMatchObject({ code: 'CT1011', message: "expected '{' or '<' to start the actions after the predicate" });
  });

  it('wants a probe description before a block', () => {
    expect(diag('{ x = 1; }')).toMatchObject({ code: 'CT1010', message: "expected a probe description before '{'", span: { start: 0, end: 1 } });
    expect(diag('BEGIN, { }')).toMatchObject({ message: "expected a probe description after ','", span: { start: 7, end: 8 } });
  });

  it("hints at parentheses for '/' inside a predicate", () => {
    const d = diag('syscall::read:entry /arg0 / 2 > 10/ { }');
    expect(d).toMatchObject({ code: 'CT1010', message: "'/' inside a predicate must be in parentheses", span: { start: 26, end: 27 } });
    expect(d.hints![0]).toContain('/(x / 2) > 1/');
  });

  it("hints at parentheses for '>', '>=' and '>>' inside a '< >' block", () => {
    const ge = diag('tick-1s < @x = a >= b >');
    expect(ge).toMatchObject({ code: 'CT1010', message: "'>=' inside '< >' must be in parentheses", span: { start: 17, end: 19 } });
    expect(ge.hints![0]).toContain('(x > 10)');
    expect(diag('tick-1s < @x = a >> 2 >')).toMatchObject({ message: "'>>' inside '< >' must be in parentheses", span: { start: 17, end: 19 } });
    const early = diag('tick-1s < @x = a > b >');
    expect(early.span).toEqual({ start: 21, end: 22 });
    expect(early.hints).toContainEqual(expect.stringContaining("a '>' outside parentheses ends the block"));
    // Not on the next line: there the clause after a `< >` block is a clause.
    expect(diags('tick-1s < @x = 1 >\nprofile:hz:99 { x = 1) }')[0]!.hints).toBeUndefined();
  });

  it('CT1013: bad pragmas and other directives', () => {
    expect(diag('#pragma\nBEGIN {}')).toMatchObject({ code: 'CT1013', span: { start: 0, end: 7 } });
    expect(diag('#pragma D\nBEGIN {}')).toMatchObject({ code: 'CT1013' });
    expect(diag('#include <x.h>\nBEGIN {}')).toMatchObject({ code: 'CT1013', message: "unsupported directive '#include'", span: { start: 0, end: 8 } });
    expect(diag('BEGIN {\n#pragma D option quiet\n}')).toMatchObject({ code: 'CT1013', message: "'#pragma' must appear outside clauses" });
    expect(diag('BEGIN {}\n#!/bin/sh\n')).toMatchObject({ code: 'CT1013' });
  });

  it('reports at most one syntax error per clause, and one for every broken clause', () => {
    const r = run('BEGIN { x = ; y = ; }\nEND { z = ; }\ntick-1s { ok = 1; }');
    expect(r.diagnostics.map((d) => [d.message, r.source.lineCol(d.span.start)])).toEqual([
      ["expected an expression after '='", { line: 1, col: 13 }],
      ["expected an expression after '='", { line: 2, col: 11 }],
    ]);
    expect(r.program.items).toHaveLength(3);
    expect((r.program.items[2] as Clause).body.map(stmtSexpr)).toEqual(['(= ok 1)']);
  });

  it('still returns the partial clause', () => {
    const r = run('BEGIN { a = 1; b = ; c = 3; }');
    expect(r.diagnostics).toHaveLength(1);
    const c = r.program.items[0] as Clause;
    expect(c.probes[0]!.text).toBe('BEGIN');
    expect(c.body.map(stmtSexpr)[0]).toBe('(= a 1)');
    expect(c.span).toEqual({ start: 0, end: 29 });
  });

  it('points at the end of the input when the input ends early', () => {
    expect(diag('BEGIN { x = 1').span).toEqual({ start: 13, end: 13 });
    expect(diag('BEGIN { x = 1\n\n').span).toEqual({ start: 13, end: 14 });
    expect(diag('BEGIN { x = 1 // trailing').span).toEqual({ start: 13, end: 14 });
  });

  it('reports a clause nested too deeply to parse, and parses the next one', () => {
    const r = run(`BEGIN { x = ${'('.repeat(3000)}1${')'.repeat(3000)}; }\nEND { y = 1; }`);
    expect(r.diagnostics.map((d) => [d.code, d.message, d.span])).toEqual([['CT1010', 'this clause is nested too deeply to parse', { start: 0, end: 5 }]]);
    expect((r.program.items.at(-1) as Clause).body.map(stmtSexpr)).toEqual(['(= y 1)']);
  });

  it("never shows chevrotain's token names", () => {
    const names = new RegExp(`\\b(?:EOF|${allTokens.map((t) => t.name).filter((n) => n.length > 3).join('|')})\\b`);
    const broken = [
      'BEGIN {', 'BEGIN { x = (1; }', 'BEGIN { x[1; }', 'BEGIN { @x[1 2] = 1; }', 'BEGIN { (int x; }', 'BEGIN /x',
      'BEGIN { x ? y }', 'BEGIN { x = ; }', 'BEGIN, {}', '{}', 'BEGIN { self x }', 'BEGIN { if }', 'BEGIN { if ( }',
      'BEGIN < x = 1', 'BEGIN { x. }', 'BEGIN { (struct) x; }', 'BEGIN { f(,) }', 'BEGIN { = }', 'BEGIN { a b c }',
      'BEGIN { x = 1 } } }', ') BEGIN {}', 'BEGIN { (unsigned 1) }', 'BEGIN { else }', 'BEGIN { ++ }', 'BEGIN /x/ ; {}',
    ];
    for (const text of broken) {
      const ds = run(text).diagnostics;
      expect(ds.length, text).toBeGreaterThan(0);
      for (const d of ds) expect(d.message.replace(/'[^']*'/g, "''"), text).not.toMatch(names);
    }
  });
});

describe('formatDiagnostic', () => {
  it('prints file:line:col, the source line and a caret under the span', () => {
    const r = run('syscall::read:entry { @x = count( }');
    expect(formatDiagnostic(r.diagnostics[0]!, r.source)).toBe(
      [
        "<command line>:1:35: error CT1010: expected an expression or ')' after '('",
        '  1 | syscall::read:entry { @x = count( }',
        '    |                                   ^',
      ].join('\n'),
    );
  });

  it('underlines a longer span, with notes and hints', () => {
    const r = run('#pragma D option quiet\nBEGIN\n{\n  x = 12abc;\n}\ntick-1s < y = a >= 2 >', 'probe.d');
    expect(r.diagnostics.map((d) => formatDiagnostic(d, r.source)).join('\n\n')).toBe(
      [
        "probe.d:4:7: error CT1004: malformed number '12abc'",
        '  4 |   x = 12abc;',
        '    |       ^~~~~',
        '',
        "probe.d:6:17: error CT1010: '>=' inside '< >' must be in parentheses",
        '  6 | tick-1s < y = a >= 2 >',
        '    |                 ^~',
        "hint: inside '< >', a '>' outside parentheses ends the block: write comparisons and shifts in parentheses, e.g. < @big = (x > 10) >",
      ].join('\n'),
    );
    const open = run('BEGIN {\n  x = 1;\n', 'probe.d');
    expect(formatDiagnostic(open.diagnostics[0]!, open.source)).toBe(
      [
        "probe.d:2:9: error CT1010: expected '}' to close the block opened at line 1",
        '  2 |   x = 1;',
        '    |         ^',
        'probe.d:1:7: note: the block opened here',
        '  1 | BEGIN {',
        '    |       ^',
      ].join('\n'),
    );
  });
});

describe('robustness', () => {
  it.each([
    '', ' ', '\n\n', '\u0000', '}', ')))', '"', "'", '/*', '*/', '#', '#pragma', '@', '$', '$$', 'BEGIN', 'BEGIN {', '<', '>', '/', ':', ',',
    '\uD800', '\uFEFF', 'BEGIN { x = "\\', "BEGIN { x = '\\", 'BEGIN { x = 0x', 'uprobe:"', 'uprobe:/', 'a:b:c:d:e:f',
    '{'.repeat(5000), '('.repeat(5000), '-'.repeat(100000), `BEGIN { x = ${'-'.repeat(20000)}1; }`, `BEGIN { ${'if (x) '.repeat(3000)}y; }`,
    `BEGIN /${'('.repeat(2000)}/ {}`, `tick-1s < ${'[('.repeat(1000)} >`,
  ])('never throws, whatever the input (%#)', (text) => {
    const r = run(text);
    for (const d of r.diagnostics) {
      expect(d.span.start).toBeGreaterThanOrEqual(0);
      expect(d.span.end).toBeLessThanOrEqual(text.length);
      expect(d.span.start).toBeLessThanOrEqual(d.span.end);
    }
    expect(r.program.span).toEqual({ start: 0, end: text.length });
  });

  it('stays fast on input that makes an error per token, keeping the clause up to the first', () => {
    const t0 = performance.now();
    const r = run(`BEGIN { ok = 1; ${'if '.repeat(20000)}}\nEND { ${'x[ '.repeat(200)} }\ntick-1s { ${'#'.repeat(1000)} }`);
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(r.diagnostics[0]).toMatchObject({ message: "expected '(' after 'if', found 'if'", span: { start: 19, end: 21 } });
    expect((r.program.items[0] as Clause).body.map(stmtSexpr)).toEqual(['(= ok 1)']);
    expect(r.program.items.map((i) => (i as Clause).probes[0]!.text)).toEqual(['BEGIN', 'END', 'tick-1s']);
  });

  it('parses a 200-clause program in a few milliseconds once warm', () => {
    const text = Array.from({ length: 200 }, (_, i) => `syscall::read:entry /pid == ${i}/ { @[execname] = count(); self->ts = timestamp; }\n`).join('');
    const source = new Source('big.d', text);
    for (let i = 0; i < 20; i++) parse(source);
    const t0 = performance.now();
    for (let i = 0; i < 20; i++) parse(source);
    const ms = (performance.now() - t0) / 20;
    expect(parse(source).program.items).toHaveLength(200);
    // Generous bound for slow CI machines; typically ~3 ms.
    expect(ms).toBeLessThan(50);
  });
});

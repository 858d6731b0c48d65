// The typed AST. Every node has a `kind` tag and a source `span`; nodes are plain
// readonly data, built once by build-ast.ts and never mutated by later phases.

import type { Span } from './source.js';

export interface Program {
  readonly kind: 'Program';
  readonly items: readonly (Clause | Pragma)[];
  readonly span: Span;
}

/**
 * `#pragma NS DIRECTIVE ARGUMENT`, e.g. `#pragma D option quiet` is
 * {namespace:'D', directive:'option', argument:'quiet'}, and
 * `#pragma ctrace expect p99(@lat) < 20ms` is {namespace:'ctrace', directive:'expect', argument:'p99(@lat) < 20ms'}.
 * `argumentSpan` covers the argument text (for diagnostics inside it).
 */
export interface Pragma {
  readonly kind: 'Pragma';
  readonly namespace: string;
  readonly directive: string;
  readonly argument: string;
  readonly argumentSpan: Span;
  readonly span: Span;
}

/** `probe[, probe...] [/predicate/] { statements }` or `... < statements >`. */
export interface Clause {
  readonly kind: 'Clause';
  readonly probes: readonly ProbeDesc[];
  readonly predicate: Expr | null;
  readonly body: readonly Stmt[];
  readonly blockStyle: 'brace' | 'angle';
  readonly span: Span;
}

/**
 * A probe description as written, split on ':' into parts. The parser does not
 * interpret providers; the compiler does (src/compiler/probes.ts).
 *   `pid$target::main.handle:entry` -> parts ['pid$target', '', 'main.handle', 'entry']
 *   `uprobe:/app/svc:"main.(*S).h"` -> parts ['uprobe', '/app/svc', 'main.(*S).h'] (last quoted)
 *   `tick-1s` -> ['tick-1s'];  `BEGIN` -> ['BEGIN']
 */
export interface ProbeDesc {
  readonly kind: 'ProbeDesc';
  readonly text: string;
  readonly parts: readonly ProbePart[];
  readonly span: Span;
}

export interface ProbePart {
  /** The part's value, with quotes removed. */
  readonly value: string;
  readonly quoted: boolean;
  readonly span: Span;
}

// ---- statements ----

export type Stmt = ExprStmt | IfStmt;

export interface ExprStmt {
  readonly kind: 'ExprStmt';
  readonly expr: Expr;
  readonly span: Span;
}

export interface IfStmt {
  readonly kind: 'If';
  readonly cond: Expr;
  readonly then: readonly Stmt[];
  /** `else if` is an else branch holding a single IfStmt. */
  readonly else: readonly Stmt[] | null;
  readonly span: Span;
}

// ---- expressions ----

export type Expr =
  | IntLit
  | StrLit
  | Ident
  | ScriptArg
  | MacroVar
  | SelfVar
  | ThisVar
  | AggRef
  | Index
  | Member
  | Call
  | Unary
  | Update
  | Binary
  | Ternary
  | Assign
  | Cast;

export type TimeUnit = 'ns' | 'us' | 'ms' | 's' | 'm' | 'h';

/** Integer literal. `20ms` is {value: 20n, unit: 'ms'}; the compiler scales units to nanoseconds. */
export interface IntLit {
  readonly kind: 'Int';
  readonly value: bigint;
  readonly unit: TimeUnit | null;
  readonly text: string;
  readonly span: Span;
}

/** String literal, escapes already decoded (\n \t \\ \" \0 \xHH \NNN octal). */
export interface StrLit {
  readonly kind: 'Str';
  readonly value: string;
  readonly span: Span;
}

/** A bare identifier: a builtin (pid, execname, arg0, args, curthread, ...) or a D global variable. */
export interface Ident {
  readonly kind: 'Ident';
  readonly name: string;
  readonly span: Span;
}

/** `$1`..`$9` (quoted: false) and `$$1`..`$$9` (quoted: true, always a string). `$0` is the script name. */
export interface ScriptArg {
  readonly kind: 'ScriptArg';
  readonly index: number;
  readonly quoted: boolean;
  readonly span: Span;
}

/** `$target`, `$pid`, `$ppid`, `$uid`, `$gid` ... : a name after '$' that is not a number. */
export interface MacroVar {
  readonly kind: 'MacroVar';
  readonly name: string;
  readonly span: Span;
}

/** `self->name` */
export interface SelfVar {
  readonly kind: 'SelfVar';
  readonly name: string;
  readonly span: Span;
}

/** `this->name` */
export interface ThisVar {
  readonly kind: 'ThisVar';
  readonly name: string;
  readonly span: Span;
}

/** `@name`, `@` (name ''), `@name[k1, k2]` (keys non-null). */
export interface AggRef {
  readonly kind: 'Agg';
  readonly name: string;
  readonly keys: readonly Expr[] | null;
  readonly span: Span;
}

/** `x[k1, k2]` on anything but an aggregation: D associative arrays, `args[0]`, `curpsinfo->pr_argv[1]`. */
export interface Index {
  readonly kind: 'Index';
  readonly object: Expr;
  readonly index: readonly Expr[];
  readonly span: Span;
}

/** `obj->field` (arrow: true) or `obj.field` (arrow: false). */
export interface Member {
  readonly kind: 'Member';
  readonly object: Expr;
  readonly property: string;
  readonly propertySpan: Span;
  readonly arrow: boolean;
  readonly span: Span;
}

export interface Call {
  readonly kind: 'Call';
  readonly callee: string;
  readonly calleeSpan: Span;
  readonly args: readonly Expr[];
  readonly span: Span;
}

export type UnaryOp = '-' | '+' | '!' | '~' | '*' | '&';

export interface Unary {
  readonly kind: 'Unary';
  readonly op: UnaryOp;
  readonly operand: Expr;
  readonly span: Span;
}

export interface Update {
  readonly kind: 'Update';
  readonly op: '++' | '--';
  readonly prefix: boolean;
  readonly target: Expr;
  readonly span: Span;
}

export type BinaryOp =
  | '*' | '/' | '%'
  | '+' | '-'
  | '<<' | '>>'
  | '<' | '<=' | '>' | '>='
  | '==' | '!='
  | '&' | '^' | '|'
  | '&&' | '^^' | '||';

export interface Binary {
  readonly kind: 'Binary';
  readonly op: BinaryOp;
  readonly left: Expr;
  readonly right: Expr;
  readonly span: Span;
}

export interface Ternary {
  readonly kind: 'Ternary';
  readonly cond: Expr;
  readonly then: Expr;
  readonly else: Expr;
  readonly span: Span;
}

export type AssignOp = '=' | '+=' | '-=' | '*=' | '/=' | '%=' | '&=' | '|=' | '^=' | '<<=' | '>>=';

export interface Assign {
  readonly kind: 'Assign';
  readonly op: AssignOp;
  readonly target: Expr;
  readonly value: Expr;
  readonly span: Span;
}

/** `(type) operand`. `type.name` is as written ('int', 'uint64_t', 'struct task_struct', 'string', 'char'); `pointer` counts `*`s. */
export interface Cast {
  readonly kind: 'Cast';
  readonly type: { readonly name: string; readonly pointer: number; readonly span: Span };
  readonly operand: Expr;
  readonly span: Span;
}

/**
 * Operator precedence, loosest first (D follows C):
 *   assignment (right-assoc) < ?: (right-assoc) < || < ^^ < && < | < ^ < & < == != <
 *   < <= > >= < << >> < + - < * / % < unary (! ~ - + * & ++ -- casts) < postfix ([] -> . () ++ --)
 */
export const BINARY_PRECEDENCE: Readonly<Record<BinaryOp, number>> = {
  '||': 1,
  '^^': 2,
  '&&': 3,
  '|': 4,
  '^': 5,
  '&': 6,
  '==': 7, '!=': 7,
  '<': 8, '<=': 8, '>': 8, '>=': 8,
  '<<': 9, '>>': 9,
  '+': 10, '-': 10,
  '*': 11, '/': 11, '%': 11,
};

/** Visits every expression in a statement list, depth first, parents before children. */
export function walkExprs(stmts: readonly Stmt[], fn: (e: Expr) => void): void {
  for (const s of stmts) {
    if (s.kind === 'ExprStmt') walkExpr(s.expr, fn);
    else {
      walkExpr(s.cond, fn);
      walkExprs(s.then, fn);
      if (s.else) walkExprs(s.else, fn);
    }
  }
}

export function walkExpr(e: Expr, fn: (e: Expr) => void): void {
  fn(e);
  for (const c of children(e)) walkExpr(c, fn);
}

export function children(e: Expr): readonly Expr[] {
  switch (e.kind) {
    case 'Agg':
      return e.keys ?? [];
    case 'Index':
      return [e.object, ...e.index];
    case 'Member':
      return [e.object];
    case 'Call':
      return e.args;
    case 'Unary':
      return [e.operand];
    case 'Update':
      return [e.target];
    case 'Binary':
      return [e.left, e.right];
    case 'Ternary':
      return [e.cond, e.then, e.else];
    case 'Assign':
      return [e.target, e.value];
    case 'Cast':
      return [e.operand];
    default:
      return [];
  }
}

// Compact S-expression rendering of AST nodes, so tests can state tree shapes in one line:
// `a + b * c` -> `(+ a (* b c))`.

import type { Expr, Stmt } from '../../src/lang/ast.js';

export function sexpr(e: Expr): string {
  switch (e.kind) {
    case 'Int':
      return `${e.value}${e.unit ?? ''}`;
    case 'Str':
      return JSON.stringify(e.value);
    case 'Ident':
      return e.name;
    case 'ScriptArg':
      return `$${e.quoted ? '$' : ''}${e.index}`;
    case 'MacroVar':
      return `$${e.name}`;
    case 'SelfVar':
      return `self->${e.name}`;
    case 'ThisVar':
      return `this->${e.name}`;
    case 'Agg':
      return e.keys ? `(@${e.name} ${e.keys.map(sexpr).join(' ')})` : `@${e.name}`;
    case 'Index':
      return `(index ${sexpr(e.object)} ${e.index.map(sexpr).join(' ')})`;
    case 'Member':
      return `(${e.arrow ? '->' : '.'} ${sexpr(e.object)} ${e.property})`;
    case 'Call':
      return `(${e.callee}${e.args.map((a) => ` ${sexpr(a)}`).join('')})`;
    case 'Unary':
      return `(${e.op} ${sexpr(e.operand)})`;
    case 'Update':
      return e.prefix ? `(${e.op}x ${sexpr(e.target)})` : `(x${e.op} ${sexpr(e.target)})`;
    case 'Binary':
      return `(${e.op} ${sexpr(e.left)} ${sexpr(e.right)})`;
    case 'Ternary':
      return `(? ${sexpr(e.cond)} ${sexpr(e.then)} ${sexpr(e.else)})`;
    case 'Assign':
      return `(${e.op} ${sexpr(e.target)} ${sexpr(e.value)})`;
    case 'Cast':
      return `(cast ${e.type.name}${'*'.repeat(e.type.pointer)} ${sexpr(e.operand)})`;
  }
}

export function stmtSexpr(s: Stmt): string {
  if (s.kind === 'ExprStmt') return sexpr(s.expr);
  const block = (b: readonly Stmt[]): string => `{${b.map(stmtSexpr).join('; ')}}`;
  return `(if ${sexpr(s.cond)} ${block(s.then)}${s.else ? ` else ${block(s.else)}` : ''})`;
}

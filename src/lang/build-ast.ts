// CST -> AST. The only code besides parser.ts that sees chevrotain's CST.
//
// Total on any CST, including the partial ones error recovery leaves: a missing child makes
// its parent drop out (an operand-less `a +` becomes `a`, a statement without its expression
// disappears), and tokens invented by recovery (offsets NaN) are never used for spans.
//
// Expressions are built as `Built`: the node plus its "outer" span, which includes any
// parentheses around it. Parents span from their children's outer spans, so in `(a + b) * c`
// the '*' node covers all of `(a + b) * c` while the '+' node covers exactly `a + b`.

import type { CstNode, IToken } from 'chevrotain';
import {
  BINARY_PRECEDENCE,
  type AssignOp,
  type BinaryOp,
  type Cast,
  type Clause,
  type Expr,
  type IfStmt,
  type Pragma,
  type ProbeDesc,
  type Stmt,
  type UnaryOp,
} from './ast.js';
import { parser } from './parser.js';
import type { Span } from './source.js';
import { payloadOf } from './tokens.js';

type Toks = IToken[] | undefined;
type Nodes = CstNode[] | undefined;

interface ClauseCtx { ProbeDesc?: Toks; predicate?: Nodes; braceBlock?: Nodes; angleBlock?: Nodes }
interface PredicateCtx { PredOpen?: Toks; expression?: Nodes; PredClose?: Toks }
interface BraceBlockCtx { LCurly?: Toks; statement?: Nodes; RCurly?: Toks }
interface AngleBlockCtx { LAngle?: Toks; statement?: Nodes; AngleClose?: Toks }
interface StatementCtx { Semi?: Toks; ifStmt?: Nodes; expression?: Nodes }
interface IfStmtCtx { If?: Toks; LParen?: Toks; expression?: Nodes; RParen?: Toks; body?: Nodes; Else?: Toks }
interface BodyCtx { braceBlock?: Nodes; statement?: Nodes }
interface ExpressionCtx { unaryExpr?: Nodes; BinaryOp?: Toks; ternaryTail?: Nodes; assignTail?: Nodes }
interface TernaryTailCtx { Question?: Toks; expression?: Nodes; Colon?: Toks }
interface AssignTailCtx { AssignOp?: Toks; expression?: Nodes }
interface UnaryExprCtx {
  UnaryOp?: Toks; IncDec?: Toks; unaryExpr?: Nodes;
  Int?: Toks; Char?: Toks; Str?: Toks; Ident?: Toks; callArgs?: Nodes; ScriptArg?: Toks; MacroVar?: Toks;
  Self?: Toks; This?: Toks; Agg?: Toks; LBracket?: Toks; expression?: Nodes; RBracket?: Toks;
  parenOrCast?: Nodes; postfixOp?: Nodes;
}
interface ParenOrCastCtx { LParen?: Toks; typeName?: Nodes; RParen?: Toks; unaryExpr?: Nodes; expression?: Nodes }
interface TypeNameCtx { StructKw?: Toks; Ident?: Toks; TypeKw?: Toks; Star?: Toks }
interface PostfixOpCtx { LBracket?: Toks; expression?: Nodes; RBracket?: Toks; Arrow?: Toks; Dot?: Toks; Ident?: Toks; IncDec?: Toks }
interface CallArgsCtx { LParen?: Toks; expression?: Nodes; RParen?: Toks }

interface Built {
  readonly e: Expr;
  readonly outer: Span;
}
interface Block {
  readonly stmts: Stmt[];
  /** End offset of the block, or of what recovery left of it. */
  readonly end: number | null;
}

/** The span of a real token; null for a token invented by error recovery. */
function tokSpan(t: IToken | undefined): Span | null {
  if (!t || t.isInsertedInRecovery || !Number.isFinite(t.startOffset)) return null;
  return { start: t.startOffset, end: t.startOffset + t.image.length };
}

function realTok(ts: Toks): IToken | undefined {
  const t = ts?.[0];
  return t && tokSpan(t) ? t : undefined;
}

function ctxOf<C>(nodes: Nodes, i = 0): C | undefined {
  return nodes?.[i]?.children as unknown as C | undefined;
}

function lastEnd(...ends: (number | null | undefined)[]): number | null {
  let best: number | null = null;
  for (const e of ends) if (e !== null && e !== undefined && (best === null || e > best)) best = e;
  return best;
}

const BaseVisitor = parser.getBaseCstVisitorConstructor<undefined, unknown>();

/** One method per grammar rule (validateVisitor checks none is missing). */
class AstBuilder extends BaseVisitor {
  constructor() {
    super();
    this.validateVisitor();
  }

  clause(c: ClauseCtx): Clause | null {
    const probes: ProbeDesc[] = [];
    for (const t of c.ProbeDesc ?? []) {
      const p = payloadOf(t, 'probe');
      const span = tokSpan(t);
      if (p && span) probes.push({ kind: 'ProbeDesc', text: t.image, parts: p.parts, span });
    }
    const first = probes[0];
    if (!first) return null;
    let end = probes[probes.length - 1]!.span.end;
    let predicate: Expr | null = null;
    const pc = ctxOf<PredicateCtx>(c.predicate);
    if (pc) {
      const b = this.predicate(pc);
      predicate = b?.e ?? null;
      end = lastEnd(end, b?.outer.end, tokSpan(pc.PredClose?.[0])?.end) ?? end;
    }
    let block: Block = { stmts: [], end: null };
    let blockStyle: 'brace' | 'angle' = 'brace';
    const bc = ctxOf<BraceBlockCtx>(c.braceBlock);
    const ac = ctxOf<AngleBlockCtx>(c.angleBlock);
    if (bc) block = this.braceBlock(bc);
    else if (ac) {
      block = this.angleBlock(ac);
      blockStyle = 'angle';
    }
    end = lastEnd(end, block.end) ?? end;
    return { kind: 'Clause', probes, predicate, body: block.stmts, blockStyle, span: { start: first.span.start, end } };
  }

  predicate(c: PredicateCtx): Built | null {
    return this.expression(ctxOf(c.expression));
  }

  braceBlock(c: BraceBlockCtx): Block {
    return this.block(c.LCurly, c.statement, c.RCurly);
  }

  angleBlock(c: AngleBlockCtx): Block {
    return this.block(c.LAngle, c.statement, c.AngleClose);
  }

  private block(open: Toks, stmts: Nodes, close: Toks): Block {
    const list = this.statements(stmts);
    const end = tokSpan(close?.[0])?.end ?? lastEnd(list[list.length - 1]?.span.end, tokSpan(open?.[0])?.end);
    return { stmts: list, end };
  }

  private statements(nodes: Nodes): Stmt[] {
    const out: Stmt[] = [];
    for (const n of nodes ?? []) {
      const s = this.statement(n.children as unknown as StatementCtx);
      if (s) out.push(s);
    }
    return out;
  }

  /** null for an empty statement `;` or one that recovery left without its expression. */
  statement(c: StatementCtx): Stmt | null {
    const ic = ctxOf<IfStmtCtx>(c.ifStmt);
    if (ic) return this.ifStmt(ic);
    const b = this.expression(ctxOf(c.expression));
    if (!b) return null;
    const end = tokSpan(c.Semi?.[0])?.end ?? b.outer.end;
    return { kind: 'ExprStmt', expr: b.e, span: { start: b.outer.start, end } };
  }

  ifStmt(c: IfStmtCtx): IfStmt | null {
    const kw = realTok(c.If);
    const cond = this.expression(ctxOf(c.expression));
    if (!kw || !cond) return null;
    const then = this.body(ctxOf(c.body, 0));
    const otherwise = c.Else ? this.body(ctxOf(c.body, 1)) : null;
    const end = lastEnd(cond.outer.end, tokSpan(c.RParen?.[0])?.end, then.end, tokSpan(c.Else?.[0])?.end, otherwise?.end)!;
    return { kind: 'If', cond: cond.e, then: then.stmts, else: otherwise ? otherwise.stmts : null, span: { start: kw.startOffset, end } };
  }

  body(c: BodyCtx | undefined): Block {
    if (!c) return { stmts: [], end: null };
    const bc = ctxOf<BraceBlockCtx>(c.braceBlock);
    if (bc) return this.braceBlock(bc);
    const sc = ctxOf<StatementCtx>(c.statement);
    if (!sc) return { stmts: [], end: null };
    const s = this.statement(sc);
    return s ? { stmts: [s], end: s.span.end } : { stmts: [], end: tokSpan(sc.Semi?.[0])?.end ?? null };
  }

  // ---- expressions ----

  /** `u0 op0 u1 op1 u2 ...` folded by precedence (binary operators are left-associative), then `?:` or `=`. */
  expression(c: ExpressionCtx | undefined): Built | null {
    if (!c) return null;
    const units = c.unaryExpr ?? [];
    if (units.length === 1 && !c.ternaryTail && !c.assignTail) return this.unaryExpr(units[0]!.children as unknown as UnaryExprCtx);
    const operands: Built[] = [];
    for (const n of units) {
      const b = this.unaryExpr(n.children as unknown as UnaryExprCtx);
      if (!b) break;
      operands.push(b);
    }
    if (operands.length === 0) return null;
    const ops = c.BinaryOp ?? [];
    const values: Built[] = [operands[0]!];
    const pending: IToken[] = [];
    const reduce = (): void => {
      const right = values.pop()!;
      const left = values.pop()!;
      const op = pending.pop()!;
      values.push(built({ kind: 'Binary', op: op.image as BinaryOp, left: left.e, right: right.e, span: from(left, right) }));
    };
    for (let i = 0; i + 1 < operands.length; i++) {
      const op = ops[i]!;
      const prec = BINARY_PRECEDENCE[op.image as BinaryOp];
      while (pending.length && BINARY_PRECEDENCE[pending[pending.length - 1]!.image as BinaryOp] >= prec) reduce();
      pending.push(op);
      values.push(operands[i + 1]!);
    }
    while (pending.length) reduce();
    const base = values[0]!;
    // A tail is only meaningful after a complete chain.
    if (operands.length !== units.length) return base;
    const tc = ctxOf<TernaryTailCtx>(c.ternaryTail);
    if (tc) return this.ternaryTail(tc, base);
    const ac = ctxOf<AssignTailCtx>(c.assignTail);
    if (ac) return this.assignTail(ac, base);
    return base;
  }

  ternaryTail(c: TernaryTailCtx, cond: Built): Built {
    const then = this.expression(ctxOf(c.expression, 0));
    const otherwise = this.expression(ctxOf(c.expression, 1));
    if (!then || !otherwise) return cond;
    return built({ kind: 'Ternary', cond: cond.e, then: then.e, else: otherwise.e, span: from(cond, otherwise) });
  }

  assignTail(c: AssignTailCtx, target: Built): Built {
    const op = realTok(c.AssignOp);
    const value = this.expression(ctxOf(c.expression));
    if (!op || !value) return target;
    return built({ kind: 'Assign', op: op.image as AssignOp, target: target.e, value: value.e, span: from(target, value) });
  }

  unaryExpr(c: UnaryExprCtx | undefined): Built | null {
    if (!c) return null;
    const op = realTok(c.UnaryOp) ?? realTok(c.IncDec);
    if (op) {
      // The operand took any postfix operators: `-x++` is `-(x++)`.
      const operand = this.unaryExpr(ctxOf(c.unaryExpr));
      if (!operand) return null;
      const span = { start: op.startOffset, end: operand.outer.end };
      if (c.UnaryOp) return built({ kind: 'Unary', op: op.image as UnaryOp, operand: operand.e, span });
      return built({ kind: 'Update', op: op.image as '++' | '--', prefix: true, target: operand.e, span });
    }
    let base = this.primary(c);
    if (!base) return null;
    for (const n of c.postfixOp ?? []) {
      const next = this.postfixOp(n.children as unknown as PostfixOpCtx, base);
      if (!next) break;
      base = next;
    }
    return base;
  }

  private primary(c: UnaryExprCtx): Built | null {
    const ident = realTok(c.Ident);
    if (ident && !c.Self && !c.This) {
      const calleeSpan = tokSpan(ident)!;
      const cc = ctxOf<CallArgsCtx>(c.callArgs);
      if (!cc) return built({ kind: 'Ident', name: ident.image, span: calleeSpan });
      const args = this.callArgs(cc);
      const end = lastEnd(calleeSpan.end, tokSpan(cc.LParen?.[0])?.end, args[args.length - 1]?.outer.end, tokSpan(cc.RParen?.[0])?.end)!;
      return built({ kind: 'Call', callee: ident.image, calleeSpan, args: args.map((a) => a.e), span: { start: calleeSpan.start, end } });
    }
    const lit = realTok(c.Int) ?? realTok(c.Char);
    if (lit) {
      const p = payloadOf(lit, 'int');
      return built({ kind: 'Int', value: p?.value ?? 0n, unit: p?.unit ?? null, text: lit.image, span: tokSpan(lit)! });
    }
    const str = realTok(c.Str);
    if (str) return built({ kind: 'Str', value: payloadOf(str, 'str')?.value ?? '', span: tokSpan(str)! });
    const agg = realTok(c.Agg);
    if (agg) {
      const span = tokSpan(agg)!;
      const name = payloadOf(agg, 'name')?.name ?? '';
      if (!c.LBracket) return built({ kind: 'Agg', name, keys: null, span });
      const keys = this.exprList(c.expression);
      const end = lastEnd(span.end, tokSpan(c.LBracket[0])?.end, keys[keys.length - 1]?.outer.end, tokSpan(c.RBracket?.[0])?.end)!;
      return built({ kind: 'Agg', name, keys: keys.map((k) => k.e), span: { start: span.start, end } });
    }
    const scope = realTok(c.Self) ?? realTok(c.This);
    if (scope) {
      if (!ident) return null;
      const span = { start: scope.startOffset, end: tokSpan(ident)!.end };
      return built({ kind: c.Self ? 'SelfVar' : 'ThisVar', name: ident.image, span });
    }
    const arg = realTok(c.ScriptArg);
    if (arg) {
      const p = payloadOf(arg, 'arg');
      return built({ kind: 'ScriptArg', index: p?.index ?? 0, quoted: p?.quoted ?? false, span: tokSpan(arg)! });
    }
    const macro = realTok(c.MacroVar);
    if (macro) return built({ kind: 'MacroVar', name: payloadOf(macro, 'name')?.name ?? '', span: tokSpan(macro)! });
    const pc = ctxOf<ParenOrCastCtx>(c.parenOrCast);
    return pc ? this.parenOrCast(pc) : null;
  }

  parenOrCast(c: ParenOrCastCtx): Built | null {
    const open = realTok(c.LParen);
    if (!open) return null;
    const type = this.typeName(ctxOf(c.typeName));
    if (type) {
      const operand = this.unaryExpr(ctxOf(c.unaryExpr));
      if (!operand) return null;
      return built({ kind: 'Cast', type, operand: operand.e, span: { start: open.startOffset, end: operand.outer.end } });
    }
    const inner = this.expression(ctxOf(c.expression));
    if (!inner) return null;
    const end = tokSpan(c.RParen?.[0])?.end ?? inner.outer.end;
    return { e: inner.e, outer: { start: open.startOffset, end } };
  }

  typeName(c: TypeNameCtx | undefined): Cast['type'] | null {
    if (!c) return null;
    const words = [...(c.StructKw ?? []), ...(c.Ident ?? []), ...(c.TypeKw ?? [])].filter((t) => tokSpan(t));
    words.sort((a, b) => a.startOffset - b.startOffset);
    const stars = (c.Star ?? []).filter((t) => tokSpan(t));
    const first = words[0];
    if (!first) return null;
    const last = stars[stars.length - 1] ?? words[words.length - 1]!;
    return {
      name: words.map((t) => t.image).join(' '),
      pointer: stars.length,
      span: { start: first.startOffset, end: last.startOffset + last.image.length },
    };
  }

  postfixOp(c: PostfixOpCtx, object: Built): Built | null {
    const start = object.outer.start;
    if (c.LBracket) {
      const args = this.exprList(c.expression);
      const end = tokSpan(c.RBracket?.[0])?.end ?? args[args.length - 1]?.outer.end;
      if (!args.length || end === undefined) return null;
      return built({ kind: 'Index', object: object.e, index: args.map((a) => a.e), span: { start, end } });
    }
    if (c.Arrow || c.Dot) {
      const name = realTok(c.Ident);
      if (!name) return null;
      const propertySpan = tokSpan(name)!;
      return built({ kind: 'Member', object: object.e, property: name.image, propertySpan, arrow: !!c.Arrow, span: { start, end: propertySpan.end } });
    }
    const op = realTok(c.IncDec);
    if (!op) return null;
    return built({ kind: 'Update', op: op.image as '++' | '--', prefix: false, target: object.e, span: { start, end: tokSpan(op)!.end } });
  }

  callArgs(c: CallArgsCtx): Built[] {
    return this.exprList(c.expression);
  }

  private exprList(nodes: Nodes): Built[] {
    const out: Built[] = [];
    for (const n of nodes ?? []) {
      const b = this.expression(n.children as unknown as ExpressionCtx);
      if (!b) break;
      out.push(b);
    }
    return out;
  }
}

function built(e: Expr): Built {
  return { e, outer: e.span };
}

function from(a: Built, b: Built): Span {
  return { start: a.outer.start, end: b.outer.end };
}

const builder = new AstBuilder();

/** Builds the AST of one clause from its CST; null if recovery left no probe to hang it on. */
export function buildClause(cst: CstNode): Clause | null {
  return builder.clause(cst.children as unknown as ClauseCtx);
}

export function buildPragma(tok: IToken): Pragma | null {
  const p = payloadOf(tok, 'pragma');
  const span = tokSpan(tok);
  if (!p || !span) return null;
  return { kind: 'Pragma', namespace: p.namespace, directive: p.directive, argument: p.argument, argumentSpan: p.argumentSpan, span };
}

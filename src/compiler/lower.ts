// D constructs to bpftrace text. Reads the checker's side table; writes through Writer so
// every fragment carries its source span.
//
//   self->x        @__self_x[tid]          (assigning constant 0 deletes the entry, as D frees it)
//   this->x        $this_x                 (clause-local scratch variable)
//   x, x[k]        @__g_x, @__g_x[k]       (D globals and associative arrays)
//   @m = v         @__m_m = v              (bpftrace-style maps used as variables)
//   quantize(v)    hist(v);  lquantize -> lhist;  stddev -> count/sum/sum-of-squares maps;
//   llquantize(v, f, lo, hi, n) -> a bucket index computed in BPF, counted in one map
//   BEGIN/END      merged into one clause each (bpftrace allows one), predicates become ifs

import type { Call, Clause, Expr, Stmt } from '../lang/ast.js';
import { BINARY_PRECEDENCE, children, walkExpr } from '../lang/ast.js';
import { Codes, error, type Diagnostic } from '../lang/diagnostics.js';
import type { Source, Span } from '../lang/source.js';
import { BUILTIN_VARS, INT_TYPES, TIME_UNIT_NS, type Type } from './builtins.js';
import { constValue, type AggSymbol, type Analysis, type ClauseInfo } from './checker.js';
import { bpfString, Writer } from './emitter.js';
import type { Facts } from './facts.js';
import { MARKER_BPF, type AggregationInfo, type BucketScheme, type KeyInfo, type PrintaFormat, type SourceMap } from './program.js';
import { syscallNumber, syscallNumberFunc, type ResolvedProbe } from './probes.js';
import { lineVarExpr } from './lines.js';

export interface LowerOptions {
  /** Reprint the aggregations every N ms (-i); null: only at exit. */
  readonly intervalMs: number | null;
}

export interface Lowered {
  readonly text: string;
  readonly sourceMap: SourceMap;
  readonly aggregations: AggregationInfo[];
  readonly internalMaps: string[];
  readonly printa: PrintaFormat[];
  readonly printedAtEnd: string[];
  readonly bpftraceArgs: string[];
  readonly diagnostics: Diagnostic[];
}

/** Go's register ABI on amd64: integer arguments in this order. */
const GO_ARG_REGS = ['ax', 'bx', 'cx', 'di', 'si', 'r8', 'r9', 'r10', 'r11'];
const MNTNS = 'curtask->nsproxy->mnt_ns->ns.inum';
/** Sub-buckets per power of two of latency(): a bucket is at most 1/32 (3.1%) of its value. */
export const LATENCY_SUB = 32;

const mapName = (name: string) => (name === '' ? '@' : `@${name}`);
const sdMaps = (name: string) => ['n', 's', 'ss'].map((p) => `@__sd_${name || 'anon'}_${p}`);

export function lower(analysis: Analysis, source: Source, facts: Facts, opts: LowerOptions): Lowered {
  const diags: Diagnostic[] = [];
  const internal = new Set<string>();
  const printa: PrintaFormat[] = [];
  const printedAtEnd = new Set<string>();
  const unsafe = { value: false };
  const dotArgs = facts.bpftrace.version.major > 0 || facts.bpftrace.version.minor >= 21;
  const normalize = new Map<string, number>();
  const truncate = new Map<string, number>();

  // Container view: events filtered to the targets' mount namespaces (or PIDs, for -p),
  // and pid/tid as the container sees them where bpftrace can read them (>= 0.20, BTF).
  const containers = facts.target?.containers ?? [];
  // The main target's own PID first: most hits come from it, and `pid` is one cheap read where
  // the mount namespace is three dependent ones; its other processes still match by namespace.
  const targetFilter = containers.length
    ? [...(facts.target?.pid !== undefined ? [`pid == ${facts.target.pid}`] : []), ...containers.map((c) => `${MNTNS} == ${c.mntns}`)].join(' || ')
    : facts.target?.pids?.length
      ? facts.target.pids.map((p) => `pid == ${p}`).join(' || ')
      : null;
  const nsLevel = containers.length && !facts.target?.hostPids && facts.bpftrace.version.minor >= 20 ? (facts.target?.pidnsLevel ?? 0) : 0;

  const aggInfos = new Map<string, AggregationInfo>();
  for (const sym of analysis.aggs.values()) aggInfos.set(sym.name, aggregationInfo(sym, analysis));

  const mapsOf = (name: string): string[] => [...(aggInfos.get(name)?.maps ?? [mapName(name)])];
  const vars = scanMapVars(analysis);

  /** Lowers one clause body for one probe context into `w`. */
  const lowerFor = (probe: ResolvedProbe | null, w: Writer, clause: Clause, inEnd: boolean) => {
    let tmp = 0;
    const fresh = () => `$__t${tmp++}`;
    // With a syscall::*: probe in the clause, probefunc is a system call number in all its probes.
    const numericFunc = analysis.clauses.some((c) => c.clause === clause && c.probes.some(syscallNumberFunc));
    const isNumericFunc = (e: Expr) => numericFunc && e.kind === 'Ident' && (e.name === 'probefunc' || e.name === 'func');

    const argExpr = (n: number, span: Span): string => {
      const a = probe?.args;
      if (!a) return `arg${n}`;
      switch (a.kind) {
        case 'regs':
          return `arg${n}`;
        // Signed, as DTrace's argN are int64 (and Go's int): -1 stays -1.
        case 'go-regs':
          return `(int64)reg("${GO_ARG_REGS[n] ?? 'ax'}")`;
        case 'go-return':
          // DTrace: arg1 is the return value; bpftrace style: argN is the Nth result.
          return `(int64)reg("${GO_ARG_REGS[a.dtraceStyle ? Math.max(0, n - 1) : n] ?? 'ax'}")`;
        case 'return':
          return 'retval';
        case 'syscall-return':
        case 'raw-syscall-return':
          return field('ret');
        case 'raw-syscall-entry':
          return `${field('args')}[${n}]`;
        case 'syscall-entry':
        case 'tracepoint': {
          const f = a.fields?.[n];
          if (!f) {
            diags.push(error(Codes.UnknownTracepoint, `the argument names of ${probe.attach.replace(/^tracepoint:/, '')} are not known, so arg${n} cannot be mapped`, span, ['name the field instead: args->NAME']));
            return `arg${n}`;
          }
          return field(f);
        }
        case 'none':
        case 'go-line':
          return '0';
      }
    };
    const field = (f: string) => (dotArgs ? `args.${f}` : `args->${f}`);
    // probes.ts writes tracepoint fields as args->x; bpftrace >= 0.21 spells them args.x.
    const argsSyntax = (s: string) => (dotArgs ? s.replace(/args->/g, 'args.') : s);

    // Goroutines move between threads while they block: in Go probes, self-> is keyed by the
    // goroutine (its g, which Go keeps in R14), not the thread.
    const isGo = probe?.args.kind === 'go-regs' || probe?.args.kind === 'go-return' || probe?.args.kind === 'go-line';
    const selfKey = () => (isGo ? 'reg("r14")' : 'tid');
    const goidOffset = () => (probe?.binary ? facts.binaries?.[probe.binary]?.go?.goidOffset : null) ?? 152;

    const ident = (name: string, span: Span): string => {
      switch (name) {
        case 'timestamp':
        case 'nsecs':
          return 'nsecs';
        case 'walltimestamp':
          return `(nsecs + ${facts.wallclockOffsetNs})`;
        case 'vtimestamp':
          return 'curtask->se.sum_exec_runtime';
        case 'ppid':
          return 'curtask->real_parent->tgid';
        case 'execname':
        case 'comm':
          return 'comm';
        case 'curthread':
        case 'curtask':
          return 'curtask';
        case 'stack':
        case 'kstack':
          return 'kstack';
        case 'probeprov':
          return bpfString(probe?.provider ?? '');
        case 'probemod':
          return bpfString(probe?.module ?? '');
        case 'probename':
          return bpfString(probe?.name ?? '');
        case 'probefunc':
        case 'func':
          if (!probe) return '""';
          if (numericFunc && probe.func !== null) {
            const nr = probe.provider === 'syscall' ? syscallNumber(probe.func) : undefined;
            if (nr === undefined) diags.push(error(Codes.NotInContext, `probefunc is a system call number in syscall::*: probes, and cannot also be ${probe.provider}'s function name: use separate clauses`, span));
            return String(nr ?? 0);
          }
          if (probe.func !== null) return bpfString(probe.func);
          return argsSyntax(probe.dynamicFunc!.expr);
        case 'retval':
          if (probe?.args.kind === 'go-return') return '(int64)reg("ax")';
          return probe?.args.kind === 'return' ? 'retval' : field('ret');
        case 'goid':
          return `*(uint64 *)(reg("r14") + ${goidOffset()})`;
        case 'errno':
          return `(${field('ret')} < 0 ? -${field('ret')} : 0)`;
        case 'pid':
        case 'tid':
          if (nsLevel > 0) return `curtask->${name === 'pid' ? 'group_leader->' : ''}thread_pid->numbers[${nsLevel}].nr`;
          return name;
        case 'host':
          // Known when compiling (Facts.host): a constant, so it costs nothing in BPF.
          return bpfString(facts.host ?? '');
        case 'container': {
          // Hoisted by stringChoice below when there are several containers.
          return bpfString(containers[0]?.name ?? '');
        }
        case 'uid':
        case 'gid':
        case 'cpu':
        case 'ustack':
        case 'elapsed':
        case 'probe':
        case 'args':
          return name;
      }
      const argN = /^arg(\d)$/.exec(name);
      if (argN) return argExpr(Number(argN[1]), span);
      // A D global variable.
      internal.add(`@__g_${name}`);
      return `@__g_${name}`;
    };

    const prec = (e: Expr): number => {
      switch (e.kind) {
        case 'Binary':
          return BINARY_PRECEDENCE[e.op];
        case 'Ternary':
          return 0;
        case 'Assign':
          return -1;
        case 'Unary':
        case 'Cast':
          return 12;
        default:
          return 13;
      }
    };

    const sub = (e0: Expr, minPrec: number) => {
      const e = resolve(e0);
      if (prec(e) < minPrec || (e.kind === 'Binary' && e.op === '^^')) {
        w.write('(');
        expr(e);
        w.write(')');
      } else expr(e);
    };

    // A string-valued ?: becomes an if/else around its statement (bpftrace 0.23 cannot
    // load a string ternary), and so does one with a map read in a branch (0.23 then takes
    // the wrong branch: `@m[k] ? @m[k] : c` is c); `subs` stands a branch in for the
    // ternary while lowering.
    const subs = new Map<Expr, Expr>();
    const resolve = (e: Expr): Expr => {
      // Follow chains: a nested ternary's branch can itself stand in for one.
      let r = e;
      for (let s = subs.get(r); s !== undefined; s = subs.get(r)) r = s;
      return r;
    };
    const stringTernary = (e: Expr): Expr | undefined => {
      const r = resolve(e);
      if (r.kind === 'Ternary' && (analysis.types.get(r) === 'string' || readsMap(r.then) || readsMap(r.else))) return r;
      if (r.kind === 'Ident' && r.name === 'container' && containers.length > 1) return r;
      for (const c of children(r)) {
        const t = stringTernary(c);
        if (t) return t;
      }
      return undefined;
    };

    const expr = (e0: Expr): void => {
      const e = resolve(e0);
      w.mark(e.span, () => {
        switch (e.kind) {
          case 'Int':
            w.write(String(e.value * (e.unit ? TIME_UNIT_NS[e.unit]! : 1n)));
            return;
          case 'Str':
            w.write(bpfString(e.value));
            return;
          case 'Ident':
            w.write(ident(e.name, e.span));
            return;
          case 'ScriptArg': {
            if (e.index === 0) {
              w.write(bpfString(facts.scriptName));
              return;
            }
            const v = facts.scriptArgs[e.index - 1] ?? '';
            const t = analysis.types.get(e);
            w.write(t === 'int' ? String(BigInt(v)) : bpfString(v));
            return;
          }
          case 'MacroVar':
            w.write(String(nsLevel > 0 ? (facts.target?.nspid ?? facts.target?.pid ?? 0) : (facts.target?.pid ?? 0)));
            return;
          case 'SelfVar':
            internal.add(`@__self_${e.name}`);
            w.write(`@__self_${e.name}[${selfKey()}]`);
            return;
          case 'ThisVar':
            w.write(`$this_${e.name}`);
            return;
          case 'Agg':
            internal.add(`@__m_${e.name}`);
            w.write(`@__m_${e.name}`);
            keys(e.keys);
            return;
          case 'Index':
            if (e.object.kind === 'Ident' && e.object.name === 'args') {
              const i = e.index[0];
              w.write(argExpr(i && i.kind === 'Int' ? Number(i.value) : 0, e.span));
              return;
            }
            if (e.object.kind === 'Ident') {
              internal.add(`@__g_${e.object.name}`);
              w.write(`@__g_${e.object.name}`);
            } else expr(e.object);
            keys(e.index);
            return;
          case 'Member':
            if (e.object.kind === 'Ident' && (e.object.name === 'args' || e.object.name === 'locals') && probe?.args.kind === 'go-line') {
              const param = e.object.name === 'args';
              const v = probe.args.vars.find((x) => x.param === param && x.name === e.property);
              // The checker has reported a variable that cannot be read.
              w.write(v?.pieces ? lineVarExpr(v) : '0');
              return;
            }
            if (e.object.kind === 'Ident' && e.object.name === 'args') {
              const gp = probe?.args.kind === 'go-regs' ? probe.args.params?.find((p) => p.name === e.property) : undefined;
              // bpftrace's str(p, n) keeps n-1 bytes (room for the NUL): a Go string of length
              // len needs len + 1.
              if (gp) {
                const r = (i: number) => `reg("${GO_ARG_REGS[i]}")`;
                w.write(gp.kind === 'string' ? `str(${r(gp.reg)}, ${r(gp.reg + 1)} + 1)` : gp.kind === 'int' ? `(int64)${r(gp.reg)}` : r(gp.reg));
              }
              else w.write(field(e.property));
              return;
            }
            sub(e.object, 13);
            w.write(e.arrow ? '->' : '.');
            w.write(e.property, e.propertySpan);
            return;
          case 'Call':
            subroutine(e);
            return;
          case 'Unary':
            if (e.op === '+') {
              sub(e.operand, 12);
              return;
            }
            w.write(e.op);
            sub(e.operand, 12);
            return;
          case 'Update':
            if (e.prefix) w.write(e.op);
            sub(e.target, 13);
            if (!e.prefix) w.write(e.op);
            return;
          case 'Binary': {
            if (e.op === '^^') {
              w.write('((');
              expr(e.left);
              w.write(') != 0) != ((');
              expr(e.right);
              w.write(') != 0)');
              return;
            }
            const p = BINARY_PRECEDENCE[e.op];
            // probefunc == "read" where probefunc is the number: compare with read's number.
            const side = (x: Expr, other: Expr, minPrec: number) => {
              if ((e.op === '==' || e.op === '!=') && x.kind === 'Str' && isNumericFunc(other)) w.mark(x.span, () => w.write(String(syscallNumber(x.value) ?? -1)));
              else sub(x, minPrec);
            };
            side(e.left, e.right, p);
            w.write(` ${e.op} `);
            side(e.right, e.left, p + 1);
            return;
          }
          case 'Ternary':
            sub(e.cond, 1);
            w.write(' ? ');
            sub(e.then, 1);
            w.write(' : ');
            sub(e.else, 1);
            return;
          case 'Assign':
            diags.push(error(Codes.Unsupported, 'an assignment cannot be used as a value here: make it a statement of its own', e.span));
            return;
          case 'Cast': {
            const t = e.type;
            if (t.name === 'string') {
              if (analysis.types.get(e.operand) === 'string') expr(e.operand);
              else {
                w.write('str(');
                expr(e.operand);
                w.write(')');
              }
              return;
            }
            if (t.pointer > 0) {
              if (t.name.startsWith('struct ')) w.write(`(${t.name} ${'*'.repeat(t.pointer)})`);
              sub(e.operand, 12);
              return;
            }
            w.write(`(${INT_TYPES[t.name] ?? 'int64'})`);
            sub(e.operand, 12);
            return;
          }
        }
      });
    };

    const keys = (ks: readonly Expr[] | null) => {
      if (!ks) return;
      w.write('[');
      ks.forEach((k, i) => {
        if (i) w.write(', ');
        expr(k);
      });
      w.write(']');
    };

    const subroutine = (c: Call) => {
      const args = c.args;
      const simple = (name: string) => {
        w.write(name, c.calleeSpan).write('(');
        args.forEach((a, i) => {
          if (i) w.write(', ');
          expr(a);
        });
        w.write(')');
      };
      switch (c.callee) {
        case 'copyinstr':
        case 'str':
          simple('str');
          return;
        case 'gostr':
          // str(p, n) keeps n-1 bytes (room for the NUL): a Go string of length len needs len + 1.
          w.write('str', c.calleeSpan).write('(');
          expr(args[0]!);
          w.write(', ');
          sub(args[1]!, 10);
          w.write(' + 1)');
          return;
        case 'printf':
        case 'system': {
          const f = args[0];
          if (f?.kind !== 'Str') break;
          w.write(c.callee, c.calleeSpan).write('(');
          w.mark(f.span, () => w.write(bpfString(widenFormat(f.value, args.slice(1).map(resolve)))));
          args.slice(1).forEach((a) => {
            w.write(', ');
            expr(a);
          });
          w.write(')');
          return;
        }
        case 'stringof':
          if (analysis.types.get(args[0]!) === 'string') expr(args[0]!);
          else simple('str');
          return;
        case 'kstack':
        case 'stack':
        case 'ustack': {
          const name = c.callee === 'ustack' ? 'ustack' : 'kstack';
          if (args.length === 0) w.write(name, c.calleeSpan);
          else simple(name);
          return;
        }
      }
      simple(c.callee);
    };

    const assignTo = (target: Expr, op: string, value: Expr, span: Span) => {
      const map = mapVar(target);
      // Assigning 0 (or "" to a string) frees the entry, as D does; a map nothing else
      // defines cannot be deleted from (bpftrace: undefined map), so it is given the 0.
      const frees = map !== null && isFree(op, resolve(value), vars.types.get(map));
      const hoisted = target.kind === 'ThisVar' ? hoist.get(target.name) : undefined;
      w.mark(span, () => {
        if (frees && vars.defined.has(map!)) {
          w.write('delete(');
          expr(target);
          w.write(')');
          return;
        }
        expr(target);
        w.write(` ${op} `);
        if (hoisted === 'int' && op === '=') {
          w.write('(int64)');
          sub(value, 12);
        } else expr(value);
      });
      w.write(';').newline();
    };

    const aggAssign = (target: Expr & { kind: 'Agg' }, value: Call, span: Span) => {
      const info = aggInfos.get(target.name)!;
      const args = value.args;
      const keyed = (map: string, extra?: string) => {
        w.write(map);
        const ks = target.keys ?? [];
        if (ks.length || extra) {
          w.write('[');
          ks.forEach((k, i) => {
            if (i) w.write(', ');
            expr(k);
          });
          if (extra) w.write(`${ks.length ? ', ' : ''}${extra}`);
          w.write(']');
        }
      };
      const stmt = (emit: () => void) => {
        w.mark(span, emit);
        w.write(';').newline();
      };
      switch (info.func) {
        case 'stddev': {
          const v = fresh();
          stmt(() => {
            w.write(`${v} = (int64)`);
            sub(args[0]!, 12);
          });
          const [n, s, ss] = info.maps as [string, string, string];
          stmt(() => {
            keyed(n);
            w.write(' = count()');
          });
          stmt(() => {
            keyed(s);
            w.write(` = sum(${v})`);
          });
          stmt(() => {
            keyed(ss);
            w.write(` = sum(${v} * ${v})`);
          });
          return;
        }
        case 'llquantize': {
          const v = fresh();
          const b = fresh();
          stmt(() => {
            w.write(`${v} = (int64)`);
            sub(args[0]!, 12);
          });
          // One test per magnitude, then a division for the linear step inside it.
          const mags = llquantizeMagnitudes(...(analysis.aggs.get(target.name)!.params.map(Number) as [number, number, number, number]));
          w.write(`${b} = ${mags.total - 1};`).newline();
          for (const m of [...mags.list].reverse()) {
            w.write(`if (${v} < ${m.hi}) { ${b} = ${m.offset} + (${v} - ${m.lo}) / ${m.width}; }`).newline();
          }
          w.write(`if (${v} < ${mags.list[0]!.lo}) { ${b} = 0; }`).newline();
          stmt(() => {
            keyed(info.maps[0]!, b);
            w.write(' = count()');
          });
          return;
        }
        case 'latency': {
          // HDR-style: magnitude m = floor(log2 v) by binary search, then LATENCY_SUB linear
          // sub-buckets inside [2^m, 2^(m+1)); the runner turns m*SUB+s back into a range.
          const v = fresh();
          const m = fresh();
          const x = fresh();
          stmt(() => {
            w.write(`${v} = (int64)`);
            sub(args[0]!, 12);
          });
          w.write(`if (${v} < 1) { ${v} = 1; }`).newline();
          w.write(`${m} = 0;`).newline();
          w.write(`${x} = (uint64)${v};`).newline();
          for (const bits of [32, 16, 8, 4, 2]) {
            w.write(`if (${x} >= ${2n ** BigInt(bits)}) { ${m} += ${bits}; ${x} = ${x} >> ${bits}; }`).newline();
          }
          w.write(`if (${x} >= 2) { ${m} += 1; }`).newline();
          stmt(() => {
            keyed(info.maps[0]!, `${m} * ${LATENCY_SUB} + (((${v} - (1 << ${m})) << ${Math.log2(LATENCY_SUB)}) >> ${m})`);
            w.write(' = count()');
          });
          return;
        }
        default: {
          // avg as stats(): bpftrace then reports count and total too, so fleets merge averages exactly.
          const fn: Record<string, string> = { count: 'count', sum: 'sum', avg: 'stats', min: 'min', max: 'max', quantize: 'hist', lquantize: 'lhist' };
          stmt(() => {
            keyed(info.maps[0]!);
            w.write(` = `);
            w.write(fn[info.func]!, value.calleeSpan);
            w.write('(');
            args.forEach((a, i) => {
              if (i) w.write(', ');
              expr(a);
            });
            if (info.func === 'lquantize' && args.length === 3) w.write(', 1');
            w.write(')');
          });
        }
      }
    };

    const printValue = (e: Expr, span: Span) => {
      // A variable read in a clause checked before the one assigning it has its type from that one.
      const mv = mapVarOf(resolve(e), analysis);
      const t = analysis.types.get(e) === 'unknown' && mv ? (vars.types.get(mv.map) ?? 'unknown') : analysis.types.get(e);
      w.mark(span, () => {
        if (t === 'stack' || t === 'unknown' || t === 'ptr') {
          w.write('print(');
          expr(e);
          w.write(')');
        } else {
          w.write(`printf("${t === 'string' ? '%s' : narrowInt(resolve(e)) ? '%d' : '%lld'}\\n", `);
          expr(e);
          w.write(')');
        }
      });
      w.write(';').newline();
    };

    const action = (c: Call, span: Span): boolean => {
      const aggArg = (i: number) => (c.args[i]?.kind === 'Agg' ? (c.args[i] as { name: string }).name : undefined);
      switch (c.callee) {
        case 'printa': {
          const hasFormat = c.args[0]?.kind === 'Str';
          const names = c.args.slice(hasFormat ? 1 : 0).flatMap((a) => (a.kind === 'Agg' ? [a.name] : []));
          const id = printa.length;
          printa.push({ format: hasFormat ? (c.args[0] as { value: string }).value : null, aggregations: names.map(mapName) });
          if (inEnd) names.forEach((n) => printedAtEnd.add(mapName(n)));
          w.mark(span, () => w.write(`printf("${MARKER_BPF}printa:${id}\\n")`));
          w.write(';').newline();
          for (const n of names) for (const m of mapsOf(n)) w.write(`print(${m});`).newline();
          w.write(`printf("${MARKER_BPF}end\\n");`).newline();
          return true;
        }
        case 'trunc': {
          const n = aggArg(0);
          if (n === undefined) return true;
          if (c.args.length === 2) {
            truncate.set(n, Number(constValue(c.args[1]!) ?? 0n));
            return true;
          }
          for (const m of mapsOf(n)) w.mark(span, () => w.write(`clear(${m})`)), w.write(';').newline();
          return true;
        }
        case 'clear':
        case 'zero': {
          const n = aggArg(0);
          if (n !== undefined) for (const m of mapsOf(n)) w.mark(span, () => w.write(`zero(${m})`)), w.write(';').newline();
          return true;
        }
        case 'normalize': {
          const n = aggArg(0);
          if (n !== undefined) normalize.set(n, Number(constValue(c.args[1]!) ?? 1n));
          return true;
        }
        case 'denormalize': {
          const n = aggArg(0);
          if (n !== undefined) normalize.delete(n);
          return true;
        }
        case 'trace':
        case 'print':
          printValue(c.args[0]!, span);
          return true;
        case 'exit':
          w.mark(span, () => w.write('exit()'));
          w.write(';').newline();
          return true;
        case 'stack':
        case 'ustack': {
          w.mark(span, () => {
            w.write(`print(${c.callee === 'stack' ? 'kstack' : 'ustack'}`);
            if (c.args.length) {
              w.write('(');
              expr(c.args[0]!);
              w.write(')');
            }
            w.write(')');
          });
          w.write(';').newline();
          return true;
        }
        case 'system':
        case 'raise':
          unsafe.value = true;
          w.mark(span, () => {
            w.write(c.callee === 'raise' ? 'signal(' : 'system(');
            c.args.forEach((a, i) => {
              if (i) w.write(', ');
              expr(a);
            });
            w.write(')');
          });
          w.write(';').newline();
          return true;
      }
      return false;
    };

    const stmts = (list: readonly Stmt[]) => {
      for (const s of list) {
        if (split(s)) continue;
        if (s.kind === 'If') {
          w.mark(s.cond.span, () => {
            w.write('if (');
            expr(s.cond);
            w.write(')');
          });
          w.write(' {').newline().indent();
          stmts(s.then);
          w.dedent().write('}');
          if (s.else) {
            w.write(' else {').newline().indent();
            stmts(s.else);
            w.dedent().write('}');
          }
          w.newline();
          continue;
        }
        const e = s.expr;
        if (e.kind === 'Assign' && e.target.kind === 'Agg' && e.value.kind === 'Call' && aggInfos.has(e.target.name) && analysis.aggs.has(e.target.name) && isAggregating(e.value)) {
          aggAssign(e.target, e.value, s.span);
        } else if (e.kind === 'Assign') {
          assignTo(e.target, e.op, e.value, s.span);
        } else if (e.kind === 'Call' && action(e, s.span)) {
          // emitted
        } else {
          w.mark(s.span, () => expr(e));
          w.write(';').newline();
        }
      }
    };

    /** Lowers `s` (a statement, or an if by its condition) once per value of a ?: that must be split; false if none. */
    const split = (s: Stmt): boolean => {
      const t = stringTernary(s.kind === 'If' ? s.cond : s.expr);
      if (!t) return false;
      // One branch per value: if (c1) { S[t:=v1] } else { if (c2) ... else { S[t:=vn] } }
      const choices: { cond: (() => void) | null; value: Expr }[] =
        t.kind === 'Ternary'
          ? [{ cond: () => expr(t.cond), value: t.then }, { cond: null, value: t.else }]
          : containers.map((c, i) => ({
              cond: i === containers.length - 1 ? null : () => w.write(`${MNTNS} == ${c.mntns}`),
              value: { kind: 'Str', value: c.name, span: t.span } as Expr,
            }));
      let open = 0;
      for (const ch of choices) {
        if (ch.cond) {
          w.write('if (');
          ch.cond();
          w.write(') {').newline().indent();
        }
        subs.set(t, ch.value);
        stmts([s]);
        if (ch.cond) {
          w.dedent().write('} else {').newline().indent();
          open++;
        }
      }
      subs.delete(t);
      for (; open > 0; open--) w.dedent().write('}').newline();
      return true;
    };

    // this-> variables assigned more than once (their integer widths may differ) or inside a
    // branch (bpftrace 0.23 scopes a variable to its block) are declared at the clause's start,
    // and integers assigned through an int64 cast.
    const hoist = new Map<string, 'int' | 'string'>();
    {
      const seen = new Map<string, { count: number; branched: boolean; types: Set<string> }>();
      const visit = (list: readonly Stmt[], branched: boolean) => {
        for (const s of list) {
          if (s.kind === 'If') {
            visit(s.then, true);
            if (s.else) visit(s.else, true);
            continue;
          }
          const split = stringTernary(s.expr) !== undefined;
          // Only `=` sets the type: x += 1, x++ keep it.
          walkExpr(s.expr, (e) => {
            if (e.kind !== 'Assign' || e.op !== '=' || e.target.kind !== 'ThisVar') return;
            const v = seen.get(e.target.name) ?? { count: 0, branched: false, types: new Set<string>() };
            v.count++;
            v.branched ||= branched || split;
            v.types.add(analysis.types.get(e.target) ?? 'unknown');
            seen.set(e.target.name, v);
          });
        }
      };
      visit(clause.body, false);
      for (const [name, v] of seen) {
        if (v.count < 2 && !v.branched) continue;
        // A value of unknown type (a tracepoint field) beside integers is taken for one.
        const t = [...v.types];
        if (t.includes('int') && t.every((x) => x === 'int' || x === 'unknown')) hoist.set(name, 'int');
        else if (t.every((x) => x === 'string')) hoist.set(name, 'string');
      }
    }
    const prologue = () => {
      for (const [name, t] of hoist) w.write(`$this_${name} = ${t === 'int' ? '(int64)0' : '""'};`).newline();
    };

    /** A predicate with a ?: that must be split becomes an if around the body. */
    const guarded = (pred: Expr, body: readonly Stmt[]): Stmt[] | null =>
      stringTernary(pred) ? [{ kind: 'If', cond: pred, then: body, else: null, span: pred.span }] : null;

    return { stmts, expr, prologue, guarded };
  };

  const out = new Writer();
  const begin: { info: ClauseInfo; probe: ResolvedProbe }[] = [];
  const end: { info: ClauseInfo; probe: ResolvedProbe }[] = [];
  const bodies: Writer[] = [];

  for (const info of analysis.clauses) {
    const normal = info.probes.filter((p) => !p.special);
    for (const p of info.probes) {
      if (p.special === 'BEGIN') begin.push({ info, probe: p });
      if (p.special === 'END') end.push({ info, probe: p });
    }
    if (normal.length === 0) continue;
    // Lower the body once per probe; probes whose bodies come out the same share a clause.
    const groups: { probes: ResolvedProbe[]; writer: Writer; key: string }[] = [];
    for (const p of normal) {
      const w = new Writer();
      const l = lowerFor(p, w, info.clause, false);
      const own = p.filter && (dotArgs ? p.filter.replace(/args->/g, 'args.') : p.filter);
      // A probe of the target process itself (pid$target: `pid == N`, N the target's host PID)
      // needs no container filter on top: that process is in the container by definition, and
      // the filter's three dependent kernel reads are most of a hit's cost.
      const ofTargetPid = own !== null && /^pid == \d+$/.test(own) && facts.target?.pid !== undefined && own === `pid == ${facts.target.pid}`;
      const scoped = targetFilter && !p.attach.startsWith('interval:') && !ofTargetPid ? targetFilter : null;
      const filter = own && scoped ? `(${scoped}) && (${own})` : (own ?? scoped);
      const inBody = info.clause.predicate && l.guarded(info.clause.predicate, info.clause.body);
      const pred = inBody ? null : info.clause.predicate;
      if (filter || pred) {
        w.write('/');
        if (filter && pred) {
          w.write(`(${filter}) && (`);
          l.expr(pred);
          w.write(')');
        } else if (filter) w.write(filter);
        else l.expr(pred!);
        w.write('/').newline();
      }
      w.write('{').newline().indent();
      l.prologue();
      l.stmts(inBody || info.clause.body);
      w.dedent().write('}').newline();
      const key = w.build().text;
      const g = groups.find((x) => x.key === key);
      if (g) g.probes.push(p);
      else groups.push({ probes: [p], writer: w, key });
    }
    for (const g of groups) {
      const w = new Writer();
      const points = g.probes.flatMap((p) => p.attach.split(',\n').map((a) => ({ a, span: info.clause.probes[info.probes.indexOf(p)]?.span })));
      points.forEach(({ a, span }, i) => {
        w.write(a, span);
        w.write(i < points.length - 1 ? ',' : '').newline();
      });
      w.append(g.writer);
      bodies.push(w);
    }
  }

  const special = (name: 'BEGIN' | 'END', list: { info: ClauseInfo; probe: ResolvedProbe }[], tail?: (w: Writer) => void, head?: (w: Writer) => void) => {
    if (list.length === 0 && !tail && !head) return;
    const w = new Writer();
    w.write(name).newline().write('{').newline().indent();
    head?.(w);
    for (const { info, probe } of list) {
      const l = lowerFor(probe, w, info.clause, name === 'END');
      const inBody = info.clause.predicate && l.guarded(info.clause.predicate, info.clause.body);
      if (inBody) {
        l.prologue();
        l.stmts(inBody);
      } else if (info.clause.predicate) {
        w.write('if (');
        l.expr(info.clause.predicate);
        w.write(') {').newline().indent();
        l.prologue();
        l.stmts(info.clause.body);
        w.dedent().write('}').newline();
      } else {
        l.prologue();
        l.stmts(info.clause.body);
      }
    }
    tail?.(w);
    w.dedent().write('}').newline();
    out.append(w);
  };

  // BEGIN fires once every probe is attached: its first line tells the runner so.
  special('BEGIN', begin, undefined, (w) => {
    w.write(`printf("${MARKER_BPF}ready\\n");`).newline();
    // A map read before the text first assigns it has no type yet in bpftrace ("Cannot cast
    // from none"): give it one here, with the value D gives an unassigned variable.
    for (const [map, keys] of vars.readFirst) {
      const zero = typedZero(vars.types.get(map));
      if (zero === null) continue;
      internal.add(map);
      if (keys === null) w.write(`${map} = ${zero};`).newline();
      else {
        const k = `[${keys.map((t) => typedZero(t) ?? '0').join(', ')}]`;
        w.write(`${map}${k} = ${zero}; delete(${map}${k});`).newline();
      }
    }
  });
  for (const b of bodies) out.append(b);

  const shown = [...aggInfos.values()];
  if (opts.intervalMs !== null && shown.length > 0) {
    const ms = opts.intervalMs;
    const w = new Writer();
    w.write(ms % 1000 === 0 ? `interval:s:${ms / 1000}` : `interval:ms:${ms}`).newline().write('{').newline().indent();
    w.write(`printf("${MARKER_BPF}snap\\n");`).newline();
    for (const a of shown) for (const m of a.maps) w.write(`print(${m});`).newline();
    w.write(`printf("${MARKER_BPF}end\\n");`).newline();
    w.dedent().write('}').newline();
    out.append(w);
  }
  special('END', end, (w) => {
    // Scratch state would otherwise be printed by bpftrace at exit, and slowly.
    for (const m of [...internal].sort()) w.write(`clear(${m});`).newline();
    w.write(`printf("${MARKER_BPF}final\\n");`).newline();
  });

  const built = out.build();
  const aggregations = [...aggInfos.values()].map((a) => {
    const key = a.name === '@' ? '' : a.name.slice(1);
    const n = normalize.get(key);
    const t = truncate.get(key);
    return { ...a, ...(n !== undefined ? { normalize: n } : {}), ...(t !== undefined ? { truncate: t } : {}) };
  });
  for (const a of aggregations) if (a.func === 'stddev') a.maps.forEach((m) => internal.add(m));
  return {
    text: built.text + '\n',
    sourceMap: built.sourceMap,
    aggregations,
    internalMaps: [...internal].sort(),
    printa,
    printedAtEnd: [...printedAtEnd],
    bpftraceArgs: unsafe.value ? ['--unsafe'] : [],
    diagnostics: diags,
  };
}

/** A D variable held in a bpftrace map: self->x, a global x or x[k], a plain @m[k] = v. */
interface MapVar {
  readonly map: string;
  /** Its key expressions; null for a scalar. self-> is keyed by the thread (or goroutine). */
  readonly keys: readonly Expr[] | 'self' | null;
}

function mapVarOf(e: Expr, analysis: Analysis): MapVar | null {
  switch (e.kind) {
    case 'SelfVar':
      return { map: `@__self_${e.name}`, keys: 'self' };
    case 'Ident':
      return BUILTIN_VARS[e.name] ? null : { map: `@__g_${e.name}`, keys: null };
    case 'Index':
      return e.object.kind === 'Ident' && !BUILTIN_VARS[e.object.name] ? { map: `@__g_${e.object.name}`, keys: e.index } : null;
    case 'Agg':
      return analysis.aggs.has(e.name) ? null : { map: `@__m_${e.name}`, keys: e.keys };
    default:
      return null;
  }
}

/** The map entry an assignment of 0 frees: self->x and x[k]. */
function mapVar(target: Expr): string | null {
  if (target.kind === 'SelfVar') return `@__self_${target.name}`;
  if (target.kind === 'Index' && target.object.kind === 'Ident' && target.object.name !== 'args') return `@__g_${target.object.name}`;
  return null;
}

/** `= 0`, or `= ""` to a string: D frees the variable. */
function isFree(op: string, value: Expr, type: Type | undefined): boolean {
  return op === '=' && (constValue(value) === 0n || (value.kind === 'Str' && value.value === '' && type === 'string'));
}

/** Does evaluating `e` read a D variable held in a map? */
function readsMap(e: Expr): boolean {
  let found = false;
  walkExpr(e, (x) => {
    if (x.kind === 'SelfVar' || (x.kind === 'Ident' && !BUILTIN_VARS[x.name]) || (x.kind === 'Index' && x.object.kind === 'Ident' && !BUILTIN_VARS[x.object.name])) found = true;
    if (x.kind === 'Agg') found = true;
  });
  return found;
}

function typedZero(t: Type | undefined): string | null {
  return t === 'int' ? '0' : t === 'string' ? '""' : null;
}

/**
 * The map-held variables of a program, in the order bpftrace reads the emitted text (BEGIN,
 * the other clauses, END): their value types, which have a write that defines the map (not
 * only frees), and which are read before any write (with their key types).
 */
function scanMapVars(analysis: Analysis): { types: Map<string, Type>; defined: Set<string>; readFirst: Map<string, Type[] | null> } {
  const types = new Map<string, Type>();
  for (const [n, v] of analysis.selfVars) types.set(`@__self_${n}`, v.type);
  for (const [n, v] of analysis.globals) types.set(`@__g_${n}`, v.type);
  for (const [n, v] of analysis.plainMaps) types.set(`@__m_${n}`, v.type);
  const defined = new Set<string>();
  const seen = new Set<string>();
  const readFirst = new Map<string, Type[] | null>();
  const keyTypes = (v: MapVar): Type[] | null => (v.keys === 'self' ? ['int'] : v.keys === null ? null : v.keys.map((k) => analysis.types.get(k) ?? 'unknown'));
  const keysOf = (v: MapVar) => (v.keys === 'self' || v.keys === null ? [] : v.keys);
  const visit = (e: Expr): void => {
    if (e.kind === 'Assign' || e.kind === 'Update') {
      if (e.kind === 'Assign') visit(e.value);
      const v = mapVarOf(e.target, analysis);
      if (!v) return visit(e.target);
      keysOf(v).forEach(visit);
      if (e.kind === 'Update' || !isFree(e.op, e.value, types.get(v.map))) defined.add(v.map);
      seen.add(v.map);
      return;
    }
    const v = mapVarOf(e, analysis);
    if (v) {
      keysOf(v).forEach(visit);
      if (!seen.has(v.map)) readFirst.set(v.map, keyTypes(v));
      seen.add(v.map);
      return;
    }
    children(e).forEach(visit);
  };
  const stmts = (list: readonly Stmt[]): void => {
    for (const s of list) {
      if (s.kind === 'ExprStmt') visit(s.expr);
      else {
        visit(s.cond);
        stmts(s.then);
        if (s.else) stmts(s.else);
      }
    }
  };
  const order = [
    ...analysis.clauses.filter((c) => c.probes.some((p) => p.special === 'BEGIN')),
    ...analysis.clauses.filter((c) => c.probes.some((p) => !p.special)),
    ...analysis.clauses.filter((c) => c.probes.some((p) => p.special === 'END')),
  ];
  for (const c of order) {
    if (c.clause.predicate) visit(c.clause.predicate);
    stmts(c.clause.body);
  }
  return { types, defined, readFirst };
}

/** A cast to an integer type of 32 bits or fewer: bpftrace's %d/%u/%x print it whole. */
function narrowInt(e: Expr): boolean {
  return e.kind === 'Cast' && e.type.pointer === 0 && /^u?int(8|16|32)$/.test(INT_TYPES[e.type.name] ?? '');
}

/**
 * D formats an integer at its own width; bpftrace's %d, %u, %x, %o print only 32 bits (and it
 * has no %i): those conversions of 64-bit arguments get the ll length modifier.
 */
export function widenFormat(fmt: string, args: readonly Expr[]): string {
  let i = 0;
  return fmt.replace(/%([-+ #0]*\d*(?:\.\d+)?)(hh|h|ll|l|z|j|t)?([a-zA-Z%])/g, (m, flags: string, len: string | undefined, conv: string) => {
    if (conv === '%') return m;
    const arg = args[i++];
    if (len !== undefined || !'diuxXo'.includes(conv)) return m;
    const c = conv === 'i' ? 'd' : conv;
    return `%${flags}${arg && narrowInt(arg) ? '' : 'll'}${c}`;
  });
}

function isAggregating(c: Call): boolean {
  return ['count', 'sum', 'avg', 'min', 'max', 'stddev', 'quantize', 'lquantize', 'llquantize', 'latency', 'hist', 'lhist'].includes(c.callee);
}

function aggregationInfo(sym: AggSymbol, analysis: Analysis): AggregationInfo {
  const keys: KeyInfo[] = sym.keyLabels.map((label, i) => {
    const t = sym.keyTypes[i];
    const syscallKey = /^(probefunc|func)$/.test(label) && analysis.clauses.some((c) => c.probes.some((p) => p.dynamicFunc?.transform === 'syscall'));
    return {
      label,
      // A syscall key is the number from raw_syscalls, shown as a name by the runner.
      type: syscallKey ? 'int' : t === 'string' ? 'string' : t === 'stack' ? 'stack' : 'int',
      transform: syscallKey ? 'syscall' : t === 'stack' ? (label.startsWith('u') ? 'ustack' : 'stack') : 'none',
    };
  });
  const name = mapName(sym.name);
  const base = { name, func: sym.func, valueLabel: sym.func === 'count' ? 'count' : sym.valueLabel, keys, span: sym.span };
  switch (sym.func) {
    case 'stddev':
      return { ...base, maps: sdMaps(sym.name) };
    case 'llquantize': {
      const [factor, low, high, steps] = sym.params.map(Number) as [number, number, number, number];
      return { ...base, maps: [name], buckets: llquantizeBuckets(factor, low, high, steps) };
    }
    case 'latency':
      return { ...base, maps: [name], buckets: { kind: 'log-linear', subBuckets: LATENCY_SUB } };
    case 'lquantize': {
      const [min, max, step = 1] = sym.params.map(Number) as [number, number, number?];
      return { ...base, maps: [name], linear: { min, max, step } };
    }
    default:
      return { ...base, maps: [name] };
  }
}

export interface Magnitude {
  readonly lo: number;
  readonly hi: number;
  readonly width: number;
  /** Bucket index of `lo`. */
  readonly offset: number;
  readonly count: number;
}

/**
 * DTrace's llquantize: for each magnitude m in [low, high], linear buckets factor^(m+1)/steps
 * wide from factor^m up to factor^(m+1). Bucket 0 holds values below factor^low, the last
 * one values from factor^(high+1) up.
 */
export function llquantizeMagnitudes(factor: number, low: number, high: number, steps: number): { list: Magnitude[]; total: number } {
  const list: Magnitude[] = [];
  let offset = 1;
  for (let m = low; m <= high; m++) {
    const lo = factor ** m;
    const hi = factor ** (m + 1);
    const width = Math.max(1, Math.floor(hi / steps));
    const count = Math.ceil((hi - lo) / width);
    list.push({ lo, hi, width, offset, count });
    offset += count;
  }
  return { list, total: offset + 1 };
}

export function llquantizeBuckets(factor: number, low: number, high: number, steps: number): BucketScheme {
  const { list } = llquantizeMagnitudes(factor, low, high, steps);
  const edges: number[] = [];
  for (const m of list) for (let k = 0; k < m.count; k++) edges.push(m.lo + k * m.width);
  edges.push(list[list.length - 1]!.hi);
  return { kind: 'edges', edges };
}

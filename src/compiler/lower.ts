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
import { BINARY_PRECEDENCE, children } from '../lang/ast.js';
import { Codes, error, type Diagnostic } from '../lang/diagnostics.js';
import type { Source, Span } from '../lang/source.js';
import { INT_TYPES, TIME_UNIT_NS } from './builtins.js';
import { constValue, type AggSymbol, type Analysis, type ClauseInfo } from './checker.js';
import { bpfString, Writer } from './emitter.js';
import type { Facts } from './facts.js';
import { MARKER_BPF, type AggregationInfo, type BucketScheme, type KeyInfo, type PrintaFormat, type SourceMap } from './program.js';
import type { ResolvedProbe } from './probes.js';

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
  const targetFilter = containers.length
    ? containers.map((c) => `${MNTNS} == ${c.mntns}`).join(' || ')
    : facts.target?.pids?.length
      ? facts.target.pids.map((p) => `pid == ${p}`).join(' || ')
      : null;
  const nsLevel = containers.length && !facts.target?.hostPids && facts.bpftrace.version.minor >= 20 ? (facts.target?.pidnsLevel ?? 0) : 0;

  const aggInfos = new Map<string, AggregationInfo>();
  for (const sym of analysis.aggs.values()) aggInfos.set(sym.name, aggregationInfo(sym, analysis));

  const mapsOf = (name: string): string[] => [...(aggInfos.get(name)?.maps ?? [mapName(name)])];

  /** Lowers one clause body for one probe context into `w`. */
  const lowerFor = (probe: ResolvedProbe | null, w: Writer, clause: Clause, inEnd: boolean) => {
    let tmp = 0;
    const fresh = () => `$__t${tmp++}`;

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
          return '0';
      }
    };
    const field = (f: string) => (dotArgs ? `args.${f}` : `args->${f}`);
    // probes.ts writes tracepoint fields as args->x; bpftrace >= 0.21 spells them args.x.
    const argsSyntax = (s: string) => (dotArgs ? s.replace(/args->/g, 'args.') : s);

    // Goroutines move between threads while they block: in Go probes, self-> is keyed by the
    // goroutine (its g, which Go keeps in R14), not the thread.
    const isGo = probe?.args.kind === 'go-regs' || probe?.args.kind === 'go-return';
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

    const sub = (e: Expr, minPrec: number) => {
      if (prec(e) < minPrec || (e.kind === 'Binary' && e.op === '^^')) {
        w.write('(');
        expr(e);
        w.write(')');
      } else expr(e);
    };

    // A string-valued ?: becomes an if/else around its statement (bpftrace 0.23 cannot
    // load a string ternary); `subs` stands a branch in for the ternary while lowering.
    const subs = new Map<Expr, Expr>();
    const resolve = (e: Expr): Expr => {
      // Follow chains: a nested ternary's branch can itself stand in for one.
      let r = e;
      for (let s = subs.get(r); s !== undefined; s = subs.get(r)) r = s;
      return r;
    };
    const stringTernary = (e: Expr): Expr | undefined => {
      const r = resolve(e);
      if (r.kind === 'Ternary' && analysis.types.get(r) === 'string') return r;
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
            sub(e.left, p);
            w.write(` ${e.op} `);
            sub(e.right, p + 1);
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
        default:
          simple(c.callee);
      }
    };

    const assignTo = (target: Expr, op: string, value: Expr, span: Span) => {
      const zero = op === '=' && constValue(value) === 0n;
      const isDeletable = target.kind === 'SelfVar' || (target.kind === 'Index' && target.object.kind === 'Ident' && target.object.name !== 'args');
      w.mark(span, () => {
        if (zero && isDeletable) {
          w.write('delete(');
          expr(target);
          w.write(')');
          return;
        }
        expr(target);
        w.write(` ${op} `);
        expr(value);
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
          const fn: Record<string, string> = { count: 'count', sum: 'sum', avg: 'avg', min: 'min', max: 'max', quantize: 'hist', lquantize: 'lhist' };
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
      const t = analysis.types.get(e);
      w.mark(span, () => {
        if (t === 'stack' || t === 'unknown' || t === 'ptr') {
          w.write('print(');
          expr(e);
          w.write(')');
        } else {
          w.write(`printf("${t === 'string' ? '%s' : '%d'}\\n", `);
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
        const t = stringTernary(s.expr);
        if (t) {
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

    return { stmts, expr };
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
      const scoped = targetFilter && !p.attach.startsWith('interval:') ? targetFilter : null;
      const filter = own && scoped ? `(${scoped}) && (${own})` : (own ?? scoped);
      const pred = info.clause.predicate;
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
      l.stmts(info.clause.body);
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
      if (info.clause.predicate) {
        w.write('if (');
        l.expr(info.clause.predicate);
        w.write(') {').newline().indent();
        l.stmts(info.clause.body);
        w.dedent().write('}').newline();
      } else l.stmts(info.clause.body);
    }
    tail?.(w);
    w.dedent().write('}').newline();
    out.append(w);
  };

  // BEGIN fires once every probe is attached: its first line tells the runner so.
  special('BEGIN', begin, undefined, (w) => w.write(`printf("${MARKER_BPF}ready\\n");`).newline());
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

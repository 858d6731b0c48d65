// Generators for the compiler fuzz test (fuzz.test.ts).
//
// - TypedGen builds programs that are meant to pass the checker (typed expressions over the
//   builtins each probe offers, aggregations used consistently, self-> written before read),
//   so lowering and emission are exercised, not only the checker's error paths. A share of
//   them still fails on purpose (a wrong arity, an unknown name) to mix in diagnostics.
// - mutate() damages any program text at the character and token level.
// test/lang/gen.ts's ProgramGen (grammar-only programs, mostly semantically wrong) is the third
// source; all three are seeded and reproducible.

import { Rand, mutateTokens } from '../lang/gen.js';

export { Rand, prng, ProgramGen } from '../lang/gen.js';

export interface ProbeKind {
  readonly text: string;
  /** Integer expressions valid in this probe's context. */
  readonly ints: readonly string[];
  /** String expressions valid in this probe's context. */
  readonly strs: readonly string[];
  /** Needs a target (-c/-p): only with target facts. */
  readonly target?: boolean;
  /** A Go function probe (synthetic binary facts). */
  readonly go?: boolean;
  /** Names /usr/bin/bash: only with the golden C target, whose paths list it. */
  readonly c?: boolean;
  /** Pairs with this probe for entry/return timing. */
  readonly returnOf?: string;
}

const COMMON_INTS = ['pid', 'tid', 'uid', 'gid', 'cpu', 'timestamp', 'vtimestamp', 'walltimestamp', 'ppid', 'nsecs'];
const COMMON_STRS = ['execname', 'probefunc', 'probename', 'probeprov', 'comm'];

export const PROBES: readonly ProbeKind[] = [
  { text: 'BEGIN', ints: ['pid', 'timestamp', 'cpu'], strs: ['execname'] },
  { text: 'END', ints: ['pid', 'timestamp'], strs: ['execname'] },
  { text: 'tick-1s', ints: ['cpu', 'timestamp'], strs: ['execname'] },
  { text: 'interval:ms:100', ints: ['cpu', 'timestamp'], strs: [] },
  { text: 'profile-99', ints: [...COMMON_INTS], strs: ['execname'] },
  { text: 'syscall::read:entry', ints: [...COMMON_INTS, 'arg0', 'arg2', 'args->fd', 'args->count'], strs: COMMON_STRS },
  { text: 'syscall::read:return', ints: [...COMMON_INTS, 'arg0', 'arg1', 'errno', 'args->ret'], strs: COMMON_STRS, returnOf: 'syscall::read:entry' },
  { text: 'syscall::write:entry', ints: [...COMMON_INTS, 'arg0', 'arg2', 'args->count'], strs: COMMON_STRS },
  { text: 'syscall::openat:entry', ints: [...COMMON_INTS, 'arg2', 'args->flags'], strs: [...COMMON_STRS, 'copyinstr(arg1)', 'str(args->filename)'] },
  { text: 'syscall::openat:return', ints: [...COMMON_INTS, 'arg0', 'errno'], strs: COMMON_STRS, returnOf: 'syscall::openat:entry' },
  { text: 'tracepoint:syscalls:sys_enter_write', ints: [...COMMON_INTS, 'args->fd', 'args->count'], strs: ['comm'] },
  { text: 'tracepoint:syscalls:sys_exit_read', ints: [...COMMON_INTS, 'args->ret'], strs: ['comm'], returnOf: 'tracepoint:syscalls:sys_enter_read' },
  { text: 'tracepoint:syscalls:sys_enter_read', ints: [...COMMON_INTS, 'args->fd'], strs: ['comm'] },
  { text: 'tracepoint:sched:sched_switch', ints: ['cpu', 'args->prev_pid', 'args->next_pid', 'args->next_prio'], strs: ['args->prev_comm', 'args->next_comm'] },
  { text: 'syscall::*:entry', ints: [...COMMON_INTS], strs: COMMON_STRS },
  { text: 'pid$target::main.handle:entry', ints: ['pid', 'tid', 'arg0', 'timestamp', 'goid', 'args.n'], strs: ['execname'], target: true, go: true },
  { text: 'pid$target::main.handle:return', ints: ['pid', 'retval', 'timestamp', 'goid'], strs: ['execname'], target: true, go: true, returnOf: 'pid$target::main.handle:entry' },
  { text: 'uprobe:main.vote', ints: ['arg0', 'args.n', 'goid', 'pid'], strs: ['args.name', 'gostr(arg1, arg2)'], target: true, go: true },
  { text: 'uretprobe:main.vote', ints: ['retval', 'pid', 'goid'], strs: ['execname'], target: true, go: true },
  { text: 'uprobe:/usr/bin/bash:readline', ints: ['arg0', 'pid', 'tid'], strs: ['execname'], target: true, c: true },
  { text: 'uretprobe:/usr/bin/bash:readline', ints: ['retval', 'pid'], strs: ['execname'], target: true, c: true },
  { text: 'proc:::exec-success', ints: ['pid', 'ppid'], strs: ['execname'] },
];

const INT_BINOPS = ['+', '-', '*', '/', '%', '&', '|', '^', '<<', '>>'];
const CMP_OPS = ['==', '!=', '<', '<=', '>', '>='];
const AGG_FUNCS = ['count', 'sum', 'avg', 'min', 'max', 'stddev', 'quantize', 'lquantize', 'llquantize', 'latency'] as const;
const NAMES = ['a', 'b', 'calls', 'lat', 'bytes', 'x'];

export interface TypedOptions {
  /** Target facts present: probes that need a target may be used. */
  readonly target: boolean;
  /** Synthetic Go binary facts present (else, with a target, the golden C target). */
  readonly go: boolean;
  /** Share of programs given one deliberate mistake. */
  readonly mistakes?: number;
}

export class TypedGen {
  private aggs = new Map<string, { func: string; keys: readonly string[] }>();
  private selfVars: string[] = [];
  private thisVars: string[] = [];
  private globals: string[] = [];

  constructor(private readonly r: Rand, private readonly opts: TypedOptions) {}

  program(): string {
    const r = this.r;
    this.aggs = new Map();
    this.thisVars = [];
    this.selfVars = [];
    this.globals = [];
    const usable = PROBES.filter((p) => (!p.target || this.opts.target) && (!p.go || this.opts.go) && (!p.c || (this.opts.target && !this.opts.go)));
    const out: string[] = [];
    if (r.chance(0.15)) out.push(r.pick(['#pragma D option quiet', '#pragma D option strsize=64', '#pragma D option destructive']));
    const n = 1 + r.int(5);
    for (let i = 0; i < n; i++) {
      const p = r.pick(usable);
      // A return probe usually follows its entry, timing it through self->.
      const entry = p.returnOf ? usable.find((q) => q.text === p.returnOf) : undefined;
      if (entry && r.chance(0.7)) {
        const v = `t${r.int(3)}`;
        out.push(`${entry.text} { self->${v} = timestamp; }`);
        this.selfVars.push(v);
        const agg = this.aggStmt(p, `timestamp - self->${v}`, r.pick(['lat', 'dur', 'l2']));
        out.push(`${p.text} /self->${v}/ { ${agg}; self->${v} = 0; }`);
        continue;
      }
      out.push(this.clause(p));
    }
    let text = out.map((c, i) => (i && out[i - 1]!.startsWith('#') ? '\n' : '') + c).join(r.pick(['\n', '\n\n', ' ']));
    if (r.chance(this.opts.mistakes ?? 0.1)) text = this.mistake(text);
    return text + '\n';
  }

  private clause(p: ProbeKind): string {
    const r = this.r;
    this.thisVars = [];
    const pred = r.chance(0.4) ? ` /${this.cond(p, 2)}/` : '';
    const stmts: string[] = [];
    for (let i = 1 + r.int(4); i > 0; i--) stmts.push(...this.stmt(p, 2));
    const angle = r.chance(0.15) && !stmts.some((s) => /[<>]/.test(s));
    const body = stmts.join('; ');
    return angle ? `${p.text}${pred} < ${body} >` : `${p.text}${pred} { ${body}; }`;
  }

  private stmt(p: ProbeKind, d: number): string[] {
    const r = this.r;
    switch (r.int(12)) {
      case 0:
      case 1:
      case 2:
        return [this.aggStmt(p)];
      case 3: {
        const v = `v${r.int(3)}`;
        const value = this.int(p, d);
        this.thisVars.push(v);
        return [`this->${v} = ${value}`];
      }
      case 4: {
        const v = `t${r.int(3)}`;
        const value = this.int(p, d);
        this.selfVars.push(v);
        return [`self->${v} = ${value}`];
      }
      case 5: {
        const v = `g${r.int(3)}`;
        const stmt = r.chance(0.5) ? `${v} = ${this.int(p, d)}` : `${v} += ${this.int(p, 1)}`;
        this.globals.push(v);
        return [stmt];
      }
      case 6: {
        const args: string[] = [];
        let fmt = 'x';
        for (let i = r.int(4); i > 0; i--) {
          if (r.chance(0.6)) {
            fmt += ` ${r.pick(['%d', '%u', '%x', '%5d', '%-4d', '%lld'])}`;
            args.push(this.int(p, d));
          } else if (p.strs.length) {
            fmt += ` ${r.pick(['%s', '%-10s', '%.3s'])}`;
            args.push(this.str(p));
          }
        }
        return [`printf("${fmt}\\n"${args.map((a) => `, ${a}`).join('')})`];
      }
      case 7:
        if (d > 0) {
          const then = this.stmt(p, d - 1).join('; ');
          const els = r.chance(0.5) ? ` else { ${this.stmt(p, d - 1).join('; ')}; }` : '';
          return [`if (${this.cond(p, d - 1)}) { ${then}; }${els}`];
        }
        return [this.aggStmt(p)];
      case 8: {
        const names = [...this.aggs.keys()];
        if (!names.length) return [this.aggStmt(p)];
        const a = r.pick(names);
        return [r.pick([`printa(@${a})`, `clear(@${a})`, `trunc(@${a}, ${1 + r.int(5)})`, `normalize(@${a}, ${1 + r.int(1000)})`, `printa("%@d\\n", @${a})`])];
      }
      case 9:
        return [r.pick([`trace(${this.int(p, d)})`, `print(${this.int(p, 1)})`, 'stack()', 'ustack()', r.chance(0.2) ? 'exit()' : `trace(${this.int(p, 0)})`])];
      case 10: {
        const v = `m${r.int(2)}`;
        return [r.chance(0.7) ? `${v}[${this.int(p, 0)}] = ${this.int(p, 1)}` : `${v}[${this.int(p, 0)}] = 0`];
      }
      default:
        return [this.aggStmt(p)];
    }
  }

  /** Keys of the given kinds ('s' string, 'i' integer). */
  private keys(p: ProbeKind, kinds: readonly string[]): string {
    if (kinds.length === 0) return '';
    return `[${kinds.map((k) => (k === 's' ? this.str(p) : this.int(p, 0))).join(', ')}]`;
  }

  /** An aggregating statement; a name already used keeps its function and key types. */
  aggStmt(p: ProbeKind, value = this.int(p, 1), name = this.r.pick(NAMES)): string {
    const r = this.r;
    let prev = this.aggs.get(name);
    // A string key where this probe has no strings: use another name.
    if (prev?.keys.includes('s') && !p.strs.length) {
      name = `${name}_i`;
      prev = this.aggs.get(name);
    }
    const f = prev?.func ?? r.pick(AGG_FUNCS);
    const kinds = prev?.keys ?? (r.chance(0.4) ? [] : Array.from({ length: 1 + r.int(2) }, () => (p.strs.length && r.chance(0.5) ? 's' : 'i')));
    if (!prev) this.aggs.set(name, { func: f, keys: kinds });
    const low = r.int(10);
    const call =
      f === 'count' ? 'count()'
      : f === 'lquantize' ? `lquantize(${value}, ${low}, ${low + 10 + r.int(900)}${r.chance(0.5) ? `, ${1 + r.int(20)}` : ''})`
      : f === 'llquantize' ? `llquantize(${value}, 10, 0, ${2 + r.int(3)}, 10)`
      : `${f}(${value})`;
    return `@${name}${this.keys(p, kinds)} = ${call}`;
  }

  int(p: ProbeKind, d: number): string {
    const r = this.r;
    const leaf = (): string => {
      const c = r.int(10);
      if (c < 3) return r.pick(p.ints.length ? p.ints : ['0']);
      if (c < 5) return String(r.chance(0.2) ? r.pick([0, 1, 4096, 1_000_000, 0x7fffffff]) : r.int(200));
      if (c === 5) return `${1 + r.int(50)}${r.pick(['ms', 'us', 'ns', 's'])}`;
      if (c === 6 && this.thisVars.length) return `this->${r.pick(this.thisVars)}`;
      if (c === 7 && this.globals.length) return r.pick(this.globals);
      return r.pick(p.ints.length ? p.ints : ['1']);
    };
    if (d <= 0) return leaf();
    switch (r.int(8)) {
      case 0:
      case 1: {
        const op = r.pick(INT_BINOPS);
        // A constant shift of 64 or more is undefined (and the kernel's verifier refuses it):
        // shift by small amounts, where the typed programs are meant to be valid.
        // Likewise a constant division by zero.
        let rhs = op === '<<' || op === '>>' ? String(r.int(64)) : this.int(p, d - 1);
        if ((op === '/' || op === '%') && /^\(?0\)?$|^0[a-z]/.test(rhs)) rhs = '7';
        return `(${this.int(p, d - 1)} ${op} ${rhs})`;
      }
      case 2:
        return `(${this.cond(p, d - 1)} ? ${this.int(p, d - 1)} : ${this.int(p, d - 1)})`;
      case 3:
        return `(${r.pick(['int', 'uint64_t', 'int32_t', 'uint8_t', 'unsigned long'])})${this.int(p, 0)}`;
      case 4:
        return `${r.pick(['-', '~', '!'])}${this.int(p, 0)}`;
      default:
        return leaf();
    }
  }

  str(p: ProbeKind): string {
    const r = this.r;
    if (r.chance(0.2)) return JSON.stringify(r.pick(['GET', 'a b', 'x%y', 'é', '']));
    return r.pick(p.strs.length ? p.strs : ['"none"']);
  }

  cond(p: ProbeKind, d: number): string {
    const r = this.r;
    switch (r.int(6)) {
      case 0:
        return `${this.int(p, d)} ${r.pick(CMP_OPS)} ${this.int(p, 0)}`;
      case 1:
        if (p.strs.length) return r.chance(0.5) ? `${this.str(p)} == ${JSON.stringify(r.pick(['bash', 'sh', 'frontend']))}` : `strcontains(${this.str(p)}, "sh")`;
        return this.int(p, d);
      case 2:
        if (d > 0) return `(${this.cond(p, d - 1)}) ${r.pick(['&&', '||', '^^'])} (${this.cond(p, d - 1)})`;
        return this.int(p, 0);
      case 3:
        if (this.selfVars.length) return `self->${r.pick(this.selfVars)}`;
        return `${this.int(p, 0)} != 0`;
      default:
        return `${this.int(p, d)} ${r.pick(CMP_OPS)} ${this.int(p, d)}`;
    }
  }

  /** One deliberate mistake: the checker must report it, with a good span. */
  private mistake(text: string): string {
    const r = this.r;
    const edits: [RegExp, string][] = [
      [/count\(\)/, 'count(1, 2)'],
      [/quantize\(/, 'quantise('],
      [/execname/, 'execnmae'],
      [/timestamp/, 'timestmp'],
      [/syscall::read:/, 'syscall::raed:'],
      [/self->(\w+)/, 'self->never_written'],
      [/"\\n"/, '"\\q"'],
      [/printf\("/, 'printf(42, "'],
      [/\{ /, '{ this->unset + 1; '],
      [/BEGIN/, 'BEGIN, kprobe:vfs_read'],
      [/@(\w+) = /, '@$1 = @$1 + '],
    ];
    const [re, rep] = r.pick(edits);
    return re.test(text) ? text.replace(re, rep) : `${text}\nsyscall::nosuchcall:entry { @ = count(); }`;
  }
}

// ---- mutations (character and token level) ----------------------------------------------

const INSERTS = [
  '{', '}', '(', ')', '[', ']', '<', '>', '/', '*', ';', ':', ',', '"', "'", '\\', '@', '$', '#', '=', '-', '->', '/*', '*/', '//',
  '#pragma D option quiet\n', 'if', 'else', 'self->', 'this->', 'int', '0x', '99999999999999999999999', '"\\q"', 'é', '😀', '\u0000',
  '\u001b', '\uD800', '\uFEFF', '\n', '\t', '\r', ' ', 'BEGIN', 'syscall::read:entry', 'pid$target::main.handle:return', '$1', '$$2',
  'args->', 'arg9', 'retval', 'count()', 'quantize(', 'printa(', '@x[1,2,3]', 'exit()', 'kprobe:', 'usdt:', '%s', '%@d',
];

export function mutate(text: string, r: Rand): string {
  let t = text;
  for (let n = 1 + r.int(4); n > 0; n--) {
    const at = r.int(t.length + 1);
    const len = 1 + r.int(6);
    switch (r.int(7)) {
      case 0:
        t = t.slice(0, at) + t.slice(at + len);
        break;
      case 1:
        t = t.slice(0, at + len) + t.slice(at, at + len) + t.slice(at + len);
        break;
      case 2: {
        const b = r.int(t.length + 1);
        const [x, y] = at < b ? [at, b] : [b, at];
        t = t.slice(0, x) + t.slice(y, y + len) + t.slice(x + len, y) + t.slice(x, x + len) + t.slice(y + len);
        break;
      }
      case 3:
      case 4:
        t = t.slice(0, at) + r.pick(INSERTS) + t.slice(at);
        break;
      case 5:
        t = mutateTokens(t, r);
        break;
      default:
        t = t.slice(0, at);
    }
  }
  return t;
}

// Probe names, both styles, to bpftrace attach points.
//   D style:        pid$target::main.handle:entry, syscall::read:return, profile-997, tick-1s
//   bpftrace style: uprobe:[bin:]func, tracepoint:cat:name, profile:hz:99, interval:s:1, usdt:...
// Each resolves to one attach point plus what the probe's context means for the builtins
// (argN, probefunc, ...), which lower.ts reads.

import type { ProbeDesc } from '../lang/ast.js';
import { Codes, error, suggest, warning, type Diagnostic } from '../lang/diagnostics.js';
import type { Facts, GoParam, LineVar } from './facts.js';
import { probeLineSpec, resolveLine } from './lines.js';
import { quoteFunc } from './quote.js';
import { SYSCALLS_X86_64 } from '../platform/syscalls.js';

/** Where argN, args, retval and errno come from in a probe's context. */
export type ArgSource =
  | { readonly kind: 'none' }
  | { readonly kind: 'regs' }
  /** Go's register ABI (Go >= 1.17, amd64): integer arguments in AX, BX, CX, DI, SI, R8-R11. */
  | { readonly kind: 'go-regs'; readonly params: readonly GoParam[] | null }
  /**
   * At a Go function's RET instructions: results in the same registers as arguments. In the
   * DTrace style (pid$target::f:return) arg1 is the return value, as DTrace has it.
   */
  | { readonly kind: 'go-return'; readonly dtraceStyle: boolean }
  | { readonly kind: 'return'; readonly dtraceStyle: boolean }
  /** At a Go source line: the parameters and locals in scope there (lines.ts). */
  | { readonly kind: 'go-line'; readonly where: string; readonly vars: readonly LineVar[] }
  | { readonly kind: 'tracepoint'; readonly fields: readonly string[] | null }
  | { readonly kind: 'syscall-entry'; readonly fields: readonly string[] | null }
  | { readonly kind: 'syscall-return' }
  | { readonly kind: 'raw-syscall-entry' }
  | { readonly kind: 'raw-syscall-return' };

export interface ResolvedProbe {
  /** bpftrace attach point, e.g. 'tracepoint:syscalls:sys_enter_read'. */
  readonly attach: string;
  /** BEGIN/END are merged into one clause each by the lowering. */
  readonly special: 'BEGIN' | 'END' | null;
  readonly args: ArgSource;
  /** DTrace's probe tuple; null where the value varies at run time (wildcards). */
  readonly provider: string;
  readonly module: string;
  readonly func: string | null;
  readonly name: string;
  /** How to get the function name at run time when `func` is null (a bpftrace expression). */
  readonly dynamicFunc: { readonly expr: string; readonly transform: 'none' | 'syscall' } | null;
  /** A bpftrace condition the probe's clause must also satisfy (pid filter, syscall set). */
  readonly filter: string | null;
  /** The uprobe's binary (host path), for facts the runner may want. */
  readonly binary: string | null;
}

export interface ProbeResult {
  readonly probe: ResolvedProbe | null;
  readonly diagnostics: Diagnostic[];
}

const SYSCALL_NUMBERS = new Map(SYSCALLS_X86_64);

/** x86_64 system call number of a name, e.g. read -> 0. */
export function syscallNumber(name: string): number | undefined {
  return SYSCALL_NUMBERS.get(name);
}

/** A syscall::*: probe, where probefunc is the system call's number (args->id), not its name. */
export function syscallNumberFunc(p: ResolvedProbe): boolean {
  return p.dynamicFunc?.transform === 'syscall';
}
const D_TICK_UNITS: Record<string, [string, number]> = {
  ns: ['us', 0.001], nsec: ['us', 0.001], us: ['us', 1], usec: ['us', 1], ms: ['ms', 1], msec: ['ms', 1],
  s: ['s', 1], sec: ['s', 1], m: ['s', 60], min: ['s', 60], h: ['s', 3600], hour: ['s', 3600], hz: ['hz', 1],
  d: ['s', 86400], day: ['s', 86400],
};

const KERNEL_PROVIDERS = new Set(['kprobe', 'kretprobe', 'fbt', 'k', 'kr']);
const KFUNC_PROVIDERS = new Set(['kfunc', 'kretfunc', 'fentry', 'fexit', 'f', 'fr']);
const PASSTHROUGH = new Set(['software', 'hardware', 's', 'h', 'watchpoint', 'w', 'iter', 'rawtracepoint', 'rt']);

function isWild(s: string): boolean {
  return /[*?[]/.test(s);
}

/** A part with glob characters, unquoted: quoted parts are literal ("main.(*S).handle"). */
function isWildPart(desc: ProbeDesc, i: number): boolean {
  const p = desc.parts[i];
  return p !== undefined && !p.quoted && isWild(p.value);
}

const SCRIPT_ARG = /\$\$?([1-9]\d*)/g;

/**
 * A probe description with its script arguments ($1, $$1) expanded, as D expands macro
 * arguments in probe names: `uprobe:$1` with argument main.handle is uprobe:main.handle. An
 * argument's text is literal (its * is no wildcard), so a Go method such as
 * main.(*Server).handle can be passed. Quoted parts are left as written. A missing argument
 * is an error, or empty with `#pragma D option defaultargs`.
 */
export function expandProbeArgs(desc: ProbeDesc, scriptArgs: readonly string[], defaultArgs = false): { desc: ProbeDesc; diagnostics: Diagnostic[] } {
  const diagnostics: Diagnostic[] = [];
  if (!desc.parts.some((p) => !p.quoted && p.value.match(SCRIPT_ARG))) return { desc, diagnostics };
  const parts = desc.parts.map((p) => {
    if (p.quoted || !p.value.match(SCRIPT_ARG)) return p;
    const value = p.value.replace(SCRIPT_ARG, (m, n: string, at: number) => {
      const v = scriptArgs[Number(n) - 1];
      if (v === undefined && !defaultArgs) {
        const start = p.span.start + at;
        diagnostics.push(error(Codes.ScriptArgMissing, `${m} is used in a probe name but ${scriptArgs.length === 0 ? 'no arguments were' : `only ${scriptArgs.length} argument${scriptArgs.length === 1 ? ' was' : 's were'}`} given`, { start, end: start + m.length }, ['pass script arguments after the program: trace script.d ARG1 ARG2']));
      }
      return v ?? '';
    });
    // Literal unless the text around the arguments has glob characters of its own.
    return { ...p, value, quoted: !isWild(p.value.replace(SCRIPT_ARG, '')) };
  });
  return { desc: { ...desc, parts, text: parts.map((p) => p.value).join(':') }, diagnostics };
}

function globToRegExp(glob: string): RegExp {
  const re = glob.replace(/[.+^${}()|\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${re}$`);
}


export function resolveProbe(written: ProbeDesc, facts: Facts, opts: { readonly defaultArgs?: boolean } = {}): ProbeResult {
  const expanded = expandProbeArgs(written, facts.scriptArgs, opts.defaultArgs);
  if (expanded.diagnostics.length) return { probe: null, diagnostics: expanded.diagnostics };
  const desc = expanded.desc;
  const parts = desc.parts.map((p) => p.value);
  const head = parts[0] ?? '';
  const diags: Diagnostic[] = [];
  const fail = (code: Parameters<typeof error>[0], msg: string, hints?: string[]): ProbeResult => ({
    probe: null,
    diagnostics: [...diags, error(code, msg, desc.span, hints)],
  });
  const base = { special: null, filter: null, binary: null, dynamicFunc: null } as const;

  if (parts.length === 1) {
    if (head === 'BEGIN' || head === 'END') {
      return { probe: { ...base, attach: head, special: head, args: { kind: 'none' }, provider: 'dtrace', module: '', func: '', name: head }, diagnostics: diags };
    }
    const tick = /^(tick|profile)-(\d+)([a-z]*)$/.exec(head);
    if (tick) {
      const [, kind, n, unitRaw] = tick as unknown as [string, 'tick' | 'profile', string, string];
      const unit = unitRaw === '' ? 'hz' : unitRaw;
      const conv = D_TICK_UNITS[unit];
      if (!conv) return fail(Codes.BadProbeName, `unknown time unit '${unitRaw}' in ${head}`, ['use ns, us, ms, s, m, h or hz, e.g. tick-1s or profile-997']);
      const [bUnit, scale] = conv;
      let value = Number(n) * scale;
      let outUnit = bUnit;
      if (!Number.isInteger(value)) {
        value = Number(n);
        outUnit = 'us';
        return fail(Codes.BadProbeName, `${head} is finer than bpftrace's 1us resolution`);
      }
      if (value <= 0) return fail(Codes.BadProbeName, `${head}: the rate must be positive`);
      const provider = kind === 'tick' ? 'interval' : 'profile';
      return { probe: { ...base, attach: `${provider}:${outUnit}:${value}`, args: { kind: 'none' }, provider: kind === 'tick' ? 'profile' : 'profile', module: '', func: '', name: head }, diagnostics: diags };
    }
    return fail(Codes.BadProbeName, `'${head}' is not a probe name`, [
      'probes look like syscall::read:entry, pid$target::main.handle:entry, uprobe:main.handle, tracepoint:sched:sched_switch, tick-1s or BEGIN',
    ]);
  }

  // ---- D style: provider:module:function:name ----
  if (head === 'syscall') return resolveSyscall(desc, parts, facts);
  const pidMatch = /^pid(\$target|\d+)$/.exec(head);
  if (pidMatch) return resolvePid(desc, parts, pidMatch[1]!, facts);
  if (head === 'fbt') {
    return fail(Codes.ProbeTypeUnavailable, 'fbt probes need kprobes, which this kernel does not have (built without CONFIG_KPROBES)', [
      'trace the matching tracepoint instead (trace list tracepoint:*), or a syscall:: probe',
    ]);
  }
  if (head === 'proc' || head === 'sched') return resolveStable(desc, parts);

  // ---- bpftrace style ----
  switch (head) {
    case 'uprobe':
    case 'u':
    case 'uretprobe':
    case 'ur':
      return resolveUprobe(desc, parts, head.startsWith('ur') ? 'return' : 'entry', false, facts);
    case 'usdt':
    case 'U':
      return resolveUsdt(desc, parts, facts);
    case 'tracepoint':
    case 't': {
      if (parts.length !== 3 || !parts[1] || !parts[2]) {
        return fail(Codes.BadProbeName, `a tracepoint is named tracepoint:category:name, e.g. tracepoint:sched:sched_switch`);
      }
      const [, cat, name] = parts as [string, string, string];
      const key = `${cat}:${name}`;
      const wild = isWildPart(desc, 1) || isWildPart(desc, 2);
      const fields = wild ? null : (facts.tracepoints[key] ?? null);
      if (!wild && facts.tracepointsComplete && !facts.tracepoints[key]) {
        const near = suggest(key, Object.keys(facts.tracepoints));
        return fail(Codes.UnknownTracepoint, `tracepoint ${key} does not exist on this kernel`, near ? [`did you mean tracepoint:${near}?`] : ['list them with: trace list "tracepoint:*"']);
      }
      return {
        probe: {
          ...base, attach: `tracepoint:${cat}:${name}`, args: { kind: 'tracepoint', fields }, provider: 'tracepoint', module: cat,
          func: wild ? null : name, name: '', dynamicFunc: wild ? { expr: 'probe', transform: 'none' } : null,
        },
        diagnostics: diags,
      };
    }
    case 'profile':
    case 'p':
    case 'interval':
    case 'i': {
      const provider = head.startsWith('p') ? 'profile' : 'interval';
      if (parts.length !== 3 || !/^(hz|s|ms|us|ns)$/.test(parts[1]!) || !/^\d+$/.test(parts[2]!)) {
        return fail(Codes.BadProbeName, `a ${provider} probe is named ${provider}:UNIT:N with UNIT one of hz, s, ms, us, e.g. ${provider}:hz:99`);
      }
      return { probe: { ...base, attach: `${provider}:${parts[1]}:${parts[2]}`, args: { kind: 'none' }, provider: 'profile', module: '', func: '', name: `${provider}-${parts[2]}${parts[1]}` }, diagnostics: diags };
    }
    default:
      if (KERNEL_PROVIDERS.has(head) && !facts.bpftrace.kprobes) {
        return fail(Codes.ProbeTypeUnavailable, `${head} probes are not available: this kernel was built without kprobes (CONFIG_KPROBES)`, [
          'use a tracepoint (trace list "tracepoint:*") or a syscall:: probe instead',
        ]);
      }
      if (KFUNC_PROVIDERS.has(head) && !facts.bpftrace.kfunc) {
        return fail(Codes.ProbeTypeUnavailable, `${head} probes are not available: this kernel or bpftrace has no fentry/kfunc support`, [
          'use a tracepoint (trace list "tracepoint:*") or a syscall:: probe instead',
        ]);
      }
      if (KERNEL_PROVIDERS.has(head) || KFUNC_PROVIDERS.has(head) || PASSTHROUGH.has(head)) {
        const ret = /^(kretprobe|kr|kretfunc|fexit|fr)$/.test(head);
        return {
          probe: {
            ...base, attach: parts.map((p, i) => (i === parts.length - 1 ? quoteFunc(p) : p)).join(':'),
            args: ret ? { kind: 'return', dtraceStyle: false } : { kind: PASSTHROUGH.has(head) ? 'none' : 'regs' },
            provider: head, module: '', func: parts[parts.length - 1] ?? '', name: ret ? 'return' : 'entry',
          },
          diagnostics: diags,
        };
      }
      {
        const known = ['syscall', 'pid$target', 'uprobe', 'uretprobe', 'usdt', 'tracepoint', 'profile', 'interval', 'tick-1s', 'BEGIN', 'END', 'software', 'hardware', 'proc', 'sched'];
        const near = suggest(head, known);
        return fail(Codes.UnknownProvider, `unknown probe provider '${head}'`, near ? [`did you mean ${near}?`] : [`providers: ${known.join(', ')}`]);
      }
  }
}

function resolveSyscall(desc: ProbeDesc, parts: string[], facts: Facts): ProbeResult {
  const [, mod = '', fn = '', name = ''] = parts;
  const bad = (msg: string, hints?: string[]): ProbeResult => ({ probe: null, diagnostics: [error(Codes.BadProbeName, msg, desc.span, hints)] });
  if (parts.length > 4) return bad('a syscall probe is named syscall::NAME:entry or syscall::NAME:return');
  if (mod !== '' && mod !== '*') return bad(`syscall probes have no module: write syscall::${fn}:${name || 'entry'}`);
  const phases = name === '' || name === '*' ? null : name;
  if (phases !== null && phases !== 'entry' && phases !== 'return') {
    return bad(`a syscall probe's name is entry or return, not '${name}'`);
  }
  if (phases === null) return bad(`say which end of the system call: syscall::${fn || '*'}:entry or syscall::${fn || '*'}:return`);
  const entry = phases === 'entry';
  const base = { special: null, binary: null, provider: 'syscall', module: '', name: phases } as const;

  if (fn !== '' && !isWildPart(desc, 2)) {
    const tp = `syscalls:sys_${entry ? 'enter' : 'exit'}_${fn}`;
    const known = facts.tracepoints[tp];
    if (!SYSCALL_NUMBERS.has(fn) && !known) {
      const near = suggest(fn, SYSCALL_NUMBERS.keys());
      return { probe: null, diagnostics: [error(Codes.UnknownSyscall, `unknown system call '${fn}'`, desc.parts[2]?.span ?? desc.span, near ? [`did you mean ${near}?`] : undefined)] };
    }
    if (facts.tracepointsComplete && !known) {
      return { probe: null, diagnostics: [error(Codes.UnknownTracepoint, `this kernel has no tracepoint for the ${fn} system call (${tp})`, desc.span)] };
    }
    return {
      probe: {
        ...base, attach: `tracepoint:${tp}`, func: fn, filter: null, dynamicFunc: null,
        args: entry ? { kind: 'syscall-entry', fields: known ?? null } : { kind: 'syscall-return' },
      },
      diagnostics: [],
    };
  }
  // Wildcards: one raw_syscalls probe, filtered to the matching numbers, instead of hundreds of tracepoints.
  let filter: string | null = null;
  if (fn !== '' && fn !== '*') {
    const re = globToRegExp(fn);
    const nums = SYSCALLS_X86_64.filter(([n]) => re.test(n)).map(([, nr]) => nr);
    if (nums.length === 0) {
      return { probe: null, diagnostics: [error(Codes.UnknownSyscall, `no system call matches '${fn}'`, desc.parts[2]?.span ?? desc.span)] };
    }
    filter = nums.map((nr) => `args->id == ${nr}`).join(' || ');
  }
  return {
    probe: {
      ...base, attach: `tracepoint:raw_syscalls:sys_${entry ? 'enter' : 'exit'}`, func: null, filter,
      dynamicFunc: { expr: 'args->id', transform: 'syscall' },
      args: entry ? { kind: 'raw-syscall-entry' } : { kind: 'raw-syscall-return' },
    },
    diagnostics: [],
  };
}

function resolvePid(desc: ProbeDesc, parts: string[], which: string, facts: Facts): ProbeResult {
  const [, mod = '', fn = '', name = ''] = parts;
  const fail = (code: Parameters<typeof error>[0], msg: string, hints?: string[]): ProbeResult => ({ probe: null, diagnostics: [error(code, msg, desc.span, hints)] });
  let pid: number;
  let exe: string;
  if (which === '$target') {
    if (!facts.target) {
      return fail(Codes.NeedsTarget, 'pid$target needs a target: trace a container with -c NAME or a process with -p PID');
    }
    pid = facts.target.pid;
    exe = facts.target.exe;
  } else {
    pid = Number(which);
    exe = facts.target && facts.target.pid === pid ? facts.target.exe : `/proc/${pid}/exe`;
  }
  if (fn === '') return fail(Codes.BadProbeName, `name the function: pid${which}::FUNCTION:entry`);
  const lineSpec = probeLineSpec(desc);
  let binary = exe;
  if (mod !== '' && mod !== 'a.out') {
    const lib = facts.target?.modules[mod] ?? (mod.startsWith('/') ? (facts.target?.paths[mod] ?? mod) : undefined);
    if (!lib) {
      return { probe: null, diagnostics: [error(Codes.UnknownModule, `module '${mod}' is not loaded in process ${pid}`, desc.parts[1]?.span ?? desc.span, ['leave the module empty for the main executable, or name a loaded library such as libc.so.6'])] };
    }
    binary = lib;
  }
  const filter = `pid == ${pid}`;
  if (lineSpec) return resolveLine(desc, lineSpec.line, binary, facts, { special: null, provider: 'pid', module: mod === '' ? 'a.out' : mod, filter, dynamicFunc: null });
  const common = { special: null, provider: 'pid', module: mod === '' ? 'a.out' : mod, binary, filter } as const;
  const wild = isWildPart(desc, 2);
  const funcInfo = { func: wild ? null : fn, dynamicFunc: wild ? { expr: 'func', transform: 'none' as const } : null };
  if (name === 'entry' || name === '') {
    return { probe: { ...common, ...funcInfo, attach: `uprobe:${binary}:${entryPoint(binary, fn, facts)}`, args: entryArgs(binary, fn, facts), name: 'entry' }, diagnostics: [] };
  }
  if (name === 'return') {
    const go = goReturn(binary, fn, wild, desc, facts, { ...common, ...funcInfo, name: 'return' }, true);
    if (go) return go;
    return { probe: { ...common, ...funcInfo, attach: `uretprobe:${binary}:${quoteFunc(fn)}`, args: { kind: 'return', dtraceStyle: true }, name: 'return' }, diagnostics: [] };
  }
  if (/^(0x)?[0-9a-fA-F]+$/.test(name)) {
    if (!facts.bpftrace.uprobeOffsets) {
      return fail(Codes.ProbeTypeUnavailable, `this bpftrace (${v(facts)}) cannot attach at an offset inside a function`, ['install bpftrace 0.20 or newer (scripts/setup.sh puts one in /opt/ctrace)']);
    }
    const off = name.startsWith('0x') ? name : `0x${name}`;
    return { probe: { ...common, ...funcInfo, attach: `uprobe:${binary}:${quoteFunc(fn)}+${Number.parseInt(off, 16)}`, args: entryArgs(binary, fn, facts), name }, diagnostics: [] };
  }
  return fail(Codes.BadProbeName, `a pid probe's name is entry, return or an offset, not '${name}'`);
}

/**
 * Where an entry probe on `fn` attaches: on Go functions past the stack-check prologue
 * (whose slow path re-enters at the symbol after growing the stack), where that is known
 * and bpftrace can attach at an offset; else at the symbol.
 */
function entryPoint(binary: string, fn: string, facts: Facts): string {
  const entry = facts.binaries?.[binary]?.functions?.[fn]?.entry;
  return entry !== undefined && facts.bpftrace.uprobeOffsets ? `${quoteFunc(fn)}+${entry}` : quoteFunc(fn);
}

/** Entry args of a uprobe on `binary`: Go's registers when it is a register-ABI Go binary. */
function entryArgs(binary: string, fn: string, facts: Facts): ArgSource {
  const b = facts.binaries?.[binary];
  return b?.go?.regabi ? { kind: 'go-regs', params: b.functions?.[fn]?.params ?? null } : { kind: 'regs' };
}

/**
 * A uretprobe on a Go function crashes the program once its stack moves ("unexpected return
 * pc"): a Go return probe is instead a uprobe on each of the function's RET instructions,
 * found by decoding its machine code (facts from the runner). Null for non-Go binaries.
 */
function goReturn(binary: string, fn: string, wild: boolean, desc: ProbeDesc, facts: Facts, base: Omit<ResolvedProbe, 'attach' | 'args'>, dtraceStyle: boolean): ProbeResult | null {
  const b = facts.binaries?.[binary];
  if (!b?.go) return null;
  const fail = (code: Parameters<typeof error>[0], msg: string, hints?: string[]): ProbeResult => ({ probe: null, diagnostics: [error(code, msg, desc.span, hints)] });
  if (!facts.bpftrace.uprobeOffsets) {
    return fail(Codes.GoReturnProbeUnsupported, `a return probe on the Go function ${fn} needs a bpftrace that can attach at its return instructions, and ${v(facts)} cannot (a plain uretprobe would crash the Go program)`, [
      'install bpftrace 0.20 or newer: scripts/setup.sh puts one in /opt/ctrace/bin/bpftrace (or pass --bpftrace PATH)',
    ]);
  }
  if (wild) return fail(Codes.GoReturnProbeUnsupported, `return probes on Go functions need an exact function name, not '${fn}'`);
  const f = b.functions?.[fn];
  if (!f) return fail(Codes.UnknownModule, `no function ${fn} in ${binary.replace(/^\/proc\/\d+\/root/, '')}`, ['list them with: trace list -c NAME \'main.*\'']);
  if (f.returns.length === 0) {
    return fail(Codes.GoReturnProbeUnsupported, `${fn} has no return instruction${f.tailCalls ? ' (it leaves only by tail calls)' : ' (it never returns)'}, so its return cannot be probed`);
  }
  const diagnostics: Diagnostic[] = [];
  if (f.tailCalls > 0) {
    diagnostics.push(warning(Codes.GoReturnProbeUnsupported, `${fn} also leaves by ${f.tailCalls} tail call${f.tailCalls === 1 ? '' : 's'}: returns through ${f.tailCalls === 1 ? 'it' : 'them'} are not seen`, desc.span));
  }
  return {
    probe: { ...base, attach: f.returns.map((off) => `uprobe:${binary}:${quoteFunc(fn)}+${off}`).join(',\n'), args: { kind: 'go-return', dtraceStyle } },
    diagnostics,
  };
}

function v(facts: Facts): string {
  const { major, minor, patch } = facts.bpftrace.version;
  return `bpftrace ${major}.${minor}.${patch}`;
}

function hostPath(path: string, facts: Facts): string | undefined {
  if (!facts.target) return path;
  return facts.target.paths[path];
}

function resolveUprobe(desc: ProbeDesc, parts: string[], which: 'entry' | 'return', _dtrace: boolean, facts: Facts): ProbeResult {
  const lineSpec = which === 'entry' ? probeLineSpec(desc) : null;
  if (lineSpec) {
    let bin: string;
    if (lineSpec.binaryPart !== null) {
      const path = parts[lineSpec.binaryPart]!;
      const host = hostPath(path, facts);
      if (host === undefined) return { probe: null, diagnostics: [error(Codes.UnknownModule, `${path} does not exist in the target`, desc.parts[lineSpec.binaryPart]?.span ?? desc.span)] };
      bin = host;
    } else if (facts.target) bin = facts.target.exe;
    else return { probe: null, diagnostics: [error(Codes.NeedsTarget, `${desc.text} names no binary: write uprobe:/path/to/binary:${lineSpec.line.spec}, or trace a container with -c NAME or a process with -p PID`, desc.span)] };
    return resolveLine(desc, lineSpec.line, bin, facts, { special: null, provider: 'uprobe', module: bin.split('/').pop() ?? bin, filter: null, dynamicFunc: null });
  }
  let bin: string;
  let fn: string;
  let binSpan = desc.span;
  if (parts.length === 2) {
    if (!facts.target) {
      return { probe: null, diagnostics: [error(Codes.NeedsTarget, `${parts[0]}:${parts[1]} names no binary: write ${parts[0]}:/path/to/binary:${parts[1]}, or trace a container with -c NAME or a process with -p PID`, desc.span)] };
    }
    bin = facts.target.exe;
    fn = parts[1]!;
  } else if (parts.length === 3) {
    const path = parts[1]!;
    binSpan = desc.parts[1]?.span ?? desc.span;
    const host = hostPath(path, facts);
    if (host === undefined) {
      return { probe: null, diagnostics: [error(Codes.UnknownModule, `${path} does not exist in the target`, binSpan)] };
    }
    bin = host;
    fn = parts[2]!;
  } else {
    return { probe: null, diagnostics: [error(Codes.BadProbeName, `a ${parts[0]} is named ${parts[0]}:[BINARY:]FUNCTION`, desc.span)] };
  }
  if (fn === '') return { probe: null, diagnostics: [error(Codes.BadProbeName, 'name the function to probe', desc.span)] };
  const offset = /^(.*)\+(\d+|0x[0-9a-fA-F]+)$/.exec(fn);
  if (offset && !facts.bpftrace.uprobeOffsets) {
    return { probe: null, diagnostics: [error(Codes.ProbeTypeUnavailable, `this bpftrace (${v(facts)}) cannot attach at an offset inside a function`, desc.span, ['install bpftrace 0.20 or newer (scripts/setup.sh puts one in /opt/ctrace)'])] };
  }
  const wild = isWildPart(desc, parts.length - 1);
  const kind = which === 'entry' ? 'uprobe' : 'uretprobe';
  if (which === 'return') {
    const go = goReturn(bin, fn, wild, desc, facts, {
      special: null, provider: kind, module: bin.split('/').pop() ?? bin, func: fn, name: 'return', dynamicFunc: null, filter: null, binary: bin,
    }, false);
    if (go) return go;
  }
  return {
    probe: {
      attach: `${kind}:${bin}:${offset ? `${quoteFunc(offset[1]!)}+${Number(offset[2])}` : which === 'entry' ? entryPoint(bin, fn, facts) : quoteFunc(fn)}`,
      special: null,
      args: which === 'entry' ? entryArgs(bin, fn, facts) : { kind: 'return', dtraceStyle: false },
      provider: kind, module: bin.split('/').pop() ?? bin, func: wild ? null : fn, name: which,
      dynamicFunc: wild ? { expr: 'func', transform: 'none' } : null,
      filter: null,
      binary: bin,
    },
    diagnostics: [],
  };
}

function resolveUsdt(desc: ProbeDesc, parts: string[], facts: Facts): ProbeResult {
  // usdt:BIN:PROVIDER:NAME, usdt:BIN:NAME, or (with a target) usdt:PROVIDER:NAME
  let bin: string | undefined;
  let rest: string[];
  if (parts.length === 4) {
    bin = hostPath(parts[1]!, facts);
    rest = parts.slice(2);
  } else if (parts.length === 3 && parts[1]!.startsWith('/')) {
    bin = hostPath(parts[1]!, facts);
    rest = parts.slice(2);
  } else if (parts.length === 3 && facts.target) {
    bin = facts.target.exe;
    rest = parts.slice(1);
  } else {
    return { probe: null, diagnostics: [error(Codes.BadProbeName, 'a usdt probe is named usdt:BINARY:PROVIDER:NAME (the binary may be left out with -c or -p)', desc.span)] };
  }
  if (!bin) return { probe: null, diagnostics: [error(Codes.UnknownModule, `${parts[1]} does not exist in the target`, desc.parts[1]?.span ?? desc.span)] };
  return {
    probe: {
      attach: `usdt:${bin}:${rest.join(':')}`, special: null, args: { kind: 'regs' }, provider: rest.length === 2 ? rest[0]! : 'usdt',
      module: bin.split('/').pop() ?? bin, func: rest[rest.length - 1] ?? '', name: rest[rest.length - 1] ?? '', dynamicFunc: null, filter: null, binary: bin,
    },
    diagnostics: [],
  };
}

/** DTrace's stable providers that have a tracepoint equivalent. */
const STABLE: Record<string, string> = {
  'proc:exec-success': 'sched:sched_process_exec',
  'proc:exit': 'sched:sched_process_exit',
  'proc:create': 'sched:sched_process_fork',
  'sched:on-cpu': 'sched:sched_switch',
  'sched:off-cpu': 'sched:sched_switch',
  'sched:enqueue': 'sched:sched_wakeup',
  'sched:wakeup': 'sched:sched_wakeup',
};

function resolveStable(desc: ProbeDesc, parts: string[]): ProbeResult {
  const name = parts[parts.length - 1] ?? '';
  const key = `${parts[0]}:${name}`;
  const tp = STABLE[key];
  if (!tp) {
    return { probe: null, diagnostics: [error(Codes.BadProbeName, `${parts[0]}:::${name} has no equivalent here`, desc.span, [`supported: ${Object.keys(STABLE).map((k) => k.replace(':', ':::')).join(', ')}`])] };
  }
  return {
    probe: {
      attach: `tracepoint:${tp}`, special: null, args: { kind: 'tracepoint', fields: null }, provider: parts[0]!, module: '', func: '', name,
      dynamicFunc: null, filter: null, binary: null,
    },
    diagnostics: [],
  };
}

/**
 * Tracepoints whose argument names the compiler needs (for argN), so the runner can read only
 * those. Pass the script arguments when probe names may hold $1.
 */
export function tracepointsNeeded(descs: Iterable<ProbeDesc>, scriptArgs: readonly string[] = []): string[] {
  const out = new Set<string>();
  for (const written of descs) {
    const d = expandProbeArgs(written, scriptArgs, true).desc;
    const parts = d.parts.map((p) => p.value);
    if (parts[0] === 'syscall' && parts[2] && !isWildPart(d, 2)) {
      out.add(`syscalls:sys_${parts[3] === 'return' ? 'exit' : 'enter'}_${parts[2]}`);
    } else if ((parts[0] === 'tracepoint' || parts[0] === 't') && parts.length === 3 && !isWildPart(d, 1) && !isWildPart(d, 2)) {
      out.add(`${parts[1]}:${parts[2]}`);
    }
  }
  return [...out];
}

/** Paths inside the target the program names (uprobe/usdt binaries, pid modules given as paths). */
export function pathsNeeded(descs: Iterable<ProbeDesc>, scriptArgs: readonly string[] = []): string[] {
  const out = new Set<string>();
  for (const d of descs) {
    const parts = expandProbeArgs(d, scriptArgs, true).desc.parts.map((p) => p.value);
    const head = parts[0] ?? '';
    if (/^(uprobe|u|uretprobe|ur|usdt|U)$/.test(head) && parts.length >= 3 && parts[1]!.startsWith('/')) out.add(parts[1]!);
    if (/^pid(\$target|\d+)$/.test(head) && parts[1]?.startsWith('/')) out.add(parts[1]);
  }
  return [...out];
}

/** Host path of the binary a source-line probe names (its binary part, else the target's). */
function lineBinary(desc: ProbeDesc, binaryPart: number | null, facts: Facts): string | undefined {
  const head = desc.parts[0]?.value ?? '';
  const pid = /^pid(\$target|\d+)$/.exec(head);
  if (binaryPart !== null) {
    const name = desc.parts[binaryPart]!.value;
    return pid && !name.startsWith('/') ? facts.target?.modules[name] : hostPath(name, facts);
  }
  if (pid && pid[1] !== '$target') return facts.target && facts.target.pid === Number(pid[1]) ? facts.target.exe : `/proc/${pid[1]}/exe`;
  return facts.target?.exe;
}

/** Source lines the probes name ('main.go:75', as written), by the host path of their binary. */
export function probeLines(descs: Iterable<ProbeDesc>, facts: Facts): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const d of descs) {
    const spec = probeLineSpec(d);
    if (!spec) continue;
    const bin = lineBinary(d, spec.binaryPart, facts);
    if (!bin) continue;
    out.set(bin, (out.get(bin) ?? new Set()).add(spec.line.spec));
  }
  return out;
}

/**
 * Host paths of the binaries the probes attach to, with the exact function names named, and
 * which of them have return probes (those need their machine code decoded).
 */
export function probeFunctions(descs: Iterable<ProbeDesc>, facts: Facts): Map<string, { all: Set<string>; returns: Set<string> }> {
  const out = new Map<string, { all: Set<string>; returns: Set<string> }>();
  for (const d of descs) {
    const r = resolveProbe(d, { ...facts, binaries: {} });
    if (!r.probe?.binary) continue;
    const entry = out.get(r.probe.binary) ?? { all: new Set<string>(), returns: new Set<string>() };
    // func is null for a wildcard uprobe; a usdt probe's is its (maybe globbed) name.
    if (r.probe.func && !(r.probe.attach.startsWith('usdt:') && isWild(r.probe.func))) {
      const fn = r.probe.func.replace(/\+\d+$/, '');
      entry.all.add(fn);
      if (r.probe.name === 'return') entry.returns.add(fn);
    }
    out.set(r.probe.binary, entry);
  }
  return out;
}

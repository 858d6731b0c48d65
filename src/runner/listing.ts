// `trace list`: the probes a user can name, as they would type them: the main binary's
// functions (uprobe:main.handle), the source lines of one of its files (uprobe:main.go:75), USDT probes from .note.stapsdt (usdt:provider:name) of the
// binary and, for a running process, of the libraries it maps, and the kernel's tracepoints
// (tracepoint:sched:sched_switch), filtered by a glob.

import { readFileSync, statSync } from 'node:fs';
import { ElfFile } from './elf.js';
import { listSourceLines } from './go-lines.js';
import { TRACEFS } from './gather-facts.js';
import { resolveInRoot } from './targets/paths.js';

export type ListedKind = 'uprobe' | 'usdt' | 'tracepoint' | 'line';

export interface ListedProbe {
  readonly kind: ListedKind;
  /** As typed in a program: uprobe:main.handle, usdt:python:gc__start, usdt:/lib/x.so:p:n, tracepoint:sched:sched_switch. */
  readonly probe: string;
  /** What the pattern matched: the function, provider:name, or category:name. */
  readonly name: string;
  /** The binary as the program names it (container view); absent for the implicit main binary and tracepoints. */
  readonly binary?: string;
}

export interface ProbeListing {
  /** Source lines (in order), functions (sorted), then USDT probes, then tracepoints. */
  readonly probes: ListedProbe[];
  /** Why a kind could not be listed (no target for functions, tracefs missing...): one sentence each. */
  readonly notes: string[];
}

export interface ListProbesOptions {
  /** Host path of the main executable (a target's exeHost): its functions and USDT probes are listed. */
  readonly exeHost?: string;
  /** Host PID of a running target: the USDT probes of the libraries it maps are listed too. */
  readonly hostPid?: number;
  /**
   * A glob (`*`, `?`, `[...]`): `main.*`, `*handle*`. A kind prefix lists only that kind:
   * `uprobe:GLOB` (or `u:`), `usdt:GLOB` (matched against provider:name), `tracepoint:GLOB`
   * (or `t:`; matched against category:name). `uprobe:/path/bin:GLOB` and
   * `usdt:/path/bin:GLOB` list another binary (a container path when there is a target).
   */
  readonly pattern?: string;
  /** tracefs mount point (tests). */
  readonly tracefs?: string;
}

interface ParsedPattern {
  readonly kinds: ReadonlySet<ListedKind>;
  readonly glob: RegExp;
  /** A binary named in the pattern (uprobe:/bin:fn, usdt:/bin:p:n). */
  readonly binary?: string;
  /** FILE:LINES (main.go:*, main.go:7?): the source lines of FILE that have code; `glob` matches the line number. */
  readonly sourceFile?: string;
}

const ALL_KINDS: ReadonlySet<ListedKind> = new Set(['uprobe', 'usdt', 'tracepoint']);
const KIND_PREFIXES: Record<string, ListedKind> = { uprobe: 'uprobe', u: 'uprobe', uretprobe: 'uprobe', ur: 'uprobe', usdt: 'usdt', U: 'usdt', tracepoint: 'tracepoint', t: 'tracepoint' };

/** A shell-style glob as an anchored RegExp: * any run, ? one character, [...] a class. */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const ch = glob[i]!;
    if (ch === '*') re += '.*';
    else if (ch === '?') re += '.';
    else if (ch === '[') {
      const close = glob.indexOf(']', i + 2);
      if (close < 0) {
        re += '\\[';
        continue;
      }
      let body = glob.slice(i + 1, close);
      if (body.startsWith('!')) body = '^' + body.slice(1);
      re += `[${body.replace(/\\/g, '\\\\')}]`;
      i = close;
    } else re += ch.replace(/[.+^${}()|\\\]]/g, '\\$&');
  }
  return new RegExp(`^${re}$`, 's');
}

export function parsePattern(pattern: string | undefined): ParsedPattern {
  const p = (pattern ?? '').trim();
  if (p === '') return { kinds: ALL_KINDS, glob: /^/ };
  const line = /^(?:(?:uprobe|u):(\/[^:]+):|(?:uprobe|u):)?("?)([^/:*?["][^:*?["]*\.[A-Za-z0-9]+)\2:([\d*?[\]]+)$/.exec(p);
  if (line) {
    const lines = { kinds: new Set<ListedKind>(['line']), glob: globToRegExp(line[4]!), sourceFile: line[3]! };
    return line[1] !== undefined ? { ...lines, binary: line[1] } : lines;
  }
  const colon = p.indexOf(':');
  const kind = colon > 0 ? KIND_PREFIXES[p.slice(0, colon)] : undefined;
  if (!kind) return { kinds: ALL_KINDS, glob: globToRegExp(p) };
  let rest = p.slice(colon + 1);
  let binary: string | undefined;
  if (kind !== 'tracepoint' && rest.startsWith('/')) {
    const c = rest.indexOf(':');
    binary = c < 0 ? rest : rest.slice(0, c);
    rest = c < 0 ? '' : rest.slice(c + 1);
  }
  const glob = rest === '' ? /^/ : globToRegExp(rest);
  return binary !== undefined ? { kinds: new Set([kind]), glob, binary } : { kinds: new Set([kind]), glob };
}

/**
 * Compiler-made functions nobody probes: type equality and hash helpers, the build id.
 * Closures (main.main.func1) and assembly (.abi0) are real code and stay.
 */
export function isNoiseFunction(name: string): boolean {
  return name === 'go.buildid' || name === 'go:buildid' || name.startsWith('type..') || name.startsWith('type:.') || name.startsWith('go:');
}

export async function listProbes(opts: ListProbesOptions): Promise<ProbeListing> {
  const pat = parsePattern(opts.pattern);
  const notes: string[] = [];
  const fns: ListedProbe[] = [];
  const lines: ListedProbe[] = [];
  const usdt: ListedProbe[] = [];
  const tps: ListedProbe[] = [];
  const root = opts.hostPid !== undefined ? `/proc/${opts.hostPid}/root` : undefined;

  // The binary whose functions and USDT probes are listed: named in the pattern, else the target's.
  let exeHost = opts.exeHost;
  let binaryLabel: string | undefined;
  if (pat.binary !== undefined) {
    binaryLabel = pat.binary;
    if (root) {
      const r = resolveInRoot(root, pat.binary);
      if (!r.ok) return { probes: [], notes: [r.message] };
      exeHost = r.hostPath;
    } else exeHost = pat.binary;
  }

  if (exeHost && (pat.kinds.has('uprobe') || pat.kinds.has('usdt') || pat.kinds.has('line'))) {
    const f = ElfFile.open(exeHost);
    if ('error' in f) notes.push(f.error);
    else {
      try {
        const prefix = binaryLabel !== undefined ? `${binaryLabel}:` : '';
        if (pat.kinds.has('uprobe')) {
          const isGo = f.goInfo() !== null;
          const seen = new Set<string>();
          for (const s of f.functions()) {
            if (seen.has(s.name) || s.name === '' || (isGo && isNoiseFunction(s.name)) || !pat.glob.test(s.name)) continue;
            seen.add(s.name);
            fns.push({ kind: 'uprobe', probe: `uprobe:${prefix}${s.name}`, name: s.name, ...(binaryLabel !== undefined ? { binary: binaryLabel } : {}) });
          }
          if (f.functions().length === 0) notes.push(`${binaryLabel ?? 'the target executable'} has no symbol table (stripped): its functions cannot be listed or probed by name`);
        }
        if (pat.kinds.has('usdt')) usdt.push(...usdtOf(f, pat.glob, binaryLabel));
        if (pat.sourceFile !== undefined) {
          const got = listSourceLines(f, pat.sourceFile);
          // A '/' in a probe description starts a predicate: a path suffix is written quoted.
          const file = pat.sourceFile.includes('/') ? `"${pat.sourceFile}"` : pat.sourceFile;
          if ('error' in got) notes.push(got.error);
          else for (const n of got.lines) if (pat.glob.test(String(n))) lines.push({ kind: 'line', probe: `uprobe:${prefix}${file}:${n}`, name: `${got.file}:${n}`, ...(binaryLabel !== undefined ? { binary: binaryLabel } : {}) });
        }
      } finally {
        f.close();
      }
    }
  } else if (!exeHost && pat.kinds.size === 1 && !pat.kinds.has('tracepoint')) {
    const k = pat.kinds.has('usdt') ? 'usdt' : 'uprobe';
    const what = pat.kinds.has('line') ? 'source lines' : k === 'uprobe' ? 'functions' : 'USDT probes';
    notes.push(`${what} are listed for a target (-c NAME or -p PID) or a binary: trace list "${k}:/path/to/binary:${pat.sourceFile !== undefined ? `${pat.sourceFile}:*` : 'PATTERN'}"`);
  }

  // Libraries a running target maps: their USDT probes, named with their container path.
  if (root && opts.hostPid !== undefined && pat.binary === undefined && pat.kinds.has('usdt')) {
    for (const lib of mappedFiles(opts.hostPid)) {
      const r = resolveInRoot(root, lib);
      if (!r.ok || r.hostPath === exeHost) continue;
      const f = ElfFile.open(r.hostPath);
      if ('error' in f) continue;
      try {
        usdt.push(...usdtOf(f, pat.glob, lib));
      } finally {
        f.close();
      }
    }
  }

  if (pat.kinds.has('tracepoint') && pat.binary === undefined) {
    const list = readTracepoints(opts.tracefs);
    if (list === undefined) {
      if (pat.kinds.size === 1) notes.push(`tracefs is not mounted at ${opts.tracefs ?? TRACEFS}, so tracepoints cannot be listed: mount -t tracefs tracefs ${opts.tracefs ?? TRACEFS}`);
    } else {
      for (const name of list) if (pat.glob.test(name)) tps.push({ kind: 'tracepoint', probe: `tracepoint:${name}`, name });
    }
  }

  const byName = (a: ListedProbe, b: ListedProbe) => (a.probe < b.probe ? -1 : a.probe > b.probe ? 1 : 0);
  return { probes: [...lines, ...fns.sort(byName), ...dedupe(usdt).sort(byName), ...tps.sort(byName)], notes };
}

function usdtOf(f: ElfFile, glob: RegExp, binary: string | undefined): ListedProbe[] {
  const out: ListedProbe[] = [];
  for (const p of f.usdtProbes()) {
    const name = `${p.provider}:${p.name}`;
    if (!glob.test(name)) continue;
    out.push({ kind: 'usdt', probe: `usdt:${binary !== undefined ? `${binary}:` : ''}${name}`, name, ...(binary !== undefined ? { binary } : {}) });
  }
  return out;
}

function dedupe(list: ListedProbe[]): ListedProbe[] {
  const seen = new Set<string>();
  return list.filter((p) => !seen.has(p.probe) && (seen.add(p.probe), true));
}

/** Executable file mappings of a process, as the process sees their paths. */
function mappedFiles(hostPid: number): string[] {
  let maps: string;
  try {
    maps = readFileSync(`/proc/${hostPid}/maps`, 'utf8');
  } catch {
    return [];
  }
  const out = new Set<string>();
  for (const line of maps.split('\n')) {
    const m = /^[0-9a-f]+-[0-9a-f]+\s+(\S{4})\s+[0-9a-f]+\s+\S+\s+(\d+)\s+(\/.*)$/.exec(line);
    if (!m || m[1]![2] !== 'x' || m[2] === '0' || m[3]!.endsWith(' (deleted)')) continue;
    out.add(m[3]!);
  }
  return [...out];
}

/**
 * `category:name` of every tracepoint (available_events), without the dynamic `kprobes:` and
 * `uprobes:` events other tools leave behind. Undefined when tracefs is not readable.
 */
export function readTracepoints(tracefs: string = TRACEFS): string[] | undefined {
  for (const root of tracefs === TRACEFS ? [TRACEFS, '/sys/kernel/debug/tracing'] : [tracefs]) {
    try {
      if (!statSync(`${root}/available_events`).isFile()) continue;
      const text = readFileSync(`${root}/available_events`, 'utf8');
      return text
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l !== '' && l.includes(':') && !/^(kprobes|uprobes):/.test(l));
    } catch {
      continue;
    }
  }
  return undefined;
}

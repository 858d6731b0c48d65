// Tab completion candidates (pure): probes where a probe is expected (functions of the target
// as uprobe:F, uretprobe:F and pid$target::F:entry|return, tracepoints, syscall::,
// usdt:), builtins, functions and @names inside a clause's predicate or block, and
// :commands (with @names after :clear, paths after :save and :load).

import { BUILTIN_VARS, FUNCTIONS } from '../compiler/builtins.js';
import { lex } from '../lang/lexer.js';
import * as T from '../lang/tokens.js';
import { SYSCALLS_X86_64 } from '../platform/syscalls.js';
import { COMMAND_WORDS } from './commands.js';

export interface CompletionSources {
  /** Function names of the target's main executable (main.handle, runtime.mallocgc, ...). */
  readonly functions: readonly string[];
  /** USDT probes as typed: usdt:provider:name, usdt:/path/lib.so:provider:name. */
  readonly usdt: readonly string[];
  /** Tracepoints as category:name. */
  readonly tracepoints: readonly string[];
  /** @names the session knows (its clauses, the aggregations gathered). */
  readonly aggregations: readonly string[];
  /** Entries of a directory, for :save/:load (directories end with '/'); absent: no path completion. */
  readonly listDir?: (dir: string) => readonly string[];
}

export type Completion = [candidates: string[], word: string];

/** Probe heads offered before a ':' is typed. */
export const PROBE_HEADS: readonly string[] = [
  'BEGIN',
  'END',
  'uprobe:',
  'uretprobe:',
  'pid$target::',
  'usdt:',
  'tracepoint:',
  'syscall::',
  'kprobe:',
  'kretprobe:',
  'profile:hz:',
  'interval:s:',
  'interval:ms:',
  'tick-1s',
  'profile-997',
  'proc:::exec-success',
  'proc:::exit',
  'proc:::create',
  'sched:::on-cpu',
  'sched:::off-cpu',
  'sched:::wakeup',
];

const TIMERS = ['profile:hz:99', 'profile:hz:997', 'interval:s:1', 'interval:ms:100', 'i:s:1', 'p:hz:99'];
const KEYWORDS = ['self->', 'this->', 'if', 'else'];
const SYSCALL_NAMES = [...new Set(SYSCALLS_X86_64.map(([name]) => name))].sort();

/** A function name usable unquoted in a probe (no glob characters, parentheses or spaces). */
const plainName = (fn: string): boolean => /^[\w.$/-]+$/.test(fn);

function startingWith(word: string, list: Iterable<string>): string[] {
  const out: string[] = [];
  for (const c of list) if (c.startsWith(word)) out.push(c);
  return [...new Set(out)].sort();
}

/** Where the cursor is: naming probes (a clause's header), or in an expression. */
export function cursorContext(text: string): 'probe' | 'expr' {
  const lexed = lex(text);
  const last = lexed.items[lexed.items.length - 1];
  if (!last || last.kind !== 'clause' || last.closedBy !== null) return 'probe';
  const tokens = lexed.tokens.slice(last.from, last.to);
  if (tokens.some((t) => t.tokenType === T.LCurly || t.tokenType === T.LAngle)) return 'expr';
  const opens = tokens.filter((t) => t.tokenType === T.PredOpen).length;
  const closes = tokens.filter((t) => t.tokenType === T.PredClose).length;
  return opens > closes ? 'expr' : 'probe';
}

export function probeCandidates(word: string, src: CompletionSources): string[] {
  const fnCands = (head: string, rest: string, suffixes: readonly string[] = ['']): string[] => {
    const out: string[] = [];
    if (rest.startsWith('"')) {
      const inner = rest.slice(1);
      for (const fn of src.functions) if (fn.startsWith(inner)) for (const s of suffixes) out.push(`${head}"${fn}"${s}`);
    } else {
      for (const fn of src.functions) if (fn.startsWith(rest) && plainName(fn)) for (const s of suffixes) out.push(`${head}${fn}${s}`);
    }
    return out;
  };
  let m: RegExpExecArray | null;
  if ((m = /^(uprobe|uretprobe|u|ur):(?!\/)(.*)$/.exec(word))) return startingWith(word, fnCands(`${m[1]}:`, m[2]!));
  if ((m = /^pid\$target::([^:]*)(:.*)?$/.exec(word))) {
    const fn = m[1]!;
    if (m[2] !== undefined) return startingWith(word, [`pid$target::${fn}:entry`, `pid$target::${fn}:return`]);
    return startingWith(word, fnCands('pid$target::', fn, [':entry', ':return']));
  }
  if ((m = /^(tracepoint|t):(.*)$/.exec(word))) return startingWith(word, src.tracepoints.map((tp) => `${m![1]}:${tp}`));
  if ((m = /^syscall::([^:]*)(:.*)?$/.exec(word))) {
    const name = m[1]!;
    if (m[2] !== undefined) return startingWith(word, [`syscall::${name}:entry`, `syscall::${name}:return`]);
    return startingWith(word, SYSCALL_NAMES.filter((s) => s.startsWith(name)).flatMap((s) => [`syscall::${s}:entry`, `syscall::${s}:return`]));
  }
  if (/^(usdt|U):/.test(word)) return startingWith(word, src.usdt.map((u) => (word.startsWith('U:') ? `U:${u.slice(5)}` : u)));
  if (/^(profile|interval|p|i):/.test(word)) return startingWith(word, TIMERS);
  if (/^(proc|sched):/.test(word)) return startingWith(word, PROBE_HEADS.filter((h) => /^(proc|sched):/.test(h)));
  if (!word.includes(':')) return startingWith(word, PROBE_HEADS);
  return [];
}

export function exprCandidates(word: string, src: CompletionSources, text: string): string[] {
  if (word.startsWith('@')) {
    const seen = new Set(src.aggregations);
    // @names in the text typed so far, but not the word being completed
    for (const m of text.slice(0, text.length - word.length).matchAll(/@[A-Za-z_]\w*/g)) seen.add(m[0]);
    return startingWith(word, seen);
  }
  const names = [...Object.keys(BUILTIN_VARS), ...Object.keys(FUNCTIONS).map((f) => `${f}(`), ...KEYWORDS, '$target'];
  return startingWith(word, names);
}

/**
 * Candidates for readline's completer: `line` is the input line up to the cursor, `pending`
 * the lines of an unfinished clause typed before it ('' if none).
 */
export function complete(line: string, pending: string, src: CompletionSources): Completion {
  if (pending === '' && /^\s*:/.test(line)) return completeCommand(line, src);
  const text = pending === '' ? line : `${pending}\n${line}`;
  const ctx = cursorContext(text);
  if (ctx === 'probe') {
    const word = /[^\s,{}<]*$/.exec(line)![0];
    // A predicate's opening '/' is not a path.
    if (word.startsWith('/') && !word.includes(':')) return [[], word];
    return [probeCandidates(word, src), word];
  }
  const m = /(?:->)?(@\w*|\$?[A-Za-z_]\w*)$/.exec(line);
  if (!m) return [[], ''];
  // self->x, this->x, args->name: members are not completed.
  if (m[0].startsWith('->')) return [[], m[1]!];
  return [exprCandidates(m[1]!, src, text), m[1]!];
}

function completeCommand(line: string, src: CompletionSources): Completion {
  const word = /^\s*(:\S*)$/.exec(line);
  if (word) return [startingWith(word[1]!, COMMAND_WORDS), word[1]!];
  const clear = /^\s*:clear\s+(@\w*)$/.exec(line);
  if (clear) return [startingWith(clear[1]!, src.aggregations), clear[1]!];
  const file = /^\s*:(?:save|load|w)\s+(\S*)$/.exec(line);
  if (file && src.listDir) {
    const typed = file[1]!;
    const slash = typed.lastIndexOf('/');
    const dir = slash < 0 ? '' : typed.slice(0, slash + 1);
    const entries = src.listDir(dir === '' ? '.' : dir);
    return [startingWith(typed, entries.map((e) => dir + e)), typed];
  }
  return [[], ''];
}

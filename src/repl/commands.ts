// The REPL's `:commands` (pure): their names and help, and parsing a command line.

import { parseDuration } from '../commands/output.js';

export type Command =
  | { readonly name: 'start' }
  | { readonly name: 'stop' }
  | { readonly name: 'print' }
  | { readonly name: 'clear'; readonly aggregation: string | null }
  | { readonly name: 'list' }
  | { readonly name: 'del'; readonly index: number }
  /** `text` null: put clause `index` in the input line (a terminal); else replace it with `text`. */
  | { readonly name: 'edit'; readonly index: number; readonly text: string | null }
  | { readonly name: 'emit' }
  | { readonly name: 'save'; readonly file: string }
  | { readonly name: 'load'; readonly file: string }
  /** `ms` null: turn streaming off; undefined: show the setting. */
  | { readonly name: 'interval'; readonly ms: number | null | undefined }
  | { readonly name: 'target'; readonly container: string | null; readonly pid: number | null }
  | { readonly name: 'sleep'; readonly ms: number }
  | { readonly name: 'help' }
  | { readonly name: 'quit' };

export type CommandName = Command['name'];

export interface CommandSpec {
  readonly name: CommandName;
  readonly aliases: readonly string[];
  readonly usage: string;
  readonly help: string;
}

export const COMMANDS: readonly CommandSpec[] = [
  { name: 'start', aliases: [], usage: ':start', help: 'attach: trace the target with the clauses' },
  { name: 'stop', aliases: [], usage: ':stop', help: 'detach, keeping the clauses and the aggregations (also Ctrl-C while running)' },
  { name: 'print', aliases: ['p'], usage: ':print', help: 'show the aggregations now (while running: waits for a fresh snapshot, at most 1 s)' },
  { name: 'clear', aliases: [], usage: ':clear [@name]', help: 'reset every aggregation, or one (while running: re-attaches)' },
  { name: 'list', aliases: ['ls'], usage: ':list', help: 'the clauses and pragmas, numbered' },
  { name: 'del', aliases: ['delete', 'rm'], usage: ':del N', help: 'remove clause N (while running: re-attaches, keeping the aggregations)' },
  { name: 'edit', aliases: [], usage: ':edit N [CLAUSE]', help: 'put clause N in the input line to edit it (on a terminal), or replace it with CLAUSE' },
  { name: 'emit', aliases: [], usage: ':emit', help: 'the bpftrace program the clauses compile to (as trace FILE.d --emit bpftrace)' },
  { name: 'save', aliases: ['w'], usage: ':save FILE', help: 'write the clauses and pragmas to a .d file (run it with trace -c NAME FILE)' },
  { name: 'load', aliases: [], usage: ':load FILE', help: 'replace the clauses with those of a .d file' },
  { name: 'interval', aliases: ['i'], usage: ':interval 1s|off', help: 'print the tables every interval while running' },
  { name: 'target', aliases: [], usage: ':target NAME | -p PID', help: 'switch to another container (or process): recompiles, re-attaches if running' },
  { name: 'sleep', aliases: [], usage: ':sleep 2s', help: 'wait (for scripts: lets the trace gather)' },
  { name: 'help', aliases: ['h', '?'], usage: ':help', help: 'this list' },
  { name: 'quit', aliases: ['q', 'exit'], usage: ':quit', help: 'leave, printing the final tables (also Ctrl-D)' },
];

const BY_NAME = new Map<string, CommandSpec>();
for (const c of COMMANDS) for (const n of [c.name, ...c.aliases]) BY_NAME.set(n, c);

/** Names (not aliases) as typed: ':start', ':stop', ... */
export const COMMAND_WORDS: readonly string[] = COMMANDS.map((c) => `:${c.name}`);

/** A line that is a known command (what ends a clause's continuation for a moment). */
export function isCommandLine(line: string): boolean {
  const m = /^:([a-z?]+)(?:\s|$)/.exec(line.trim());
  return !!m && BY_NAME.has(m[1]!);
}

export type Parsed = { readonly ok: true; readonly command: Command } | { readonly ok: false; readonly message: string };

const bad = (message: string): Parsed => ({ ok: false, message });
const ok = (command: Command): Parsed => ({ ok: true, command });

export function parseCommand(line: string): Parsed {
  const m = /^:(\S*)\s*([\s\S]*)$/.exec(line.trim());
  if (!m) return bad(`not a command: ${line.trim()}`);
  const word = m[1]!;
  const rest = m[2]!.trim();
  const spec = BY_NAME.get(word);
  if (!spec) {
    const near = COMMANDS.find((c) => c.name.startsWith(word) && word !== '');
    return bad(`unknown command ':${word}'${near ? ` (did you mean :${near.name}?)` : ''}; :help lists them`);
  }
  const noArgs = (c: Command): Parsed => (rest === '' ? ok(c) : bad(`${spec.usage} takes no argument`));
  const index = (): number | null => (/^\d+$/.test(rest.split(/\s+/)[0] ?? '') ? Number(rest.split(/\s+/)[0]) : null);
  switch (spec.name) {
    case 'start':
    case 'stop':
    case 'print':
    case 'list':
    case 'emit':
    case 'help':
    case 'quit':
      return noArgs({ name: spec.name });
    case 'clear':
      if (rest === '') return ok({ name: 'clear', aggregation: null });
      if (!/^@[A-Za-z_]\w*$|^@$/.test(rest)) return bad(`usage: ${spec.usage} (an aggregation name like @lat, or @ for the anonymous one)`);
      return ok({ name: 'clear', aggregation: rest });
    case 'del': {
      const n = index();
      if (n === null || n < 1 || rest.split(/\s+/).length !== 1) return bad(`usage: ${spec.usage} (N from :list)`);
      return ok({ name: 'del', index: n });
    }
    case 'edit': {
      const n = index();
      if (n === null || n < 1) return bad(`usage: ${spec.usage} (N from :list)`);
      const text = rest.replace(/^\d+\s*/, '');
      return ok({ name: 'edit', index: n, text: text === '' ? null : text });
    }
    case 'save':
    case 'load':
      if (rest === '') return bad(`usage: ${spec.usage}`);
      return ok({ name: spec.name, file: rest });
    case 'interval': {
      if (rest === '') return ok({ name: 'interval', ms: undefined });
      if (rest === 'off' || rest === '0') return ok({ name: 'interval', ms: null });
      const ms = parseDuration(rest);
      if (ms === undefined) return bad(`bad interval '${rest}': use a duration like 1s or 500ms, or off`);
      return ok({ name: 'interval', ms });
    }
    case 'target': {
      const p = /^(?:-p|--pid)\s+(\S+)$/.exec(rest);
      if (p) {
        if (!/^\d+$/.test(p[1]!)) return bad(`bad PID '${p[1]}': give a process id`);
        return ok({ name: 'target', container: null, pid: Number(p[1]) });
      }
      const c = /^(?:(?:-c|--container)\s+)?(\S+)$/.exec(rest);
      if (!c) return bad(`usage: ${spec.usage}`);
      return ok({ name: 'target', container: c[1]!, pid: null });
    }
    case 'sleep': {
      const ms = parseDuration(rest);
      if (ms === undefined) return bad(`usage: ${spec.usage} (a duration like 2s or 500ms)`);
      return ok({ name: 'sleep', ms });
    }
  }
}

/** `:help`'s text. */
export function helpText(): string {
  const w = Math.max(...COMMANDS.map((c) => c.usage.length));
  const lines = [
    'Type a clause to add it (it is compiled at once; a clause may span lines until its block closes).',
    'While running, adding, editing or removing a clause re-attaches and keeps the aggregations gathered.',
    '',
    ...COMMANDS.map((c) => `  ${c.usage.padEnd(w)}  ${c.help}${c.aliases.length ? ` (:${c.aliases.join(', :')})` : ''}`),
    '',
    'Tab completes probes, builtins, functions, @names and :commands. Ctrl-C stops a running trace',
    '(or clears the line), Ctrl-D leaves. :emit shows the program as trace would run the saved file;',
    'while running, the session adds a snapshot probe (interval:s:1) to it, and :print shows the',
    'aggregations of earlier attachments merged with the latest snapshot.',
  ];
  return lines.join('\n') + '\n';
}

// `trace probes [NAME]` and `trace run NAME [args...]`: the ready-made scripts in probes/.
//
// Each probes/NAME.d opens with a header comment whose first line is `NAME: one line`
// (`/* NAME: ... */` block or `// NAME: ...` lines), followed by what it shows, its
// arguments and an example of its output. `trace probes` lists the names and one-liners,
// `trace probes NAME` prints a script's header, and `trace run NAME` runs it exactly as
// `trace [target options] probes/NAME.d [args...]` would.
//
// probes/ is found beside the package (dist/..), never relative to the working directory.

import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Option, type Command } from 'commander';
import { addRunOptions, runOptionsFrom, type RunFlags } from './run-options.js';
import { suggest } from '../lang/diagnostics.js';
import { fail, type Streams } from './output.js';
import { runCommand } from './run.js';

/** The probes/ folder of this package: `<package>/probes`, from dist/commands/probes.js. */
export function probesDir(): string {
  return fileURLToPath(new URL('../../probes/', import.meta.url));
}

export interface ProbeScript {
  /** File name without `.d`: what `trace run` takes. */
  readonly name: string;
  readonly path: string;
  /** The header's first line after `NAME:`, or '' when the file has no header. */
  readonly description: string;
  /** The whole header comment, comment markers removed ('' without one). */
  readonly header: string;
}

/**
 * The header comment of a script: a leading `/* ... *\/` block or run of `//` lines (after
 * an optional #! line and blank lines). Returns its text without comment markers, and the
 * one-liner from its first line (`NAME: description`; `NAME - description` works too).
 */
export function parseHeader(text: string): { name: string | null; description: string; header: string } {
  const lines = text.split('\n');
  let i = 0;
  if (lines[0]?.startsWith('#!')) i++;
  while (i < lines.length && lines[i]!.trim() === '') i++;
  const body: string[] = [];
  const first = lines[i]?.trim() ?? '';
  if (first.startsWith('/*')) {
    for (; i < lines.length; i++) {
      let l = lines[i]!;
      const end = l.indexOf('*/');
      if (end >= 0) l = l.slice(0, end);
      l = l.replace(/^\s*\/\*+ ?/, '').replace(/^\s*\* ?/, '');
      body.push(l.trimEnd());
      if (end >= 0) break;
    }
  } else if (first.startsWith('//')) {
    for (; i < lines.length && lines[i]!.trim().startsWith('//'); i++) body.push(lines[i]!.trim().replace(/^\/\/+ ?/, '').trimEnd());
  }
  while (body.length && body[body.length - 1] === '') body.pop();
  const m = /^\s*([A-Za-z0-9_.-]+)\s*(?::|\s-)\s*(.+)$/.exec(body[0] ?? '');
  return { name: m ? m[1]!.replace(/\.d$/, '') : null, description: m ? m[2]!.trim() : (body[0] ?? '').trim(), header: body.join('\n') };
}

/** Every probes/*.d, sorted by name. */
export function listProbeScripts(dir = probesDir()): ProbeScript[] {
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.d'));
  } catch {
    return [];
  }
  return files.sort().map((f) => {
    const path = join(dir, f);
    const h = parseHeader(readFileSync(path, 'utf8'));
    return { name: basename(f, '.d'), path, description: h.description, header: h.header };
  });
}

/** The script named `name` (with or without `.d`), or the message saying why there is none. */
export function findProbeScript(name: string, dir = probesDir()): ProbeScript | { error: string } {
  const want = name.replace(/\.d$/, '');
  const all = listProbeScripts(dir);
  const found = all.find((s) => s.name === want);
  if (found) return found;
  if (all.length === 0) return { error: `no scripts found in ${dir}` };
  const near = suggest(want, all.map((s) => s.name));
  return { error: `no script named '${want}' in probes/${near ? ` (did you mean ${near}?)` : ''}; list them with: trace probes` };
}

export interface ProbesOptions {
  readonly name?: string;
  readonly output: 'table' | 'json';
}

/** `trace probes`: names and one-liners; `trace probes NAME`: that script's header. */
export function probesCommand(opts: ProbesOptions, io: Streams, dir = probesDir()): number {
  if (opts.name !== undefined) {
    const s = findProbeScript(opts.name, dir);
    if ('error' in s) {
      fail(io, s.error);
      return 2;
    }
    if (opts.output === 'json') io.stdout.write(JSON.stringify({ name: s.name, path: s.path, description: s.description, header: s.header }) + '\n');
    else io.stdout.write(`${s.header}\n\n(${s.path}; run it with: trace run ${s.name} [-c NAME] [args...])\n`);
    return 0;
  }
  const all = listProbeScripts(dir);
  if (all.length === 0) {
    fail(io, `no scripts found in ${dir}`);
    return 1;
  }
  if (opts.output === 'json') {
    io.stdout.write(JSON.stringify(all.map((s) => ({ name: s.name, description: s.description, path: s.path }))) + '\n');
    return 0;
  }
  const width = Math.max(...all.map((s) => s.name.length));
  io.stdout.write(all.map((s) => `${s.name.padEnd(width)}  ${s.description}`).join('\n') + '\n');
  return 0;
}

/** `trace run NAME [args...]`: `trace [options] probes/NAME.d [args...]`. */
export async function runProbeCommand(name: string, args: readonly string[], o: RunFlags, io: Streams, dir = probesDir()): Promise<number> {
  const s = findProbeScript(name, dir);
  if ('error' in s) {
    fail(io, s.error);
    return 2;
  }
  const opts = runOptionsFrom(o, [s.path, ...args]);
  if ('error' in opts) {
    fail(io, opts.error);
    return 2;
  }
  return runCommand(opts, io);
}

/**
 * `trace -c web run NAME` means `trace run NAME -c web`: target and output options given
 * before `run` (parsed by the root command) count too, rather than being silently dropped.
 * Lists add up; a value given after `run` wins.
 */
function withRootFlags(o: RunFlags, cmd: Command): RunFlags {
  const root = cmd.parent;
  if (!root) return o;
  const r = root.opts() as RunFlags;
  const own = new Set(cmd.options.map((opt) => opt.attributeName()));
  const out: RunFlags = { ...o };
  for (const [k, v] of Object.entries(r)) {
    if (root.getOptionValueSource(k) !== 'cli' || !own.has(k)) continue;
    if (Array.isArray(v)) out[k] = [...v, ...((o[k] as string[] | undefined) ?? [])];
    else if (cmd.getOptionValueSource(k) !== 'cli') out[k] = v;
  }
  return out;
}

/** Adds `probes` and `run` to the CLI; `setCode` receives each command's exit code. */
export function addProbeCommands(program: Command, io: Streams, setCode: (code: number) => void): void {
  program
    .command('probes')
    .description("list the ready-made scripts in probes/ with what each shows; with a NAME, that script's description, arguments and example output")
    .argument('[name]', 'a script name, e.g. http-golden')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['table', 'json']).default('table'))
    .action((name: string | undefined, o: { output: 'table' | 'json' }) => {
      setCode(probesCommand({ ...(name !== undefined ? { name } : {}), output: o.output }, io));
    });
  addRunOptions(
    program
      .command('run')
      .description('run a ready-made script from probes/ (see trace probes): the same as trace [options] probes/NAME.d [args...]')
      .argument('<name>', 'the script, e.g. syscall-count or http-golden')
      .argument('[args...]', 'script arguments ($1, $2, ...)'),
  )
    .addHelpText('after', '\nExamples:\n  trace run syscall-count -c checkout -d 10s\n  trace run http-golden -c web\n  trace run go-func-latency -c checkout --emit bpftrace')
    .action(async (name: string, args: string[], o: RunFlags, cmd: Command) => {
      setCode(await runProbeCommand(name, args, withRootFlags(o, cmd), io));
    });
}

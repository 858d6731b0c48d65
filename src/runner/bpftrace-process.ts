// Where a compiled program's output comes from: a bpftrace child of this process, or a helper
// (local through sudo, or over SSH) relaying its bpftrace's lines. The session decodes and
// renders the lines the same way for both.

import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CompiledProgram } from '../compiler/program.js';
import { LineSplitter } from './lines.js';

export type ProcessEnd =
  | { readonly kind: 'exit'; readonly code: number | null; readonly signal: string | null; readonly overlong?: number }
  /** It never ran (no such file, not executable, a helper refused): one sentence. */
  | { readonly kind: 'failed'; readonly message: string };

export interface ProcessHandlers {
  stdout(line: string): void;
  stderr(line: string): void;
  /** Called once, after the last line. */
  end(e: ProcessEnd): void;
}

/** A running bpftrace program, wherever it runs. */
export interface ProgramProcess {
  start(h: ProcessHandlers): void;
  /** As Ctrl-C: bpftrace runs END and prints its final maps, then exits. */
  interrupt(): void;
  /** Now, with no final output. */
  kill(): void;
}

/** Programs longer than this go through a temporary file (Linux limits one argument to 128 KiB). */
const MAX_INLINE_PROGRAM = 100 * 1024;

let setprivPath: string | null | undefined;

/** util-linux setpriv, which can set a parent-death signal before exec'ing bpftrace. */
function findSetpriv(): string | null {
  if (setprivPath !== undefined) return setprivPath;
  setprivPath = null;
  for (const p of ['/usr/bin/setpriv', '/bin/setpriv']) {
    try {
      accessSync(p, constants.X_OK);
      setprivPath = p;
      break;
    } catch {
      // not here
    }
  }
  return setprivPath;
}

/**
 * bpftrace's argv: options first, then the program (`-e TEXT`, a file, or `-`: on stdin), then
 * positional parameters.
 */
export function bpftraceArgv(compiled: CompiledProgram, extraArgs: readonly string[], program: { file: string } | 'inline' | 'stdin'): string[] {
  const all = [...compiled.bpftraceArgs, ...extraArgs];
  const options = all.filter((a) => a.startsWith('-'));
  const positional = all.filter((a) => !a.startsWith('-'));
  const where = program === 'inline' ? ['-e', compiled.text] : program === 'stdin' ? ['-'] : [program.file];
  return ['-f', 'json', ...options, ...where, ...positional];
}

/** What an early bpftrace is started with: no options, the program on stdin. */
const EARLY_ARGV = ['-f', 'json', '-'];

export interface LocalOptions {
  readonly path: string;
  readonly extraArgs?: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  /** A bpftrace started before the program was known (startEarly): used when the program fits it, else killed. */
  readonly early?: EarlyBpftrace | null;
}

/**
 * A bpftrace started before its program is compiled, waiting for the program on its stdin: it
 * loads its libraries and the kernel's BTF (about half of its start) while we parse and
 * compile. Until a program is written it has attached nothing; discarded, it is killed having
 * never had one. Started with no options: a program that needs some (--unsafe) starts its own.
 * Its program is not on its command line, unlike a bpftrace started with `-e`.
 */
export interface EarlyBpftrace {
  /**
   * Writes the program to it now (the run's output is read later), when it runs at `path` and
   * the program's argv is what it was started with; otherwise it is killed. False then.
   */
  give(path: string, compiled: CompiledProgram, extraArgs?: readonly string[]): boolean;
  /** The child, once, running `compiled` (given now if it was not yet); null when it cannot. */
  take(path: string, compiled: CompiledProgram, extraArgs?: readonly string[]): ChildProcess | null;
  /** Kills it unless it was taken. */
  discard(): void;
}

/** Starts `bpftrace -f json -` now (see EarlyBpftrace), with the environment the run will use. */
export function startEarly(path: string, env: NodeJS.ProcessEnv = process.env): EarlyBpftrace {
  let child = spawnEarly(path, env);
  let given: CompiledProgram | null = null;
  // One that could not start or already ended (its 'close' may be past) is not handed over.
  let exited = child === null;
  child?.once('exit', () => (exited = true));
  const onExit = () => child?.kill('SIGKILL');
  process.on('exit', onExit);
  const discard = () => {
    process.off('exit', onExit);
    child?.kill('SIGKILL');
    child = null;
  };
  const give = (p: string, compiled: CompiledProgram, extraArgs: readonly string[] = []) => {
    if (given === compiled && child !== null) return true;
    const argv = bpftraceArgv(compiled, extraArgs, 'stdin');
    if (exited || given !== null || p !== path || argv.length !== EARLY_ARGV.length || argv.some((a, i) => a !== EARLY_ARGV[i])) {
      discard();
      return false;
    }
    given = compiled;
    child!.stdin!.end(compiled.text);
    return true;
  };
  return {
    give,
    take: (p, compiled, extraArgs) => {
      if (!give(p, compiled, extraArgs)) return null;
      process.off('exit', onExit);
      const c = child;
      child = null;
      return c;
    },
    discard,
  };
}

/** The command that runs bpftrace: through setpriv where it exists (see localBpftrace). */
function command(path: string, argv: readonly string[]): [string, string[]] {
  const setpriv = findSetpriv();
  return setpriv ? [setpriv, ['--pdeathsig', 'KILL', '--', path, ...argv]] : [path, [...argv]];
}

/** The early child; null when it could not start (the run's own start then says why). */
function spawnEarly(path: string, env: NodeJS.ProcessEnv): ChildProcess | null {
  let child: ChildProcess;
  try {
    child = spawn(...command(path, EARLY_ARGV), { stdio: ['pipe', 'pipe', 'pipe'], env });
  } catch {
    return null;
  }
  child.on('error', () => {});
  // bpftrace exiting before it read its program is reported by its exit.
  child.stdin!.on('error', () => {});
  return child.pid === undefined ? null : child;
}

/**
 * bpftrace as a child of this process. Where setpriv exists, the kernel kills bpftrace if
 * this process dies (parent-death signal), so not even SIGKILL to us leaves it running.
 */
export function localBpftrace(compiled: CompiledProgram, opts: LocalOptions): ProgramProcess {
  let child: ChildProcess | null = null;
  let tmpDir: string | null = null;
  let finished = false;
  const onExit = () => {
    // Our process is exiting with bpftrace still running: it must not outlive us.
    if (!finished) child?.kill('SIGKILL');
  };
  return {
    start(h) {
      const end = (e: ProcessEnd) => {
        if (finished) return;
        finished = true;
        process.off('exit', onExit);
        if (tmpDir) rmSync(tmpDir, { recursive: true, force: true });
        h.end(e);
      };
      const early = opts.early?.take(opts.path, compiled, opts.extraArgs) ?? null;
      opts.early?.discard();
      try {
        accessSync(opts.path, constants.X_OK);
      } catch {
        early?.kill('SIGKILL');
        // Checked here: through setpriv, a missing file would read as a bpftrace failure.
        return end({ kind: 'failed', message: `could not start bpftrace (${opts.path}): not an executable file` });
      }
      if (early) child = early;
      else {
        let program: { file: string } | 'inline' = 'inline';
        if (compiled.text.length > MAX_INLINE_PROGRAM) {
          try {
            tmpDir = mkdtempSync(join(tmpdir(), 'ctrace-'));
            program = { file: join(tmpDir, 'program.bt') };
            writeFileSync(program.file, compiled.text, { mode: 0o600 });
          } catch (e) {
            return end({ kind: 'failed', message: `could not write the program to a temporary file: ${e instanceof Error ? e.message : String(e)}` });
          }
        }
        try {
          child = spawn(...command(opts.path, bpftraceArgv(compiled, opts.extraArgs ?? [], program)), { stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ?? process.env });
        } catch (e) {
          return end({ kind: 'failed', message: `could not start bpftrace (${opts.path}): ${e instanceof Error ? e.message : String(e)}` });
        }
      }
      process.on('exit', onExit);
      const out = new LineSplitter();
      const err = new LineSplitter();
      child.stdout!.on('data', (chunk: Buffer) => {
        for (const line of out.push(chunk)) h.stdout(line);
      });
      child.stderr!.on('data', (chunk: Buffer) => {
        for (const line of err.push(chunk)) h.stderr(line);
      });
      child.on('error', (e) => {
        // Only a failed start matters (ENOENT, EACCES); no 'close' will follow it.
        if (child?.pid !== undefined) return;
        end({ kind: 'failed', message: `could not start bpftrace (${opts.path}): ${e.message}` });
      });
      child.on('close', (code, sig) => {
        for (const line of out.end()) h.stdout(line);
        for (const line of err.end()) h.stderr(line);
        end({ kind: 'exit', code, signal: sig, overlong: out.overlong });
      });
    },
    interrupt: () => void child?.kill('SIGINT'),
    kill: () => void child?.kill('SIGKILL'),
  };
}

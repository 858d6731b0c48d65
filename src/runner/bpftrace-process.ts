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

/** bpftrace's argv: options first, then the program, then positional parameters. */
export function bpftraceArgv(compiled: CompiledProgram, extraArgs: readonly string[], programFile: string | null): string[] {
  const all = [...compiled.bpftraceArgs, ...extraArgs];
  const options = all.filter((a) => a.startsWith('-'));
  const positional = all.filter((a) => !a.startsWith('-'));
  const program = programFile === null ? ['-e', compiled.text] : [programFile];
  return ['-f', 'json', ...options, ...program, ...positional];
}

export interface LocalOptions {
  readonly path: string;
  readonly extraArgs?: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
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
      try {
        accessSync(opts.path, constants.X_OK);
      } catch {
        // Checked here: through setpriv, a missing file would read as a bpftrace failure.
        return end({ kind: 'failed', message: `could not start bpftrace (${opts.path}): not an executable file` });
      }
      let programFile: string | null = null;
      if (compiled.text.length > MAX_INLINE_PROGRAM) {
        try {
          tmpDir = mkdtempSync(join(tmpdir(), 'ctrace-'));
          programFile = join(tmpDir, 'program.bt');
          writeFileSync(programFile, compiled.text, { mode: 0o600 });
        } catch (e) {
          return end({ kind: 'failed', message: `could not write the program to a temporary file: ${e instanceof Error ? e.message : String(e)}` });
        }
      }
      const argv = bpftraceArgv(compiled, opts.extraArgs ?? [], programFile);
      const setpriv = findSetpriv();
      const [cmd, args] = setpriv ? [setpriv, ['--pdeathsig', 'KILL', '--', opts.path, ...argv]] : [opts.path, argv];
      try {
        child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ?? process.env });
      } catch (e) {
        return end({ kind: 'failed', message: `could not start bpftrace (${opts.path}): ${e instanceof Error ? e.message : String(e)}` });
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

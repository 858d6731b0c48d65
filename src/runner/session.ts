// Runs one compiled program under bpftrace and streams its results.
//
// bpftrace gets SIGINT on every way a run can end early (duration, Ctrl-C or SIGTERM to us,
// AbortSignal), as DTrace's Ctrl-C: it runs END and prints the final aggregations. If it has
// not exited ~5 s later it is killed. It is also killed if our process exits, and, where
// util-linux's setpriv exists, by the kernel if our process dies (parent-death signal).

import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CompiledProgram } from '../compiler/program.js';
import type { Aggregation } from './aggregate.js';
import type { BpftraceInfo } from './bpftrace.js';
import { StderrParser, type BpftraceDiagnostic } from './diagnostics.js';
import { decodeLine } from './events.js';
import { LineSplitter } from './lines.js';
import { Presenter, type OutStream } from './presenter.js';
import { EventStream } from './stream.js';

export interface RunOptions {
  readonly bpftrace: BpftraceInfo;
  readonly extraArgs?: readonly string[];
  readonly output: 'table' | 'json';
  readonly stdout: OutStream;
  readonly stderr: OutStream;
  /** Stop (as by Ctrl-C) this long after bpftrace was started (its start-up, ~0.3 s, included). */
  readonly durationMs?: number;
  /** Environment for bpftrace and for colour decisions; default process.env. */
  readonly env?: NodeJS.ProcessEnv;
  readonly signal?: AbortSignal;
  /** Called once all probes are attached (see EventStream's `ready`). */
  readonly onAttached?: () => void;
  /** "attaching N probes..." on a terminal's stderr; default true. */
  readonly progress?: boolean;
  /**
   * Receives each distinct bpftrace diagnostic as it arrives. Without it, warnings and other
   * stderr lines are printed, and errors are only returned (the caller maps them to the
   * user's source) unless `printErrors` is set.
   */
  readonly onDiagnostic?: (d: BpftraceDiagnostic) => void;
  readonly printErrors?: boolean;
  /** Stop on SIGINT/SIGTERM sent to this process (default true). */
  readonly handleSignals?: boolean;
  /** How long bpftrace gets to exit after SIGINT before SIGKILL; default 5000. */
  readonly killAfterMs?: number;
  /**
   * Receives each interval snapshot's aggregations (-i, or a program compiled with an
   * interval) instead of the presenter rendering it. For callers that render themselves.
   */
  readonly onSnapshot?: (aggregations: readonly Aggregation[]) => void;
  /** Render the exit-time aggregations (default true); they are in RunResult.aggregations either way. */
  readonly renderFinal?: boolean;
}

export type StopReason = 'exit' | 'duration' | 'signal' | 'abort' | 'output-closed';

export interface RunResult {
  /** 0 on a normal end (including Ctrl-C, duration, abort); 1 when bpftrace failed. */
  readonly exitCode: number;
  /** The user's aggregations at exit. */
  readonly aggregations: readonly Aggregation[];
  readonly lost: number;
  /** bpftrace errors (severity 'error'). */
  readonly errors: readonly BpftraceDiagnostic[];
  /** Every diagnostic: errors, warnings, and other stderr lines. */
  readonly diagnostics: readonly BpftraceDiagnostic[];
  /** One sentence when exitCode is not 0. */
  readonly message?: string;
  readonly stoppedBy: StopReason;
}

/** Programs longer than this go through a temporary file (Linux limits one argument to 128 KiB). */
const MAX_INLINE_PROGRAM = 100 * 1024;
/** Without a `ready` marker: the probes count as attached this long after bpftrace announced them, if nothing else came. */
const READY_FALLBACK_MS = 500;

let setprivPath: string | null | undefined;

type Emitter = { on?: (ev: string, f: (e?: unknown) => void) => unknown; off?: (ev: string, f: (e?: unknown) => void) => unknown };
const absorbing = new WeakSet<object>();

/**
 * Write errors on stdout (EPIPE when the reader quits) arrive asynchronously, possibly after a
 * run ended; one lasting no-op listener per stream keeps them from crashing the process.
 */
function absorbWriteErrors(stream: object): void {
  const e = stream as Emitter;
  if (absorbing.has(stream) || typeof e.on !== 'function') return;
  absorbing.add(stream);
  e.on('error', () => {});
}

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

export function runProgram(compiled: CompiledProgram, opts: RunOptions): Promise<RunResult> {
  return new Promise((resolve) => {
    const env = opts.env ?? process.env;
    const presenter = new Presenter(compiled, { output: opts.output, stdout: opts.stdout, stderr: opts.stderr, env, ...(opts.progress !== undefined ? { progress: opts.progress } : {}) });
    const stream = new EventStream(compiled);
    const decodeOpts = stream.decodeOptions(opts.bpftrace.features.jsonKeysDoubleEscaped);
    const outLines = new LineSplitter();
    const errLines = new LineSplitter();
    const stderrParser = new StderrParser(compiled.sourceMap);
    const diagnostics: BpftraceDiagnostic[] = [];
    const reported = new Map<string, number>();

    try {
      accessSync(opts.bpftrace.path, constants.X_OK);
    } catch {
      // Checked here: through setpriv, a missing file would read as a bpftrace failure.
      resolve(failed(`could not start bpftrace (${opts.bpftrace.path}): not an executable file`));
      return;
    }

    let tmpDir: string | null = null;
    let programFile: string | null = null;
    if (compiled.text.length > MAX_INLINE_PROGRAM) {
      try {
        tmpDir = mkdtempSync(join(tmpdir(), 'ctrace-'));
        programFile = join(tmpDir, 'program.bt');
        writeFileSync(programFile, compiled.text, { mode: 0o600 });
      } catch (e) {
        if (tmpDir) rmSync(tmpDir, { recursive: true, force: true });
        resolve(failed(`could not write the program to a temporary file: ${e instanceof Error ? e.message : String(e)}`));
        return;
      }
    }
    const argv = bpftraceArgv(compiled, opts.extraArgs ?? [], programFile);
    const setpriv = findSetpriv();
    const [cmd, args] = setpriv ? [setpriv, ['--pdeathsig', 'KILL', '--', opts.bpftrace.path, ...argv]] : [opts.bpftrace.path, argv];

    let child: ChildProcess;
    let stoppedBy: StopReason = 'exit';
    let stopping = false;
    let forced = false;
    let killedAfterTimeout = false;
    let spawnError: Error | null = null;
    let attachedFired = false;
    let finished = false;
    const timers: NodeJS.Timeout[] = [];

    const fireAttached = () => {
      if (attachedFired) return;
      attachedFired = true;
      presenter.clearProgress();
      try {
        opts.onAttached?.();
      } catch {
        // a caller's hook must not break the run
      }
    };

    const onDiag = (d: BpftraceDiagnostic) => {
      diagnostics.push(d);
      // Helper errors can fire per event: report each distinct one once.
      const id = `${d.severity}\0${d.message}\0${d.line ?? ''}:${d.colStart ?? ''}`;
      const n = reported.get(id) ?? 0;
      reported.set(id, n + 1);
      if (n > 0) return;
      if (opts.onDiagnostic) {
        presenter.clearProgress();
        opts.onDiagnostic(d);
      } else if (d.severity !== 'error' || opts.printErrors) presenter.diagnostic(d);
    };

    const onStdoutLine = (line: string) => {
      for (const o of stream.push(decodeLine(line, decodeOpts))) {
        if (o.kind === 'diagnostic') {
          onDiag(o.diagnostic);
          continue;
        }
        if (o.kind === 'snapshot' && opts.onSnapshot) {
          try {
            opts.onSnapshot(o.aggregations);
          } catch {
            // a caller's hook must not break the run
          }
          continue;
        }
        presenter.handle(o);
        if (o.kind === 'attached' && !stream.announcesReady) timers.push(setTimeout(fireAttached, READY_FALLBACK_MS));
        if (o.kind === 'ready') fireAttached();
      }
    };

    const stop = (why: StopReason) => {
      if (finished) return;
      if (stopping) {
        // A second interrupt: the user does not want to wait for END.
        if (why === 'signal' && !forced) {
          forced = true;
          child.kill('SIGKILL');
        }
        return;
      }
      stopping = true;
      stoppedBy = why;
      child.kill('SIGINT');
      const t = setTimeout(() => {
        killedAfterTimeout = true;
        child.kill('SIGKILL');
      }, opts.killAfterMs ?? 5000);
      timers.push(t);
    };

    const onSignal = () => stop('signal');
    const onAbort = () => stop('abort');
    const onExit = () => {
      // Our process is exiting with bpftrace still running: it must not outlive us.
      if (!finished) child.kill('SIGKILL');
    };
    const onOutError = () => {
      // The reader went away (`trace ... | head`): stop writing, and stop bpftrace.
      presenter.closeStdout();
      stop('output-closed');
    };

    try {
      child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    } catch (e) {
      cleanup();
      resolve(failed(`could not start bpftrace (${opts.bpftrace.path}): ${e instanceof Error ? e.message : String(e)}`));
      return;
    }

    if (opts.handleSignals !== false) {
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
    }
    process.on('exit', onExit);
    const stdoutEmitter = opts.stdout as unknown as Emitter;
    absorbWriteErrors(opts.stdout);
    stdoutEmitter.on?.('error', onOutError);
    if (opts.signal) {
      if (opts.signal.aborted) queueMicrotask(onAbort);
      else opts.signal.addEventListener('abort', onAbort, { once: true });
    }
    if (opts.durationMs !== undefined && opts.durationMs >= 0) timers.push(setTimeout(() => stop('duration'), opts.durationMs));

    presenter.progress('starting bpftrace...');

    child.stdout!.on('data', (chunk: Buffer) => {
      for (const line of outLines.push(chunk)) onStdoutLine(line);
    });
    child.stderr!.on('data', (chunk: Buffer) => {
      for (const line of errLines.push(chunk)) for (const d of stderrParser.push(line)) onDiag(d);
    });
    child.on('error', (e) => {
      // Only a failed start matters (ENOENT, EACCES); no 'close' will follow it.
      if (child.pid !== undefined) return;
      spawnError = e;
      done(null, null);
    });
    child.on('close', (code, sig) => done(code, sig));

    function done(code: number | null, sig: NodeJS.Signals | null): void {
      if (finished) return;
      finished = true;
      for (const line of outLines.end()) onStdoutLine(line);
      for (const line of errLines.end()) for (const d of stderrParser.push(line)) onDiag(d);
      for (const d of stderrParser.end()) onDiag(d);
      cleanup();
      const fin = stream.finish();
      if (opts.renderFinal !== false) presenter.final(fin.shown);
      presenter.lost(stream.lost);
      if (outLines.overlong > 0) presenter.message(`trace: ${outLines.overlong} bpftrace output line(s) were too long and skipped`);
      presenter.clearProgress();

      const errors = diagnostics.filter((d) => d.severity === 'error');
      const base = { aggregations: fin.all, lost: stream.lost, errors, diagnostics, stoppedBy };
      // A failure always carries at least one error, even when bpftrace said it some other way.
      const fail = (message: string): RunResult => ({
        ...base,
        exitCode: 1,
        message,
        errors: errors.length ? errors : [{ severity: 'error', message: message.replace(/^bpftrace failed: /, ''), raw: [] }],
      });
      if (spawnError) return resolve(fail(`could not start bpftrace (${opts.bpftrace.path}): ${spawnError.message}`));
      if (killedAfterTimeout) return resolve(fail(`bpftrace did not stop within ${Math.round((opts.killAfterMs ?? 5000) / 1000)} s of SIGINT and was killed`));
      if (forced) return resolve({ ...base, exitCode: 130, message: 'interrupted again: bpftrace was killed before printing its final aggregations' });
      if (code === 0) return resolve({ ...base, exitCode: 0 });
      if (code === null) return resolve(fail(`bpftrace was killed by ${sig ?? 'a signal'}`));
      const first = errors[0] ?? [...diagnostics].reverse().find((d) => d.severity === 'info');
      return resolve(fail(first ? `bpftrace failed: ${first.message.replace(/\.$/, '')}` : `bpftrace exited with status ${code}`));
    }

    function cleanup(): void {
      for (const t of timers) clearTimeout(t);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      process.off('exit', onExit);
      stdoutEmitter.off?.('error', onOutError);
      opts.signal?.removeEventListener('abort', onAbort);
      if (tmpDir) rmSync(tmpDir, { recursive: true, force: true });
    }

    function failed(message: string): RunResult {
      return { exitCode: 1, aggregations: [], lost: 0, errors: [], diagnostics: [], message, stoppedBy: 'exit' };
    }
  });
}

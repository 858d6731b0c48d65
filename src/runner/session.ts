// Runs one compiled program under bpftrace and streams its results.
//
// bpftrace gets SIGINT on every way a run can end early (duration, Ctrl-C or SIGTERM to us,
// AbortSignal), as DTrace's Ctrl-C: it runs END and prints the final aggregations. If it has
// not exited ~5 s later it is killed. It is also killed if our process exits, and, where
// util-linux's setpriv exists, by the kernel if our process dies (parent-death signal).
//
// For --follow (follow.ts) a run can carry the aggregations of the bpftrace runs before it:
// they are added into everything shown and returned. Such a run is replaced by detaching it:
// SIGINT as above, but what it prints from then on (its END clauses, its exit dump) is not
// shown; its maps still come back in RunResult.aggregations.

import type { CompiledProgram } from '../compiler/program.js';
import { merge, mergeByName, type Aggregation } from './aggregate.js';
import type { BpftraceInfo } from './bpftrace.js';
import { localBpftrace, type EarlyBpftrace, type ProcessEnd, type ProgramProcess } from './bpftrace-process.js';
import { StderrParser, type BpftraceDiagnostic } from './diagnostics.js';
import { decodeLine } from './events.js';
import { Presenter, type OutStream } from './presenter.js';
import { EventStream, type FinalResult } from './stream.js';
import { mark } from './timing.js';

export interface RunOptions {
  /** Its features decide how output is decoded; its path is run unless `process` is given. */
  readonly bpftrace: BpftraceInfo;
  /** Where the program runs, when not a local bpftrace child (a helper). */
  readonly process?: ProgramProcess;
  readonly extraArgs?: readonly string[];
  /** A local bpftrace already started, waiting for its program (see startEarly); used when its argv fits. */
  readonly early?: EarlyBpftrace | null;
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
  /** Receives what the program prints (printf, print of a value) instead of stdout. */
  readonly onText?: (text: string) => void;
  /** Render the exit-time aggregations (default true); they are in RunResult.aggregations either way. */
  readonly renderFinal?: boolean;
  /** Aggregations of earlier bpftrace runs of this trace (--follow): merged into all shown and returned. */
  readonly carried?: readonly Aggregation[];
  /** Stops the run to replace it (--follow): as `signal`, but nothing it prints from then on is shown. */
  readonly detach?: AbortSignal;
  /** Given, at start, a way to print a stderr line in step with the run's output (a snapshot redrawn in place stays whole). */
  readonly onStart?: (run: { message(line: string): void }) => void;
}

export type StopReason = 'exit' | 'duration' | 'signal' | 'abort' | 'output-closed' | 'detach';

export interface RunResult {
  /** 0 on a normal end (including Ctrl-C, duration, abort); 1 when bpftrace failed. */
  readonly exitCode: number;
  /** The user's aggregations at exit (with the carried ones). */
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

/** Without a `ready` marker: the probes count as attached this long after bpftrace announced them, if nothing else came. */
const READY_FALLBACK_MS = 500;

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

export function runProgram(compiled: CompiledProgram, opts: RunOptions): Promise<RunResult> {
  return new Promise((resolve) => {
    const env = opts.env ?? process.env;
    // Batched: one stdout write per turn of the event loop, not one per event; flushed before
    // any caller's hook runs (it may write too) and when the run ends.
    const presenter = new Presenter(compiled, { output: opts.output, stdout: opts.stdout, stderr: opts.stderr, env, batch: true, ...(opts.progress !== undefined ? { progress: opts.progress } : {}) });
    const stream = new EventStream(compiled);
    const decodeOpts = stream.decodeOptions(opts.bpftrace.features.jsonKeysDoubleEscaped);
    const stderrParser = new StderrParser(compiled.sourceMap);
    const diagnostics: BpftraceDiagnostic[] = [];
    const reported = new Map<string, number>();
    const child: ProgramProcess = opts.process ?? localBpftrace(compiled, { path: opts.bpftrace.path, ...(opts.extraArgs ? { extraArgs: opts.extraArgs } : {}), early: opts.early ?? null, env });

    let stoppedBy: StopReason = 'exit';
    let stopping = false;
    let forced = false;
    let killedAfterTimeout = false;
    let startFailure: string | null = null;
    let attachedFired = false;
    let finished = false;
    /** Detached: what bpftrace prints from now on is not shown. */
    let muted = false;
    const timers: NodeJS.Timeout[] = [];
    const carried = opts.carried ?? [];

    const fireAttached = () => {
      if (attachedFired) return;
      attachedFired = true;
      mark('probes attached');
      presenter.clearProgress();
      presenter.flush();
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
        presenter.flush();
        opts.onDiagnostic(d);
      } else if (d.severity !== 'error' || opts.printErrors) presenter.diagnostic(d);
    };

    const onStdoutLine = (line: string) => {
      for (let o of stream.push(decodeLine(line, decodeOpts))) {
        if (o.kind === 'diagnostic') {
          onDiag(o.diagnostic);
          continue;
        }
        if (muted && (o.kind === 'text' || o.kind === 'snapshot' || o.kind === 'printa' || o.kind === 'print')) continue;
        if (carried.length && (o.kind === 'snapshot' || o.kind === 'printa' || o.kind === 'print')) o = { ...o, aggregations: addCarried(carried, o.aggregations, o.kind === 'snapshot') };
        if (o.kind === 'snapshot' && opts.onSnapshot) {
          presenter.flush();
          try {
            opts.onSnapshot(o.aggregations);
          } catch {
            // a caller's hook must not break the run
          }
          continue;
        }
        if (o.kind === 'text' && opts.onText) {
          try {
            opts.onText(o.text);
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
        // Ctrl-C while being replaced: the trace ends (the caller renders what was carried).
        if (stoppedBy === 'detach' && why === 'signal') {
          stoppedBy = 'signal';
          return;
        }
        // A second interrupt: the user does not want to wait for END.
        if (why === 'signal' && !forced) {
          forced = true;
          child.kill();
        }
        return;
      }
      stopping = true;
      stoppedBy = why;
      child.interrupt();
      const t = setTimeout(() => {
        killedAfterTimeout = true;
        child.kill();
      }, opts.killAfterMs ?? 5000);
      timers.push(t);
    };

    const onSignal = () => stop('signal');
    const onAbort = () => stop('abort');
    const onDetach = () => {
      muted = true;
      stop('detach');
    };
    const onOutError = () => {
      // The reader went away (`trace ... | head`): stop writing, and stop bpftrace.
      presenter.closeStdout();
      stop('output-closed');
    };

    if (opts.handleSignals !== false) {
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
    }
    const stdoutEmitter = opts.stdout as unknown as Emitter;
    absorbWriteErrors(opts.stdout);
    stdoutEmitter.on?.('error', onOutError);
    if (opts.signal) {
      if (opts.signal.aborted) queueMicrotask(onAbort);
      else opts.signal.addEventListener('abort', onAbort, { once: true });
    }
    if (opts.detach) {
      if (opts.detach.aborted) queueMicrotask(onDetach);
      else opts.detach.addEventListener('abort', onDetach, { once: true });
    }
    if (opts.durationMs !== undefined && opts.durationMs >= 0) timers.push(setTimeout(() => stop('duration'), opts.durationMs));

    opts.onStart?.({ message: (line) => presenter.message(line) });
    presenter.progress('starting bpftrace...');

    mark('starting bpftrace');
    child.start({
      stdout: onStdoutLine,
      stderr: (line) => {
        for (const d of stderrParser.push(line)) onDiag(d);
      },
      end: done,
    });

    function done(e: ProcessEnd): void {
      if (finished) return;
      finished = true;
      mark('bpftrace exited');
      const code = e.kind === 'exit' ? e.code : null;
      const sig = e.kind === 'exit' ? e.signal : null;
      if (e.kind === 'failed') startFailure = e.message;
      for (const d of stderrParser.end()) onDiag(d);
      cleanup();
      const fin = finalWithCarried(stream.finish(), carried, compiled.printedAtEnd);
      if (opts.renderFinal !== false && e.kind !== 'failed' && !muted) presenter.final(fin.shown);
      // bpftrace can exit without its exit-time map dump (seen when it is stopped while its
      // output pipe is full): say so rather than end with the tables silently missing.
      const unprinted = compiled.aggregations.filter((a) => !compiled.printedAtEnd.includes(a.name));
      if (e.kind === 'exit' && e.code === 0 && !stream.sawFinal && unprinted.length > 0 && !compiled.options.quiet) {
        presenter.message(
          muted
            ? 'trace: the replaced bpftrace exited without printing its final aggregations: what it counted since its last interval is missing'
            : fin.all.length > 0
            ? 'trace: bpftrace exited without printing its final aggregations; the last interval\'s values are above'
            : 'trace: bpftrace exited without printing its final aggregations (it was stopped while its output was backed up); run with -i 1s to see values as they change',
        );
      }
      presenter.lost(stream.lost);
      const overlong = e.kind === 'exit' ? (e.overlong ?? 0) : 0;
      if (overlong > 0) presenter.message(`trace: ${overlong} bpftrace output line(s) were too long and skipped`);
      presenter.clearProgress();
      presenter.flush();

      const errors = diagnostics.filter((d) => d.severity === 'error');
      const base = { aggregations: fin.all, lost: stream.lost, errors, diagnostics, stoppedBy };
      // A failure always carries at least one error, even when bpftrace said it some other way.
      const fail = (message: string): RunResult => ({
        ...base,
        exitCode: 1,
        message,
        errors: errors.length ? errors : [{ severity: 'error', message: message.replace(/^bpftrace failed: /, ''), raw: [] }],
      });
      if (startFailure !== null) return resolve(fail(startFailure));
      if (killedAfterTimeout) return resolve(fail(`bpftrace did not stop within ${Math.round((opts.killAfterMs ?? 5000) / 1000)} s of SIGINT and was killed`));
      if (forced) return resolve({ ...base, exitCode: 130, message: 'interrupted again: bpftrace was killed before printing its final aggregations' });
      if (code === 0) return resolve({ ...base, exitCode: 0 });
      // Replaced while it was still starting (its SIGINT handler not yet set): it had nothing to report.
      if (code === null && stoppedBy === 'detach' && !attachedFired) return resolve({ ...base, exitCode: 0 });
      if (code === null) return resolve(fail(`bpftrace was killed by ${sig ?? 'a signal'}`));
      const first = errors[0] ?? [...diagnostics].reverse().find((d) => d.severity === 'info');
      return resolve(fail(first ? `bpftrace failed: ${first.message.replace(/\.$/, '')}` : `bpftrace exited with status ${code}`));
    }

    function cleanup(): void {
      for (const t of timers) clearTimeout(t);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      stdoutEmitter.off?.('error', onOutError);
      opts.signal?.removeEventListener('abort', onAbort);
      opts.detach?.removeEventListener('abort', onDetach);
    }
  });
}

/** Shown aggregations with the carried ones added: a snapshot shows every aggregation, a printa or print only its own. */
function addCarried(carried: readonly Aggregation[], aggs: readonly Aggregation[], all: boolean): Aggregation[] {
  if (all) return mergeByName([carried, aggs]);
  return aggs.map((a) => {
    const c = carried.find((x) => x.name === a.name);
    return c && c.kind === a.kind && c.func === a.func ? merge(c, a) : a;
  });
}

/** The exit-time result with the carried aggregations: an aggregation only earlier runs saw is shown too. */
function finalWithCarried(fin: FinalResult, carried: readonly Aggregation[], printedAtEnd: readonly string[]): FinalResult {
  if (carried.length === 0) return fin;
  const all = mergeByName([carried, fin.all]);
  const had = new Set(fin.all.map((a) => a.name));
  const shownNames = new Set(fin.shown.map((a) => a.name));
  const printed = new Set(printedAtEnd);
  const names = new Set(all.map((a) => a.name));
  return {
    all,
    shown: [...all.filter((a) => shownNames.has(a.name) || (!had.has(a.name) && !printed.has(a.name))), ...fin.shown.filter((a) => !names.has(a.name))],
  };
}

// One attachment of the session: a bpftrace run of the current program (runner/session.ts's
// runProgram) that renders nothing by itself. Interval snapshots go to the caller, the
// exit-time aggregations come back in RunResult.aggregations when it is stopped (SIGINT,
// as Ctrl-C: bpftrace prints its maps), and a traced target that stops ends it.

import type { CompiledProgram } from '../compiler/program.js';
import type { Aggregation } from '../runner/aggregate.js';
import type { BpftraceInfo } from '../runner/bpftrace.js';
import type { OutStream } from '../runner/presenter.js';
import { runProgram, type RunResult } from '../runner/session.js';
import { watchTargets, type ResolvedTarget } from '../runner/targets/index.js';

export interface LiveOptions {
  readonly bpftrace: BpftraceInfo;
  readonly env: NodeJS.ProcessEnv;
  /** Where the program's own output (printf, printa) goes. */
  readonly stdout: OutStream;
  readonly stderr: OutStream;
  readonly targets: readonly ResolvedTarget[];
  readonly onSnapshot: (aggregations: readonly Aggregation[]) => void;
  readonly onTargetGone: (reason: string) => void;
}

/** One attachment of the session, wherever it runs (here: LiveRun; through helpers: HelperRun). */
export interface Attachment {
  readonly program: CompiledProgram;
  /** True once every probe is attached; false if the run ended before. */
  readonly attached: Promise<boolean>;
  readonly done: Promise<RunResult>;
  /** Set when the session asked it to stop (not an unexpected end). */
  readonly stopRequested: boolean;
  /** Stops bpftrace (SIGINT: it prints its maps) and resolves with the run's result. */
  stop(): Promise<RunResult>;
  /** Resolves at the next snapshot (true), or false on timeout, abort or the run's end. */
  nextSnapshot(timeoutMs: number, signal?: AbortSignal): Promise<boolean>;
}

export class LiveRun implements Attachment {
  /** True once every probe is attached; false if the run ended before. */
  readonly attached: Promise<boolean>;
  readonly done: Promise<RunResult>;
  /** Set when the session asked it to stop (not an unexpected end). */
  stopRequested = false;
  private readonly ctl = new AbortController();
  private waiters: (() => void)[] = [];

  constructor(
    readonly program: CompiledProgram,
    o: LiveOptions,
  ) {
    let attachedNow: (v: boolean) => void = () => undefined;
    this.attached = new Promise<boolean>((r) => (attachedNow = r));
    const unwatch = o.targets.length
      ? watchTargets(o.targets, (_t, reason) => {
          o.onTargetGone(reason);
          this.ctl.abort();
        })
      : () => undefined;
    this.done = runProgram(program, {
      signal: this.ctl.signal,
      bpftrace: o.bpftrace,
      output: 'table',
      stdout: o.stdout,
      stderr: o.stderr,
      env: o.env,
      progress: false,
      handleSignals: false,
      renderFinal: false,
      onAttached: () => attachedNow(true),
      onSnapshot: (aggs) => {
        o.onSnapshot(aggs);
        const w = this.waiters;
        this.waiters = [];
        for (const f of w) f();
      },
    }).finally(() => {
      unwatch();
      attachedNow(false);
      const w = this.waiters;
      this.waiters = [];
      for (const f of w) f();
    });
  }

  /** Stops bpftrace (SIGINT: it prints its maps) and resolves with the run's result. */
  stop(): Promise<RunResult> {
    this.stopRequested = true;
    this.ctl.abort();
    return this.done;
  }

  /** Resolves at the next snapshot (true), or false on timeout, abort or the run's end. */
  nextSnapshot(timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    return new Promise((resolve) => {
      let settled = false;
      const finish = (v: boolean) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        resolve(v);
      };
      const onAbort = () => finish(false);
      const timer = setTimeout(() => finish(false), timeoutMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(() => finish(true));
    });
  }
}

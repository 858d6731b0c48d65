// The session through helpers: `trace repl -H HOST...`, or a user who is not root on this
// machine (its helper, through sudo). Each clause is compiled by the first host's helper
// (compile only: its targets, its bpftrace, its policy), and each attachment is one helper run
// per host (one audit line each), their interval snapshots and final aggregations merged as a
// fleet run merges them (aggregate.ts's mergeByName). The session's store keeps the data across
// attachments exactly as for a local session.

import type { CompiledProgram } from '../compiler/program.js';
import type { RunRequest } from '../helper/protocol.js';
import type { Aggregation } from '../runner/aggregate.js';
import { mergeByName } from '../runner/aggregate.js';
import { hostName, perHost } from '../runner/fleet.js';
import { openRun } from '../runner/helper-client.js';
import type { OutStream } from '../runner/presenter.js';
import { runProgram, type RunResult } from '../runner/session.js';
import type { Transport } from '../runner/transport/types.js';
import { targetRequest, type CompileOutcome, type TargetSpec } from './compile.js';
import type { Attachment } from './live.js';

export interface HelperRunOptions {
  /** Where the program's own output goes (lines marked `[host] ` when there are several hosts). */
  readonly stdout: OutStream;
  readonly stderr: OutStream;
  readonly env: NodeJS.ProcessEnv;
  readonly onSnapshot: (aggregations: readonly Aggregation[]) => void;
  /** One sentence about one host: it failed, refused, or its target stopped. */
  readonly onHostMessage: (message: string) => void;
}

const SESSION_NAME = '<session>';

export class HelperSession {
  private last: { key: string; outcome: Promise<CompileOutcome> } | null = null;

  constructor(
    readonly transports: readonly Transport[],
    private readonly hostPids: boolean,
    private readonly destructive: boolean,
  ) {}

  /** "h1, h2" (or "this machine's helper"). */
  get where(): string {
    return this.transports.length === 1 && this.transports[0]!.label === 'local' ? "this machine's helper" : this.transports.map((t) => t.label).join(', ');
  }

  private request(spec: TargetSpec, text: string, intervalMs: number | null): Omit<RunRequest, 'v' | 'op'> {
    return { program: { name: SESSION_NAME, text }, args: [], targets: targetRequest(spec, this.hostPids), intervalMs, quiet: false, destructive: this.destructive };
  }

  /** The program compiled by the first host's helper, without running it (the last answer is reused). */
  compile(spec: TargetSpec, text: string, intervalMs: number | null): Promise<CompileOutcome> {
    const key = JSON.stringify([spec, text, intervalMs]);
    if (this.last?.key === key) return this.last.outcome;
    const t = this.transports[0]!;
    const outcome = openRun(t, { ...this.request(spec, text, intervalMs), emitOnly: true, host: hostName(t.label) }).then((o): CompileOutcome => {
      if (o.ok) {
        o.process.kill();
        return { ok: true, program: o.program, diagnostics: o.diagnostics };
      }
      const many = this.transports.length > 1;
      return { ok: false, diagnostics: o.diagnostics, ...(o.message !== undefined ? { message: many ? `${t.label}: ${o.message}` : o.message } : {}) };
    });
    // A failure (a host that could not be reached) is asked again next time.
    this.last = { key, outcome };
    void outcome.then((o) => {
      if (!o.ok && o.message !== undefined && this.last?.outcome === outcome) this.last = null;
    });
    return outcome;
  }

  /** Runs `program`'s text on every host. */
  start(program: CompiledProgram, spec: TargetSpec, text: string, intervalMs: number | null, o: HelperRunOptions): HelperRun {
    return new HelperRun(program, this.transports, this.request(spec, text, intervalMs), o);
  }

  /** Ends every connection (and any helper still running on it). */
  close(): void {
    for (const t of this.transports) t.close();
  }
}

/** One attachment on every host: what LiveRun is for a local session. */
export class HelperRun implements Attachment {
  readonly attached: Promise<boolean>;
  readonly done: Promise<RunResult>;
  stopRequested = false;
  private readonly ctl = new AbortController();
  /** Each host's latest snapshot (an ended host's: its final aggregations); merged once every running host has sent one. */
  private readonly latest = new Map<string, readonly Aggregation[]>();
  private readonly live = new Set<string>();
  /** :print's waits: the hosts that have not sent a snapshot since it began waiting. */
  private waiters: { pending: Set<string>; done: (v: boolean) => void }[] = [];

  constructor(
    readonly program: CompiledProgram,
    transports: readonly Transport[],
    req: Omit<RunRequest, 'v' | 'op'>,
    private readonly o: HelperRunOptions,
  ) {
    const many = transports.length > 1;
    let settled = 0;
    let attachedHosts = 0;
    let attachedNow: (v: boolean) => void = () => undefined;
    this.attached = new Promise<boolean>((r) => (attachedNow = r));
    const settle = (attached: boolean) => {
      if (attached) attachedHosts++;
      if (++settled === transports.length) attachedNow(attachedHosts > 0);
    };
    /** Once per host: it attached, or ended (or failed) before it did. */
    const settleOnce = () => {
      let done = false;
      return (attached: boolean) => {
        if (!done) settle(attached);
        done = true;
      };
    };
    const say = (t: Transport, m: string) => o.onHostMessage(many ? `${t.label}: ${m}` : m);
    const stopped = new Promise<'stopped'>((r) => this.ctl.signal.addEventListener('abort', () => r('stopped'), { once: true }));

    const runs = transports.map(async (t): Promise<RunResult | 'failed' | 'stopped'> => {
      const hostSettled = settleOnce();
      const opening = openRun(t, { ...req, host: hostName(t.label) }, { onNotice: (m) => say(t, m) });
      const got = await Promise.race([opening, stopped]);
      if (got === 'stopped') {
        void opening.then((x) => (x.ok ? x.process.kill() : undefined));
        hostSettled(false);
        return 'stopped';
      }
      if (!got.ok || !got.bpftrace) {
        if (got.ok) got.process.kill();
        say(t, got.ok ? `bpftrace was not found on ${t.label}` : (got.message ?? 'the program does not compile there'));
        hostSettled(false);
        return 'failed';
      }
      this.live.add(t.label);
      const result = await runProgram(got.program, {
        bpftrace: got.bpftrace,
        process: got.process,
        output: 'table',
        stdout: many ? perHost(o.stdout, hostName(t.label), false) : o.stdout,
        stderr: o.stderr,
        env: o.env,
        signal: this.ctl.signal,
        handleSignals: false,
        progress: false,
        renderFinal: false,
        onAttached: () => hostSettled(true),
        onSnapshot: (aggs) => this.snapshot(t.label, aggs),
      });
      hostSettled(false);
      // An ended host's final aggregations stay in the merged tables; it holds no :print back.
      this.live.delete(t.label);
      this.snapshot(t.label, result.aggregations);
      if (result.exitCode !== 0 && result.message) say(t, result.message);
      return result;
    });
    this.done = Promise.all(runs).then((results) => {
      attachedNow(false);
      for (const w of this.waiters.splice(0)) w.done(false);
      return combined(results);
    });
  }

  private snapshot(host: string, aggs: readonly Aggregation[]): void {
    this.latest.set(host, aggs);
    for (const w of this.waiters) for (const h of w.pending) if (h === host || !this.live.has(h)) w.pending.delete(h);
    if (this.live.size === 0 || ![...this.live].every((h) => this.latest.has(h))) return;
    this.o.onSnapshot(mergeByName([...this.latest.values()]));
    this.waiters = this.waiters.filter((w) => {
      if (w.pending.size > 0) return true;
      w.done(true);
      return false;
    });
  }

  /** Stops bpftrace on every host (as Ctrl-C: each prints its maps); the merged result. */
  stop(): Promise<RunResult> {
    this.stopRequested = true;
    this.ctl.abort();
    return this.done;
  }

  /** Resolves once every running host has sent a snapshot (true), or false on timeout, abort or the run's end. */
  nextSnapshot(timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    return new Promise((resolve) => {
      let settled = false;
      const w = {
        pending: new Set(this.live),
        done: (v: boolean) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          resolve(v);
        },
      };
      const onAbort = () => w.done(false);
      const timer = setTimeout(() => w.done(false), timeoutMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      if (w.pending.size === 0) return w.done(false);
      this.waiters.push(w);
    });
  }
}

/** The hosts' results as one: aggregations merged, the first host's errors (all compile alike). */
function combined(results: readonly (RunResult | 'failed' | 'stopped')[]): RunResult {
  const ran = results.filter((r): r is RunResult => typeof r === 'object');
  const failed = ran.find((r) => r.exitCode !== 0);
  return {
    // A host stopped before it attached (Ctrl-C while attaching) did not fail.
    exitCode: failed || results.includes('failed') ? 1 : 0,
    aggregations: mergeByName(ran.map((r) => r.aggregations)),
    lost: ran.reduce((n, r) => n + r.lost, 0),
    errors: failed?.errors ?? [],
    diagnostics: ran.flatMap((r) => r.diagnostics),
    ...(failed?.message !== undefined ? { message: failed.message } : {}),
    stoppedBy: ran[0]?.stoppedBy ?? 'exit',
  };
}

// --follow: a traced container that stops is waited for, and traced again once a container of
// the same name runs again (`podman restart`, or rm + run under that name: a new PID, a new id),
// with the aggregations gathered so far carried into the new bpftrace's (session.ts's
// `carried`, merged as a fleet's hosts are).
//
// One bpftrace traces every target (its filter lists their mount namespaces), so a target
// that is back means a new bpftrace, compiled for the new facts (PID, namespaces, binary).
// The old one is stopped before the new one starts: the two never run at once, so no event is
// counted twice. While one target is away the others stay traced by the running bpftrace; they
// are not traced while bpftrace restarts (its start-up, under a second), and the reattach
// line says for how long. A -p process does not come back: it is dropped, and when nothing is
// left to trace or to wait for, the trace ends as without --follow.
//
// Every end keeps DTrace's Ctrl-C: the merged aggregations are printed once, whether a
// bpftrace is running (its END runs) or not (in a gap). --duration is wall time, gaps included.

import type { CompiledProgram } from '../compiler/program.js';
import type { Aggregation } from './aggregate.js';
import type { BpftraceInfo } from './bpftrace.js';
import { Presenter, type OutStream } from './presenter.js';
import { jsonLine } from './render/json.js';
import { runProgram, type RunOptions, type RunResult } from './session.js';
import { startedAgoMs } from './targets/proc.js';
import { waitForRestart, watchTargets, type ResolvedTarget } from './targets/index.js';

export interface FollowOptions {
  readonly bpftrace: BpftraceInfo;
  readonly output: 'table' | 'json';
  readonly stdout: OutStream;
  readonly stderr: OutStream;
  readonly env: NodeJS.ProcessEnv;
  /** Wall time, gaps included. */
  readonly durationMs: number | null;
  readonly quiet: boolean;
  readonly signal?: AbortSignal;
  /** Called once the first bpftrace has its probes attached. */
  readonly onAttached?: () => void;
  /** Compiles the program for the targets as they are now; an exit code when it cannot (it printed why). */
  readonly recompile: (targets: readonly ResolvedTarget[]) => Promise<CompiledProgram | { exitCode: number }>;
  /** How often targets are looked at, and a stopped one's runtime asked (default 300 ms). */
  readonly pollMs?: number;
  /** Runs one bpftrace (default runProgram); the helper's relays its lines to the CLI instead. */
  readonly run?: (compiled: CompiledProgram, opts: RunOptions) => Promise<RunResult>;
}

export interface FollowResult {
  readonly exitCode: number;
  /** The last bpftrace run, with every run's aggregations; null if it never ran. */
  readonly result: RunResult | null;
  /** The program the last bpftrace ran (its errors map through this one's source map). */
  readonly compiled: CompiledProgram;
}

interface Slot {
  target: ResolvedTarget;
  /** live: traced; away: stopped, waited for; back: running again, not yet traced; lost: a -p process that exited. */
  state: 'live' | 'away' | 'back' | 'lost';
  /** When it was seen stopped (Date.now()). */
  goneAt: number;
}

/** The targets to compile for: traced, or back and about to be. */
const running = (slots: readonly Slot[]) => slots.filter((s) => s.state === 'live' || s.state === 'back').map((s) => s.target);
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const nameOf = (t: ResolvedTarget) => (t.runtime === 'pid' ? `process ${t.hostPid}` : `container '${t.name}'`);

export async function followProgram(first: { compiled: CompiledProgram; targets: readonly ResolvedTarget[] }, o: FollowOptions): Promise<FollowResult> {
  const poll = o.pollMs ?? 300;
  const deadline = o.durationMs !== null ? Date.now() + o.durationMs : Infinity;
  const slots: Slot[] = first.targets.map((target) => ({ target, state: 'live', goneAt: 0 }));
  const json = o.output === 'json';
  /** The running bpftrace's way to print a line, in step with its redrawn snapshots; null between runs. */
  let inRunSay: ((line: string) => void) | null = null;
  const say = (line: string) => (inRunSay ? inRunSay(`trace: ${line}`) : o.stderr.write(`trace: ${line}\n`));
  const event = (e: Record<string, unknown>) => json && o.stdout.write(jsonLine(e));

  // Outside a bpftrace run (in a gap, or while compiling) Ctrl-C, SIGTERM, the caller's signal
  // and the deadline end the trace here; during a run, runProgram handles them.
  const ended = new AbortController();
  let inRun = false;
  const onSignal = () => !inRun && ended.abort();
  const onAbort = () => ended.abort();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  o.signal?.addEventListener('abort', onAbort, { once: true });
  const deadlineTimer = Number.isFinite(deadline) ? setTimeout(onAbort, Math.max(0, deadline - Date.now())) : undefined;
  // Stops the runtime polls of targets still away when the trace ends.
  const waits = new AbortController();

  /** Something changed (a target stopped, or is back): set by the current run or gap. */
  let changed = () => {};

  const gone = (s: Slot, reason: string) => {
    s.goneAt = Date.now();
    event({ type: 'detach', target: s.target.name, reason });
    if (s.target.runtime === 'pid') {
      s.state = 'lost';
      say(`${reason}${slots.some((x) => x.state !== 'lost') ? '; the other targets are still followed' : '; ending the trace'}`);
    } else {
      s.state = 'away';
      say(`${reason}; waiting for it to come back (--follow)`);
      void waitForRestart(s.target, deadline - Date.now(), { intervalMs: poll, signal: waits.signal, env: o.env }).catch(() => null).then((t) => {
        if (!t || ended.signal.aborted) return;
        s.target = t;
        s.state = 'back';
        changed();
      });
    }
    changed();
  };

  const reattached = (returning: readonly Slot[], others: readonly Slot[], restartedAt: number) => {
    const now = Date.now();
    for (const s of returning) {
      const ago = s.target.startTime !== undefined ? startedAgoMs(s.target.startTime) : null;
      say(`${nameOf(s.target)} is back (PID ${s.target.hostPid}); reattached after ${seconds(now - s.goneAt)}${ago !== null ? `, ${seconds(ago)} after it started` : ''}; events in the gap were not seen`);
      event({ type: 'reattach', target: s.target.name, id: s.target.id, pid: s.target.hostPid, gapMs: now - s.goneAt, ...(ago !== null ? { sinceStartMs: ago } : {}) });
    }
    if (others.length) say(`${others.map((s) => `'${s.target.name}'`).join(', ')} ${others.length > 1 ? 'were' : 'was'} not traced for the ${seconds(now - restartedAt)} bpftrace took to restart`);
  };

  let compiled = first.compiled;
  let carried: readonly Aggregation[] = [];
  let last: RunResult | null = null;
  const finish = (exitCode: number, renderCarried: boolean): FollowResult => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    o.signal?.removeEventListener('abort', onAbort);
    clearTimeout(deadlineTimer);
    waits.abort();
    // No bpftrace printed them (the trace ended while none ran): every one is shown, END never ran.
    if (renderCarried) new Presenter(compiled, { output: o.output, stdout: o.stdout, stderr: o.stderr, env: o.env, progress: false }).final(carried);
    return { exitCode, result: last, compiled };
  };

  let restartedAt = 0;
  for (let run = 0; ; run++) {
    const returning = slots.filter((s) => s.state === 'back');
    for (const s of returning) s.state = 'live';
    const live = slots.filter((s) => s.state === 'live');
    const others = run === 0 ? [] : live.filter((s) => !returning.includes(s));
    // Replaced when nothing it traces is running any more, or when a stopped target is back.
    const detach = new AbortController();
    changed = () => {
      if (slots.some((s) => s.state === 'back') || !slots.some((s) => s.state === 'live')) detach.abort();
    };
    const unwatch = watchTargets(
      live.map((s) => s.target),
      (t, reason) => gone(live.find((s) => s.target === t)!, reason),
      { intervalMs: poll },
    );
    inRun = true;
    const result = await (o.run ?? runProgram)(compiled, {
      bpftrace: o.bpftrace,
      output: o.output,
      stdout: o.stdout,
      stderr: o.stderr,
      env: o.env,
      progress: !o.quiet,
      carried,
      detach: detach.signal,
      ...(o.signal ? { signal: o.signal } : {}),
      ...(Number.isFinite(deadline) ? { durationMs: Math.max(0, deadline - Date.now()) } : {}),
      onStart: (r) => (inRunSay = (line) => r.message(line)),
      onAttached: () => (run === 0 ? o.onAttached?.() : reattached(returning, others, restartedAt)),
    }).finally(() => {
      inRun = false;
      inRunSay = null;
      unwatch();
    });
    last = result;
    carried = result.aggregations;
    // Ended by itself (Ctrl-C, duration, bpftrace exited or failed): it printed the final tables.
    if (!detach.signal.aborted) return finish(result.exitCode, false);
    // Replaced, unless the trace ended meanwhile or the bpftrace did not stop cleanly.
    if (result.exitCode !== 0) return finish(result.exitCode, true);
    if (result.stoppedBy === 'signal' || ended.signal.aborted || Date.now() >= deadline) return finish(0, true);
    restartedAt = Date.now();

    // The gap: until a target is back, then compiled for the targets running; again if they
    // changed meanwhile (another came back, or one stopped while it compiled).
    for (;;) {
      await new Promise<void>((resolve) => {
        const check = () => {
          if (ended.signal.aborted || slots.some((s) => s.state === 'back') || slots.every((s) => s.state === 'lost')) resolve();
        };
        changed = check;
        ended.signal.addEventListener('abort', check, { once: true });
        check();
      });
      changed = () => {};
      if (ended.signal.aborted || !slots.some((s) => s.state === 'back')) return finish(0, true);
      const want = running(slots);
      const next = await o.recompile(want);
      if ('exitCode' in next) return finish(next.exitCode, true);
      if (ended.signal.aborted) return finish(0, true);
      compiled = next;
      const now = running(slots);
      if (now.length === want.length && now.every((t, i) => t === want[i])) break;
    }
  }
}

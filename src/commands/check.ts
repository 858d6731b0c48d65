// `trace check [-c NAME|-p PID] [--run CMD] [--duration T] [--expect EXPR]... PROGRAM`:
// compile a program, trace while a command (the user's load test) runs or for a while, then
// judge expectations on the aggregations: `p99(@lat) < 20ms`, `count(@errors) == 0`.
//
// Exit codes: 0 every expectation passed; 1 one failed (or, with --fail-on-run, the command
// exited non-zero); 2 an error: the program, an expectation or the command line is wrong, the
// target is missing or went away, bpftrace failed, or an expectation could not be evaluated
// (its aggregation received no events).

import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { performance } from 'node:perf_hooks';
import { Writable } from 'node:stream';
import { checkExpectation, evaluateExpectation, parseExpectation, type Expectation } from '../check/expect.js';
import { junitXml } from '../check/junit.js';
import { exitCodeOf, renderVerdicts, reportJson, type CheckReport, type RunOutcome } from '../check/report.js';
import { COMMAND_LINE, Source } from '../lang/source.js';
import { colorEnabled } from '../runner/render/color.js';
import type { RunResult } from '../runner/session.js';
import { chalkFor, fail, printDiagnostics, type Streams } from './output.js';
import { executeRun, prepareRun, type Prepared, type TargetRequest } from './run.js';

export interface CheckOptions {
  /** Program text given with -e, or undefined to take it from the first positional. */
  readonly expr?: string;
  readonly positionals: readonly string[];
  readonly targets?: TargetRequest;
  readonly bpftrace?: string;
  readonly destructive: boolean;
  /** A shell command line to run once the probes are attached; the trace ends when it exits. */
  readonly run?: string;
  /** Trace this long (from attachment); with `run`, at most this long. */
  readonly durationMs: number | null;
  /** --expect texts, in order; the program's `#pragma ctrace expect` lines come first. */
  readonly expects: readonly string[];
  /** Write a JUnit XML report here. */
  readonly junit?: string;
  readonly output: 'table' | 'json';
  readonly failOnRun: boolean;
  /** Only the verdicts: not the run's own output (aggregations, printf). */
  readonly quiet: boolean;
}

/** How long the --run command gets after SIGTERM (when the trace ends first) before SIGKILL. */
const RUN_KILL_AFTER_MS = 3000;

export const EXPECT_SOURCE = '--expect';

/** Parses --expect texts and the program's pragmas; prints diagnostics. Null when any is wrong. */
function parseAll(texts: readonly string[], prepared: Prepared | null, io: Streams): Expectation[] | null {
  const out: Expectation[] = [];
  let ok = true;
  const take = (source: Source, span?: { start: number; end: number }) => {
    const r = parseExpectation(source, span);
    if (r.diagnostics.length) {
      printDiagnostics(r.diagnostics, source, io);
      ok = false;
    } else if (r.expectation) out.push(r.expectation);
  };
  if (prepared) for (const e of prepared.compiled.expectations) take(prepared.source, e.span);
  else for (const t of texts) take(new Source(EXPECT_SOURCE, t));
  return ok ? out : null;
}

interface CommandRun {
  readonly child: ChildProcess;
  /** Resolves when the command's process exits (its output may still be draining). */
  readonly exited: Promise<RunOutcome>;
  /** SIGTERM to its process group, SIGKILL after a grace period; resolves when it has exited. */
  stop(): Promise<void>;
}

/**
 * Runs the user's --run command line with `sh -c`: it is their own command (a load test, like
 * `npm run load`), given as a shell command line on purpose. It runs in its own process group
 * so that it, and whatever it starts, can be stopped together. Its output goes to our stderr,
 * keeping stdout for the verdicts.
 */
function startCommand(command: string, io: Streams): CommandRun {
  const t0 = performance.now();
  const child = spawn('sh', ['-c', command], { stdio: ['ignore', 'pipe', 'pipe'], detached: true, env: io.env });
  child.stdout?.on('data', (d: Buffer) => io.stderr.write(d));
  child.stderr?.on('data', (d: Buffer) => io.stderr.write(d));
  let exited = false;
  let stoppedByUs = false;
  const killGroup = (sig: NodeJS.Signals) => {
    if (child.pid === undefined) return;
    try {
      process.kill(-child.pid, sig);
    } catch {
      // gone already
    }
  };
  // It must not outlive us.
  const onExit = () => killGroup('SIGKILL');
  process.on('exit', onExit);
  const done = new Promise<RunOutcome>((resolve) => {
    child.on('error', (e) => {
      exited = true;
      process.off('exit', onExit);
      resolve({ command, exitCode: null, signal: null, stoppedBy: null, durationMs: performance.now() - t0, spawnError: e.message });
    });
    child.on('exit', (code, signal) => {
      exited = true;
      process.off('exit', onExit);
      // Anything it left running in its group (a backgrounded load generator) goes with it.
      killGroup('SIGTERM');
      resolve({ command, exitCode: code, signal, stoppedBy: stoppedByUs ? 'trace-ended' : null, durationMs: performance.now() - t0 });
    });
  });
  return {
    child,
    exited: done,
    stop: async () => {
      if (exited) return;
      stoppedByUs = true;
      killGroup('SIGTERM');
      const t = setTimeout(() => killGroup('SIGKILL'), RUN_KILL_AFTER_MS);
      await done;
      clearTimeout(t);
    },
  };
}

/** Collects the run's NDJSON output (-o json) to embed it in the report. */
class Collector extends Writable {
  text = '';
  override _write(chunk: Buffer | string, _enc: BufferEncoding, cb: () => void): void {
    this.text += chunk.toString();
    cb();
  }
}

class Sink extends Writable {
  override _write(_chunk: unknown, _enc: BufferEncoding, cb: () => void): void {
    cb();
  }
}

interface TraceOutcome {
  readonly result: RunResult;
  /** From attachment to the stop, ms; null when the probes never attached. */
  readonly windowMs: number | null;
  readonly startedAt: Date;
  readonly run: RunOutcome | null;
  /** Why the check cannot be trusted, when it cannot. */
  readonly error?: string;
}

/**
 * Runs the prepared program; once its probes are attached starts the --run command and the
 * --duration clock; stops the trace when the command exits or the clock runs out. As
 * executeRun (run.ts), plus the attachment hook, the command and the measured window.
 */
async function traceWhile(p: Prepared, opts: CheckOptions, io: Streams, stdout: NodeJS.WritableStream & { isTTY?: boolean }): Promise<TraceOutcome> {
  if (!p.bpftrace) throw new Error('no bpftrace to run with');
  const stop = new AbortController();
  let attachedAt: number | null = null;
  let stoppedAt: number | null = null;
  let startedAt = new Date();
  let reason: 'run-exited' | 'duration' | 'target-gone' | null = null;
  let goneMessage: string | null = null;
  let command: CommandRun | null = null;
  let timer: NodeJS.Timeout | undefined;
  const end = (why: 'run-exited' | 'duration' | 'target-gone') => {
    if (stoppedAt === null) stoppedAt = performance.now();
    reason ??= why;
    stop.abort();
  };
  const onAttached = () => {
    attachedAt = performance.now();
    startedAt = new Date();
    if (opts.durationMs !== null) timer = setTimeout(() => end('duration'), opts.durationMs);
    if (opts.run !== undefined) {
      io.stderr.write(`${chalkFor(io.stderr, io.env).dim(`trace check: probes attached; running: ${opts.run}`)}\n`);
      command = startCommand(opts.run, io);
      void command.exited.then(() => end('run-exited'));
    }
  };

  const { exitCode, result: ran } = await executeRun(
    p,
    {
      output: opts.output,
      durationMs: null,
      quiet: false,
      signal: stop.signal,
      stdout,
      onAttached,
      onTargetGone: (why: string) => {
        goneMessage = why;
        end('target-gone');
      },
    },
    io,
  ).finally(() => clearTimeout(timer));
  if (!ran) throw new Error('no bpftrace to run with');
  const result = ran;
  stoppedAt ??= performance.now();

  let run: RunOutcome | null = null;
  const cmd = command as CommandRun | null;
  if (cmd) {
    await cmd.stop();
    const outcome = await cmd.exited;
    run = reason === 'duration' && outcome.stoppedBy === 'trace-ended' ? { ...outcome, stoppedBy: 'duration' } : outcome;
  }
  // executeRun printed bpftrace's errors (at the user's source where it could): 2 when it did.
  const bpftraceErrors = exitCode === 2;

  const windowMs = attachedAt !== null ? Math.max(0, stoppedAt - attachedAt) : null;
  let err: string | undefined;
  if (result.exitCode !== 0 || bpftraceErrors) err = result.message ?? 'bpftrace failed';
  else if (goneMessage !== null) err = `the trace ended early: ${goneMessage}`;
  else if (result.stoppedBy === 'signal' && opts.run !== undefined && run !== null && run.stoppedBy !== null) err = 'interrupted before the --run command finished';
  else if (opts.run !== undefined && attachedAt === null) err = 'the probes never attached, so the --run command was not started';
  return { result, windowMs, startedAt, run, ...(err !== undefined ? { error: err } : {}) };
}

export async function checkCommand(opts: CheckOptions, io: Streams): Promise<number> {
  // The command line's expectations first: a typo there costs no compile and no run.
  const fromOptions = parseAll(opts.expects, null, io);
  if (!fromOptions) return 2;

  const prepared = await prepareRun(
    {
      ...(opts.expr !== undefined ? { expr: opts.expr } : {}),
      positionals: opts.positionals,
      output: 'table',
      intervalMs: null,
      durationMs: null,
      emit: false,
      ...(opts.bpftrace !== undefined ? { bpftrace: opts.bpftrace } : {}),
      quiet: opts.quiet,
      destructive: opts.destructive,
      ...(opts.targets ? { targets: opts.targets } : {}),
    },
    io,
  );
  // Every failure before the run is an error of the check (exit 2), whatever `trace` says.
  if ('exitCode' in prepared) return prepared.exitCode === 0 ? 0 : 2;

  const fromPragmas = parseAll([], prepared, io);
  if (!fromPragmas) return 2;
  const expectations = [...fromPragmas, ...fromOptions];
  if (expectations.length === 0) {
    fail(io, 'nothing to check: give --expect EXPR (e.g. --expect "p99(@lat) < 20ms") or put #pragma ctrace expect EXPR in the program');
    return 2;
  }
  let bad = false;
  for (const e of expectations) {
    const diags = checkExpectation(e, prepared.compiled.aggregations);
    if (diags.length) {
      printDiagnostics(diags, e.source, io);
      bad = true;
    }
  }
  if (bad) return 2;
  if (opts.run === undefined && opts.durationMs === null) {
    io.stderr.write(`${chalkFor(io.stderr, io.env).dim('trace check: no --run or --duration: tracing until the program exits or Ctrl-C')}\n`);
  }

  const collector = new Collector();
  const stdout = opts.quiet ? new Sink() : opts.output === 'json' ? collector : io.stdout;
  const t = await traceWhile(prepared, opts, io, stdout);
  if (t.result.exitCode !== 0) {
    if (t.result.errors.length === 0 && t.result.message) fail(io, t.result.message);
    return 2;
  }

  const verdicts = expectations.map((e) => evaluateExpectation(e, { aggregations: t.result.aggregations, declared: prepared.compiled.aggregations, durationMs: t.windowMs }));
  for (const v of verdicts) {
    for (const c of v.comparisons) {
      if (c.diagnostic) printDiagnostics([c.diagnostic], v.expectation.source, io);
      else if (c.noEvents) fail(io, `warning: ${c.measure.replace(/^\w+\((.*)\)$/, '$1')} received no events, so ${c.measure} is 0`);
    }
  }
  const report: CheckReport = {
    program: prepared.source.name === COMMAND_LINE ? prepared.source.text : prepared.source.name,
    oneLiner: prepared.source.name === COMMAND_LINE,
    verdicts,
    run: t.run,
    failOnRun: opts.failOnRun,
    durationMs: t.windowMs,
    startedAt: t.startedAt,
    ...(t.error !== undefined ? { error: t.error } : {}),
  };
  if (t.error !== undefined) fail(io, t.error);

  if (opts.output === 'json') {
    const events = collector.text
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as unknown);
    const json = reportJson(report, { ...(opts.quiet ? {} : { trace: events }) });
    io.stdout.write(JSON.stringify(json, null, 2) + '\n');
  } else {
    const colors = { enabled: colorEnabled(io.stdout, io.env) };
    io.stdout.write((opts.quiet ? '' : '\n') + renderVerdicts(report, colors));
  }

  if (opts.junit !== undefined) {
    try {
      writeFileSync(opts.junit, junitXml(report, { hostname: hostname() }));
    } catch (e) {
      fail(io, `cannot write the JUnit report to ${opts.junit}: ${(e as Error).message}`);
      return 2;
    }
  }
  const failedRun = t.run && t.run.exitCode !== 0 && t.run.stoppedBy === null && t.run.spawnError === undefined && !opts.failOnRun;
  if (failedRun) fail(io, `warning: the --run command ${t.run.exitCode === null ? `was ended by ${t.run.signal ?? 'a signal'}` : `exited with status ${t.run.exitCode}`} (use --fail-on-run to fail the check on it)`);
  return exitCodeOf(report);
}


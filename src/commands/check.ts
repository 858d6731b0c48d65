// `trace check [-c NAME|-p PID] [-H HOST]... [--run CMD] [--duration T] [--expect EXPR]... PROGRAM`:
// compile a program, trace while a command (the user's load test) runs or for a while, then
// judge expectations on the aggregations: `p99(@lat) < 20ms`, `count(@errors) == 0`. As root
// on this machine the trace runs in this process; with -H, or as another user, through the
// helpers, and the verdicts judge the hosts' merged aggregations (the command runs here).
//
// Exit codes: 0 every expectation passed; 1 one failed (or, with --fail-on-run, the command
// exited non-zero); 2 an error: the program, an expectation or the command line is wrong, the
// target is missing or went away, bpftrace failed, a helper is missing, refused or failed, or
// an expectation could not be evaluated (its aggregation received no events).

import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { performance } from 'node:perf_hooks';
import { Writable } from 'node:stream';
import { checkExpectation, evaluateExpectation, parseExpectation, type Expectation } from '../check/expect.js';
import { junitXml } from '../check/junit.js';
import { exitCodeOf, renderVerdicts, reportJson, type CheckReport, type RunOutcome } from '../check/report.js';
import type { CompiledProgram } from '../compiler/program.js';
import { hasErrors } from '../lang/diagnostics.js';
import { parse } from '../lang/parse.js';
import { COMMAND_LINE, Source } from '../lang/source.js';
import type { Aggregation } from '../runner/aggregate.js';
import { hostName, runFleet } from '../runner/fleet.js';
import { openRun } from '../runner/helper-client.js';
import { colorEnabled } from '../runner/render/color.js';
import { chalkFor, fail, printDiagnostics, type Streams } from './output.js';
import { executeRun, helperTransports, loadProgram, needsLocalHelper, prepareRun, reportBpftraceErrors, type Prepared, type RemoteOptions, type TargetRequest } from './run.js';

export interface CheckOptions {
  /** Program text given with -e, or undefined to take it from the first positional. */
  readonly expr?: string;
  readonly positionals: readonly string[];
  readonly targets?: TargetRequest;
  /** --host specs (and --hosts file lines): trace on each through its helper, over SSH. */
  readonly hosts?: readonly string[];
  readonly ssh?: RemoteOptions;
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
function parseAll(texts: readonly string[], prepared: Pick<Prepared, 'source' | 'compiled'> | null, io: Streams): Expectation[] | null {
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
  readonly aggregations: readonly Aggregation[];
  /** From attachment to the stop, ms; null when the probes never attached. */
  readonly windowMs: number | null;
  readonly startedAt: Date;
  readonly run: RunOutcome | null;
  /** Why the check cannot be trusted, when it cannot. */
  readonly error?: string;
}

type EndReason = 'run-exited' | 'duration' | 'target-gone';

/**
 * The traced window, wherever the trace runs: once the probes are attached it starts the
 * --run command and the --duration clock, and `stop` is aborted when the command exits or the
 * clock runs out (the caller then stops the trace).
 */
class TraceWindow {
  readonly stop = new AbortController();
  private attachedAt: number | null = null;
  private stoppedAt: number | null = null;
  startedAt = new Date();
  reason: EndReason | null = null;
  private command: CommandRun | null = null;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly opts: CheckOptions,
    private readonly io: Streams,
  ) {
    if (opts.run === undefined && opts.durationMs === null) {
      io.stderr.write(`${chalkFor(io.stderr, io.env).dim('trace check: no --run or --duration: tracing until the program exits or Ctrl-C')}\n`);
    }
  }

  readonly onAttached = (): void => {
    this.attachedAt = performance.now();
    this.startedAt = new Date();
    if (this.opts.durationMs !== null) this.timer = setTimeout(() => this.end('duration'), this.opts.durationMs);
    if (this.opts.run !== undefined) {
      this.io.stderr.write(`${chalkFor(this.io.stderr, this.io.env).dim(`trace check: probes attached; running: ${this.opts.run}`)}\n`);
      this.command = startCommand(this.opts.run, this.io);
      void this.command.exited.then(() => this.end('run-exited'));
    }
  };

  end(why: EndReason): void {
    if (this.stoppedAt === null) this.stoppedAt = performance.now();
    this.reason ??= why;
    this.stop.abort();
  }

  /** After the trace ended: the command stopped (if still running), its outcome and the window. */
  async finish(): Promise<{ windowMs: number | null; run: RunOutcome | null }> {
    clearTimeout(this.timer);
    this.stoppedAt ??= performance.now();
    let run: RunOutcome | null = null;
    if (this.command) {
      await this.command.stop();
      const outcome = await this.command.exited;
      run = this.reason === 'duration' && outcome.stoppedBy === 'trace-ended' ? { ...outcome, stoppedBy: 'duration' } : outcome;
    }
    return { windowMs: this.attachedAt !== null ? Math.max(0, this.stoppedAt - this.attachedAt) : null, run };
  }

  /** Why the window cannot be trusted though the trace itself ran, if so. */
  problem(interrupted: boolean, run: RunOutcome | null): string | undefined {
    if (interrupted && this.opts.run !== undefined && run !== null && run.stoppedBy !== null) return 'interrupted before the --run command finished';
    if (this.opts.run !== undefined && this.attachedAt === null) return 'the probes never attached, so the --run command was not started';
    return undefined;
  }
}

/**
 * Runs the prepared program in this process, within the window; stops the trace when the
 * command exits or the clock runs out. An exit code when the run failed (its errors printed).
 */
async function traceLocally(p: Prepared, opts: CheckOptions, io: Streams, stdout: NodeJS.WritableStream & { isTTY?: boolean }): Promise<TraceOutcome | { exitCode: number }> {
  const w = new TraceWindow(opts, io);
  let goneMessage: string | null = null;
  const { exitCode, result } = await executeRun(
    p,
    {
      output: opts.output,
      durationMs: null,
      quiet: false,
      signal: w.stop.signal,
      stdout,
      onAttached: w.onAttached,
      onTargetGone: (why: string) => {
        goneMessage = why;
        w.end('target-gone');
      },
    },
    io,
  );
  if (!result) throw new Error('no bpftrace to run with');
  const { windowMs, run } = await w.finish();
  // executeRun printed bpftrace's errors (at the user's source where it could): 2 when it did.
  if (result.exitCode !== 0) {
    if (result.errors.length === 0 && result.message) fail(io, result.message);
    return { exitCode: 2 };
  }
  const err = exitCode === 2 ? (result.message ?? 'bpftrace failed') : goneMessage !== null ? `the trace ended early: ${goneMessage}` : w.problem(result.stoppedBy === 'signal', run);
  return { aggregations: result.aggregations, windowMs, startedAt: w.startedAt, run, ...(err !== undefined ? { error: err } : {}) };
}

/**
 * The check through helpers: the program runs on each --host (or on this machine's helper,
 * through sudo), under each one's policy, and the verdicts judge the hosts' aggregations
 * merged as a fleet run merges them (all hosts compile alike: the first one's program is
 * the one the expectations are checked against). The --run command runs here, on the client, once every
 * host has attached. A host that fails makes the merged data incomplete: an error (exit 2).
 */
async function checkViaHelpers(opts: CheckOptions, fromOptions: readonly Expectation[], io: Streams, stdout: NodeJS.WritableStream & { isTTY?: boolean }): Promise<{ traced: TraceOutcome; source: Source; expectations: Expectation[]; declared: CompiledProgram['aggregations'] } | { exitCode: number }> {
  const loaded = loadProgram(opts);
  if ('error' in loaded) {
    fail(io, loaded.error);
    return { exitCode: 2 };
  }
  const { source, args } = loaded;
  const parsed = parse(source);
  if (hasErrors(parsed.diagnostics)) {
    printDiagnostics(parsed.diagnostics, source, io);
    return { exitCode: 2 };
  }
  const transports = await helperTransports(opts, io);
  if (!Array.isArray(transports)) return { exitCode: 2 };

  // The program is compiled by the first host's helper first, without running, so that the
  // program's and the expectations' errors are shown before anything runs anywhere.
  const many = transports.length > 1;
  const req = { program: { name: source.name, text: source.text }, args, ...(opts.targets ? { targets: opts.targets } : {}), intervalMs: null, quiet: opts.quiet, destructive: opts.destructive };
  const first = transports[0]!;
  const emitted = await openRun(first, { ...req, emitOnly: true, host: hostName(first.label) });
  printDiagnostics(emitted.diagnostics, source, io);
  if (!emitted.ok) {
    if (emitted.message !== undefined) fail(io, many ? `${first.label}: ${emitted.message}` : emitted.message);
    for (const t of transports) t.close();
    return { exitCode: 2 };
  }
  emitted.process.kill();
  const compiled = emitted.program;
  const expectations = judgeable(compiled, source, fromOptions, io);
  if (!expectations) {
    for (const t of transports) t.close();
    return { exitCode: 2 };
  }

  const w = new TraceWindow(opts, io);
  // runFleet stops every host on Ctrl-C or SIGTERM; the check must know it was interrupted.
  let interrupted = false;
  const onSignal = () => void (interrupted = true);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const fleet = await runFleet(transports, req, {
    output: opts.output,
    durationMs: null,
    quiet: opts.quiet,
    stdout,
    stderr: io.stderr,
    env: io.env,
    signal: w.stop.signal,
    onHostMessage: (host, m) => fail(io, many ? `${host}: ${m}` : m),
    onAttached: (attached) => {
      if (attached > 0) w.onAttached();
    },
  }).finally(() => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  });
  const { windowMs, run } = await w.finish();
  const firstRun = fleet.hosts.find((h) => h.result && h.result.errors.length);
  if (firstRun?.result && reportBpftraceErrors(firstRun.result, compiled, source, io) && fleet.hosts.every((h) => h.exitCode !== 0)) return { exitCode: 2 };
  const failed = fleet.hosts.filter((h) => h.exitCode !== 0);
  if (failed.length === fleet.hosts.length) return { exitCode: 2 };
  const err = failed.length
    ? `${failed.map((h) => h.host).join(', ')} did not report, so the merged aggregations are incomplete`
    : w.problem(interrupted, run);
  return {
    traced: { aggregations: fleet.aggregations, windowMs, startedAt: w.startedAt, run, ...(err !== undefined ? { error: err } : {}) },
    source,
    expectations,
    declared: compiled.aggregations,
  };
}

/**
 * The program's #pragma expectations, then the command line's, each checked against the
 * program's aggregations; their diagnostics printed. Null when any is wrong or there is none.
 */
function judgeable(compiled: CompiledProgram, source: Source, fromOptions: readonly Expectation[], io: Streams): Expectation[] | null {
  const fromPragmas = parseAll([], { source, compiled }, io);
  if (!fromPragmas) return null;
  const expectations = [...fromPragmas, ...fromOptions];
  if (expectations.length === 0) {
    fail(io, 'nothing to check: give --expect EXPR (e.g. --expect "p99(@lat) < 20ms") or put #pragma ctrace expect EXPR in the program');
    return null;
  }
  let bad = false;
  for (const e of expectations) {
    const diags = checkExpectation(e, compiled.aggregations);
    if (diags.length) {
      printDiagnostics(diags, e.source, io);
      bad = true;
    }
  }
  return bad ? null : expectations;
}

export async function checkCommand(opts: CheckOptions, io: Streams): Promise<number> {
  // The command line's expectations first: a typo there costs no compile and no run.
  const fromOptions = parseAll(opts.expects, null, io);
  if (!fromOptions) return 2;

  const collector = new Collector();
  const stdout = opts.quiet ? new Sink() : opts.output === 'json' ? collector : io.stdout;

  let source: Source;
  let expectations: Expectation[];
  let declared: CompiledProgram['aggregations'];
  let t: TraceOutcome;
  if (opts.hosts?.length || needsLocalHelper()) {
    const r = await checkViaHelpers(opts, fromOptions, io, stdout);
    if ('exitCode' in r) return r.exitCode;
    ({ source, expectations, declared, traced: t } = r);
  } else {
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
    const judged = judgeable(prepared.compiled, prepared.source, fromOptions, io);
    if (!judged) return 2;
    const r = await traceLocally(prepared, opts, io, stdout);
    if ('exitCode' in r) return r.exitCode;
    [source, expectations, declared, t] = [prepared.source, judged, prepared.compiled.aggregations, r];
  }

  const verdicts = expectations.map((e) => evaluateExpectation(e, { aggregations: t.aggregations, declared, durationMs: t.windowMs }));
  for (const v of verdicts) {
    for (const c of v.comparisons) {
      if (c.diagnostic) printDiagnostics([c.diagnostic], v.expectation.source, io);
      else if (c.noEvents) fail(io, `warning: ${c.measure.replace(/^\w+\((.*)\)$/, '$1')} received no events, so ${c.measure} is 0`);
    }
  }
  const report: CheckReport = {
    program: source.name === COMMAND_LINE ? source.text : source.name,
    oneLiner: source.name === COMMAND_LINE,
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
  const r = t.run;
  if (r && r.exitCode !== 0 && r.stoppedBy === null && r.spawnError === undefined && !opts.failOnRun) fail(io, `warning: the --run command ${r.exitCode === null ? `was ended by ${r.signal ?? 'a signal'}` : `exited with status ${r.exitCode}`} (use --fail-on-run to fail the check on it)`);
  return exitCodeOf(report);
}


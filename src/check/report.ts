// The outcome of `trace check`: verdicts, the --run command's outcome, the exit code; shown as
// a verdict table, as JSON (-o json), or as JUnit XML (junit.ts). Pure: times and colours are
// inputs.
//
//   ┌──────────────────┬──────────┬────────┬────────┐
//   │ expectation      │ measured │  bound │ result │
//   ├──────────────────┼──────────┼────────┼────────┤
//   │ p99(@lat) < 10ms │  4.129ms │ < 10ms │ PASS   │
//   └──────────────────┴──────────┴────────┴────────┘
//   run: 'wrk -d 5s http://...' exited with status 0 after 5.02 s
//   1 passed

import { renderGrid } from '../runner/render/format.js';
import { Chalk } from 'chalk';
import { Codes } from '../lang/diagnostics.js';
import { formatValue, valueUnit, type ComparisonResult, type Verdict, type VerdictStatus } from './expect.js';

export interface RunOutcome {
  /** The shell command line, as given to --run. */
  readonly command: string;
  /** Its exit status; null when a signal ended it. */
  readonly exitCode: number | null;
  readonly signal: string | null;
  /** Why it ended early, when `trace` ended it: --duration elapsed, or the trace ended first. */
  readonly stoppedBy: 'duration' | 'trace-ended' | null;
  readonly durationMs: number;
  /** It could not be started at all. */
  readonly spawnError?: string;
}

export interface CheckReport {
  /** The program: a file name, or the one-liner's text. */
  readonly program: string;
  /** The program was given as text (a one-liner or -e), not as a file. */
  readonly oneLiner?: boolean;
  readonly verdicts: readonly Verdict[];
  readonly run: RunOutcome | null;
  /** --fail-on-run: a --run command that exits non-zero fails the check. */
  readonly failOnRun: boolean;
  /** The traced window (probes attached to trace stopped), ms; null when unknown. */
  readonly durationMs: number | null;
  /** When the traced window began. */
  readonly startedAt: Date;
  /** Why the run cannot be trusted (the target went away, ...): the check is an error. */
  readonly error?: string;
}

/** Did the --run command fail in a way that fails the check? */
export function runFailed(r: CheckReport): boolean {
  return r.failOnRun && r.run !== null && (r.run.exitCode !== 0 || r.run.spawnError !== undefined);
}

/** 0 every expectation passed; 1 one failed (or --fail-on-run and the command failed); 2 one could not be evaluated. */
export function exitCodeOf(r: CheckReport): 0 | 1 | 2 {
  if (r.error !== undefined) return 2;
  if (r.verdicts.some((v) => v.status === 'error')) return 2;
  if (r.verdicts.some((v) => v.status === 'fail') || runFailed(r)) return 1;
  return 0;
}

export function statusOf(r: CheckReport): VerdictStatus {
  const code = exitCodeOf(r);
  return code === 0 ? 'pass' : code === 1 ? 'fail' : 'error';
}

/** Where an expectation was written: '--expect', or 'file.d:3' for a #pragma. */
export function originOf(v: Verdict): string {
  const e = v.expectation;
  if (e.source.name === '--expect') return '--expect';
  return `${e.source.name}:${e.source.lineCol(e.span.start).line}`;
}

/** How the run command ended, in words: "exited with status 0 after 1.2 s". */
export function describeRun(run: RunOutcome): string {
  if (run.spawnError !== undefined) return `could not be started: ${run.spawnError}`;
  const after = `after ${(run.durationMs / 1000).toFixed(2)} s`;
  const how = run.exitCode !== null ? `exited with status ${run.exitCode}` : `was ended by ${run.signal ?? 'a signal'}`;
  const why = run.stoppedBy === 'duration' ? ' (stopped at --duration)' : run.stoppedBy === 'trace-ended' ? ' (stopped: the trace ended first)' : '';
  return `${how} ${after}${why}`;
}

/** A comparison's measured value as shown: '4.129ms', '~3.2ms', '0 (no events)'. */
export function measuredText(c: ComparisonResult): string {
  if (c.value === null) return c.diagnostic?.code === Codes.ExpectNoEvents ? 'no events' : '-';
  const v = formatValue(c.value, c.kind);
  return `${c.approximate ? '~' : ''}${v}${c.noEvents ? ' (no events)' : ''}`;
}

export interface Colors {
  readonly enabled: boolean;
}

/** The verdict table, the run line and a summary line. Ends with a newline. */
export function renderVerdicts(r: CheckReport, colors: Colors = { enabled: false }): string {
  const c = new Chalk({ level: colors.enabled ? 1 : 0 });
  const word = (s: VerdictStatus) => (s === 'pass' ? c.green.bold('PASS') : s === 'fail' ? c.red.bold('FAIL') : c.red.bold('ERROR'));
  const rows: string[][] = r.verdicts.map((v) => {
    const single = v.comparisons.length === 1;
    const measured = v.comparisons.map((x) => (single ? measuredText(x) : `${x.measure} ${measuredText(x)}`));
    // In a compound expectation, which comparisons held.
    const mark = (x: ComparisonResult) => (single ? '' : x.pass === true ? ` ${c.green('ok')}` : x.pass === false ? ` ${c.red('no')}` : ` ${c.red('?')}`);
    const bounds = v.comparisons.map((x) => `${x.op} ${x.boundText}${mark(x)}`);
    return [v.expectation.text, measured.join('\n'), bounds.join('\n'), word(v.status)];
  });
  if (r.failOnRun && r.run) {
    const failed = runFailed(r);
    const got = r.run.spawnError !== undefined ? 'not started' : r.run.exitCode !== null ? `exit ${r.run.exitCode}` : (r.run.signal ?? 'signal');
    rows.push(['--run exits 0', got, '== 0', word(failed ? 'fail' : 'pass')]);
  }
  const text = renderGrid(['expectation', 'measured', 'bound', 'result'].map((h) => c.bold.cyan(h)), rows, ['left', 'right', 'right', 'left']);
  const out = [text];
  const note = r.run && r.run.exitCode !== 0 && r.run.stoppedBy === null && !r.failOnRun && r.run.spawnError === undefined ? ' (not failing the check: see --fail-on-run)' : '';
  if (r.run) out.push(`run: '${r.run.command}' ${describeRun(r.run)}${note}`);
  const n = (s: VerdictStatus) => r.verdicts.filter((v) => v.status === s).length;
  const parts = [`${n('pass')} passed`, ...(n('fail') ? [`${n('fail')} failed`] : []), ...(n('error') ? [`${n('error')} could not be evaluated`] : [])];
  if (runFailed(r)) parts.push('the --run command failed');
  if (r.error !== undefined) parts.push(`error: ${r.error}`);
  out.push(parts.join(', '));
  return out.join('\n') + '\n';
}

export function comparisonJson(x: ComparisonResult): Record<string, unknown> {
  return {
    comparison: x.text,
    measure: x.measure,
    op: x.op,
    value: x.value,
    unit: valueUnit(x.kind),
    display: measuredText(x),
    bound: x.bound,
    boundText: x.boundText,
    pass: x.pass,
    events: x.events,
    approximate: x.approximate,
    noEvents: x.noEvents,
    ...(x.diagnostic ? { error: x.diagnostic.message, code: x.diagnostic.code } : {}),
  };
}

/** The report as one JSON object (-o json). */
export function reportJson(r: CheckReport, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    type: 'check',
    status: statusOf(r),
    exitCode: exitCodeOf(r),
    program: r.program,
    startedAt: r.startedAt.toISOString(),
    durationMs: r.durationMs,
    ...(r.error !== undefined ? { error: r.error } : {}),
    run: r.run
      ? {
          command: r.run.command,
          exitCode: r.run.exitCode,
          signal: r.run.signal,
          stoppedBy: r.run.stoppedBy,
          durationMs: r.run.durationMs,
          failsCheck: runFailed(r),
          ...(r.run.spawnError !== undefined ? { error: r.run.spawnError } : {}),
        }
      : null,
    expectations: r.verdicts.map((v) => ({
      expectation: v.expectation.text,
      origin: originOf(v),
      status: v.status,
      comparisons: v.comparisons.map(comparisonJson),
    })),
    ...extra,
  };
}

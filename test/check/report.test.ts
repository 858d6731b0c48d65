import { describe, expect, it } from 'vitest';
import { evaluateExpectation, parseExpectation } from '../../src/check/expect.js';
import { exitCodeOf, renderVerdicts, reportJson, statusOf, type CheckReport, type RunOutcome } from '../../src/check/report.js';
import { Source } from '../../src/lang/source.js';
import type { Aggregation, HistAggregation } from '../../src/runner/aggregate.js';
import { renderPercentileTable } from '../../src/runner/render/percentiles.js';
import { renderAggregation } from '../../src/runner/render/table.js';
import { agg, key } from '../runner/helpers.js';
import { parseTables } from '../support/trace.js';

const declared = [agg('@lat', 'latency'), agg('@errors', 'count'), agg('@none', 'latency'), agg('@req', 'count')];
const aggregations: Aggregation[] = [
  { name: '@lat', kind: 'hist', func: 'latency', keys: [], scheme: { kind: 'log-linear', subBuckets: 32 }, rows: [{ keys: [], buckets: [{ lo: 3997696, hi: 4063232, count: 100 }] }] },
  { name: '@errors', kind: 'scalar', func: 'count', keys: [], rows: [{ keys: [], value: 2 }] },
  { name: '@req', kind: 'scalar', func: 'count', keys: [], rows: [{ keys: [], value: 500 }] },
];

const RUN: RunOutcome = { command: 'wrk -d 2s http://127.0.0.1:8080/', exitCode: 0, signal: null, stoppedBy: null, durationMs: 2010 };

function report(texts: string[], extra: Partial<CheckReport> = {}): CheckReport {
  return {
    program: 'latency.d',
    verdicts: texts.map((t) => evaluateExpectation(parseExpectation(new Source('--expect', t)).expectation!, { aggregations, declared, durationMs: 2000 })),
    run: RUN,
    failOnRun: false,
    durationMs: 2000,
    startedAt: new Date('2026-11-22T05:00:00.000Z'),
    ...extra,
  };
}

describe('verdict table', () => {
  it('expectation, measured value with units, bound, result; the run; a summary', () => {
    const out = renderVerdicts(report(['p99(@lat) < 10ms', 'count(@errors) == 0', 'rate(@req) > 100/s']));
    expect(out).toBe(
      [
        '┌─────────────────────┬──────────┬─────────┬────────┐',
        '│ expectation         │ measured │   bound │ result │',
        '├─────────────────────┼──────────┼─────────┼────────┤',
        '│ p99(@lat) < 10ms    │  4.063ms │  < 10ms │ PASS   │',
        '│ count(@errors) == 0 │        2 │    == 0 │ FAIL   │',
        '│ rate(@req) > 100/s  │    250/s │ > 100/s │ PASS   │',
        '└─────────────────────┴──────────┴─────────┴────────┘',
        "run: 'wrk -d 2s http://127.0.0.1:8080/' exited with status 0 after 2.01 s",
        '2 passed, 1 failed',
        '',
      ].join('\n'),
    );
    expect(parseTables(out)[0]!.rows.map((r) => r[3])).toEqual(['PASS', 'FAIL', 'PASS']);
  });

  it('compound expectations: one line per comparison, each marked', () => {
    const out = renderVerdicts(report(['p99(@lat) < 10ms && count(@errors) == 0']));
    expect(out).toContain('│ p99(@lat) < 10ms && count(@errors) == 0 │ p99(@lat) 4.063ms │ < 10ms ok │ FAIL   │');
    expect(out).toContain('│                                         │  count(@errors) 2 │   == 0 no │        │');
  });

  it('no events: ERROR, and the run command status with --fail-on-run', () => {
    const out = renderVerdicts(report(['p99(@none) < 10ms', 'count(@none) == 0'], { failOnRun: true, run: { ...RUN, exitCode: 3 } }));
    const rows = parseTables(out)[0]!.rows;
    expect(rows).toEqual([
      ['p99(@none) < 10ms', 'no events', '< 10ms', 'ERROR'],
      ['count(@none) == 0', '0 (no events)', '== 0', 'PASS'],
      ['--run exits 0', 'exit 3', '== 0', 'FAIL'],
    ]);
    expect(out).toContain('1 passed, 1 could not be evaluated, the --run command failed');
  });

  it('a non-zero run status without --fail-on-run is reported, not failed', () => {
    const r = report(['count(@errors) == 2'], { run: { ...RUN, exitCode: 1 } });
    expect(renderVerdicts(r)).toContain("exited with status 1 after 2.01 s (not failing the check: see --fail-on-run)");
    expect(exitCodeOf(r)).toBe(0);
  });

  it('colours only when asked', () => {
    expect(renderVerdicts(report(['count(@errors) == 2']))).not.toContain('\u001b[');
    expect(renderVerdicts(report(['count(@errors) == 2']), { enabled: true })).toContain('\u001b[');
  });
});

describe('exit codes and JSON', () => {
  it('0 all pass, 1 any fails (or the run with --fail-on-run), 2 any error', () => {
    expect(exitCodeOf(report(['count(@errors) == 2']))).toBe(0);
    expect(exitCodeOf(report(['count(@errors) == 2', 'count(@errors) == 3']))).toBe(1);
    expect(exitCodeOf(report(['count(@errors) == 3', 'p99(@none) < 1ms']))).toBe(2);
    expect(exitCodeOf(report(['count(@errors) == 2'], { failOnRun: true, run: { ...RUN, exitCode: 7 } }))).toBe(1);
    expect(exitCodeOf(report(['count(@errors) == 2'], { failOnRun: true, run: { ...RUN, exitCode: null, signal: 'SIGKILL' } }))).toBe(1);
    expect(exitCodeOf(report(['count(@errors) == 2'], { failOnRun: true }))).toBe(0);
    expect(exitCodeOf(report(['count(@errors) == 2'], { error: 'the target went away' }))).toBe(2);
    expect(statusOf(report(['count(@errors) == 3']))).toBe('fail');
  });

  it('-o json: verdicts with raw values and units', () => {
    const j = JSON.parse(JSON.stringify(reportJson(report(['p99(@lat) < 10ms', 'rate(@req) > 100/s', 'p50(@none) < 1s'])))) as Record<string, unknown>;
    expect(j).toMatchObject({
      type: 'check',
      status: 'error',
      exitCode: 2,
      program: 'latency.d',
      durationMs: 2000,
      startedAt: '2026-11-22T05:00:00.000Z',
      run: { command: RUN.command, exitCode: 0, signal: null, stoppedBy: null, durationMs: 2010, failsCheck: false },
    });
    const exps = j.expectations as { expectation: string; origin: string; status: string; comparisons: Record<string, unknown>[] }[];
    expect(exps.map((e) => [e.expectation, e.origin, e.status])).toEqual([
      ['p99(@lat) < 10ms', '--expect', 'pass'],
      ['rate(@req) > 100/s', '--expect', 'pass'],
      ['p50(@none) < 1s', '--expect', 'error'],
    ]);
    expect(exps[0]!.comparisons[0]).toEqual({
      comparison: 'p99(@lat) < 10ms',
      measure: 'p99(@lat)',
      op: '<',
      value: 4063232,
      unit: 'ns',
      display: '4.063ms',
      bound: 10_000_000,
      boundText: '10ms',
      pass: true,
      events: 100,
      approximate: false,
      noEvents: false,
    });
    expect(exps[1]!.comparisons[0]).toMatchObject({ value: 250, unit: 'per-second', bound: 100 });
    expect(exps[2]!.comparisons[0]).toMatchObject({ value: null, pass: null, code: 'CT5007', error: '@none received no events: the probe never fired (is the function called? is the container under load?)' });
  });

  it('a #pragma expectation says where it was written', () => {
    const program = 'BEGIN {}\n\n#pragma ctrace expect count(@errors) == 2\n';
    const s = new Source('probes/x.d', program);
    const start = program.indexOf('count');
    const e = parseExpectation(s, { start, end: program.length - 1 }).expectation!;
    const r: CheckReport = { ...report([]), verdicts: [evaluateExpectation(e, { aggregations, declared, durationMs: 1 })] };
    expect((reportJson(r).expectations as { origin: string }[])[0]!.origin).toBe('probes/x.d:3');
  });
});

describe('latency aggregations with keys: one percentile table', () => {
  const keyed: HistAggregation = {
    name: '@lat',
    kind: 'hist',
    func: 'latency',
    keys: [key('probefunc')],
    scheme: { kind: 'log-linear', subBuckets: 32 },
    rows: [
      { keys: ['main.vote'], buckets: [{ lo: 49152, hi: 50176, count: 60 }, { lo: 1048576, hi: 1081344, count: 5 }] },
      { keys: ['main.lookup'], buckets: [{ lo: 3997696, hi: 4063232, count: 1000 }, { lo: 16777216, hi: 17301504, count: 3 }] },
    ],
  };

  it('key | count | p50 | p90 | p99 | p999 | max, rows by count (largest last)', () => {
    expect(renderPercentileTable(keyed)).toBe(
      [
        '@lat',
        '┌─────────────┬───────┬────────┬────────┬────────┬────────┬────────┐',
        '│ probefunc   │ count │    p50 │    p90 │    p99 │   p999 │    max │',
        '├─────────────┼───────┼────────┼────────┼────────┼────────┼────────┤',
        '│ main.vote   │    65 │ 50.2us │ 50.2us │ 1.08ms │ 1.08ms │ 1.08ms │',
        '│ main.lookup │  1003 │ 4.06ms │ 4.06ms │ 4.06ms │ 17.3ms │ 17.3ms │',
        '└─────────────┴───────┴────────┴────────┴────────┴────────┴────────┘',
        '',
      ].join('\n'),
    );
  });

  it('is what renderAggregation shows for keyed latency; without keys the distribution stays', () => {
    expect(renderAggregation(keyed)).toBe(renderPercentileTable(keyed));
    const single: HistAggregation = { ...keyed, keys: [], rows: [{ ...keyed.rows[0]!, keys: [] }] };
    expect(renderAggregation(single)).toContain('Distribution');
    expect(renderAggregation(single)).toContain('p99 <');
  });
});

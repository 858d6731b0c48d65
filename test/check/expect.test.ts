import { describe, expect, it } from 'vitest';
import {
  checkExpectation,
  comparisons,
  evaluateExpectation,
  formatDuration,
  formatValue,
  parseExpectation,
  percentileFraction,
  supports,
  type CompareNode,
  type EvalContext,
  type Expectation,
  type LogicalNode,
} from '../../src/check/expect.js';
import type { AggregationInfo } from '../../src/compiler/program.js';
import { formatDiagnostic, type Diagnostic } from '../../src/lang/diagnostics.js';
import { Source } from '../../src/lang/source.js';
import { indexRange } from '../../src/runner/buckets.js';
import { percentile, type Aggregation, type HistAggregation, type ScalarAggregation } from '../../src/runner/aggregate.js';
import type { Bucket } from '../../src/runner/events.js';
import { agg, key } from '../runner/helpers.js';

// ---- helpers ----

const src = (text: string) => new Source('--expect', text);

function parse(text: string): Expectation {
  const r = parseExpectation(src(text));
  if (!r.expectation) throw new Error(`did not parse: ${text}\n${r.diagnostics.map((d) => formatDiagnostic(d, src(text))).join('\n')}`);
  expect(r.diagnostics).toEqual([]);
  return r.expectation;
}

function parseError(text: string): { d: Diagnostic; shown: string } {
  const s = src(text);
  const r = parseExpectation(s);
  expect(r.expectation).toBeNull();
  expect(r.diagnostics).toHaveLength(1);
  const d = r.diagnostics[0]!;
  return { d, shown: formatDiagnostic(d, s) };
}

function one(text: string): CompareNode {
  const e = parse(text);
  expect(e.expr.kind).toBe('compare');
  return e.expr as CompareNode;
}

const SUB = 32;

/** Latency buckets (32 sub-buckets per power of two) holding `values`, as the runner builds them. */
function latencyBuckets(values: readonly number[]): Bucket[] {
  const counts = new Map<number, number>();
  for (const raw of values) {
    const v = Math.max(1, Math.trunc(raw));
    const m = Math.floor(Math.log2(v));
    const s = Math.floor(((v - 2 ** m) * SUB) / 2 ** m);
    const idx = m * SUB + s;
    counts.set(idx, (counts.get(idx) ?? 0) + 1);
  }
  return [...counts.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([i, count]) => {
      const r = indexRange({ kind: 'log-linear', subBuckets: SUB }, i)!;
      return { lo: r.lo, hi: r.hi, count };
    });
}

function latencyAgg(name: string, rows: { keys: (string | number)[]; values: number[] }[], keys = [] as ReturnType<typeof key>[]): HistAggregation {
  return { name, kind: 'hist', func: 'latency', keys, scheme: { kind: 'log-linear', subBuckets: SUB }, rows: rows.map((r) => ({ keys: r.keys, buckets: latencyBuckets(r.values) })) };
}

function scalar(name: string, func: ScalarAggregation['func'], rows: ScalarAggregation['rows'], keys = [] as ReturnType<typeof key>[]): ScalarAggregation {
  return { name, kind: 'scalar', func, keys, rows };
}

const ms = (n: number) => n * 1e6;

function ctx(aggregations: Aggregation[], declared: AggregationInfo[], durationMs: number | null = 2000): EvalContext {
  return { aggregations, declared, durationMs };
}

function run(text: string, c: EvalContext) {
  const e = parse(text);
  expect(checkExpectation(e, c.declared)).toEqual([]);
  return evaluateExpectation(e, c);
}

function checkErrors(text: string, declared: AggregationInfo[]): Diagnostic[] {
  return checkExpectation(parse(text), declared);
}

// ---- parsing ----

describe('parsing', () => {
  it('p99(@lat) < 20ms', () => {
    const c = one('p99(@lat) < 20ms');
    expect(c.op).toBe('<');
    expect(c.measure).toMatchObject({ func: 'percentile', name: 'p99', q: 0.99, aggregation: '@lat', keys: null });
    expect(c.bound).toMatchObject({ value: 20e6, unit: 'duration' });
    expect(c.span).toEqual({ start: 0, end: 16 });
    expect(c.measure.aggregationSpan).toEqual({ start: 4, end: 8 });
  });

  it.each([
    ['p50', 0.5],
    ['p90', 0.9],
    ['p95', 0.95],
    ['p99', 0.99],
    ['p999', 0.999],
    ['p9999', 0.9999],
    ['p05', 0.05],
    ['p10', 0.1],
    ['p100', 1],
  ])('%s is the %d quantile', (name, q) => {
    expect(percentileFraction(name)).toBe(q);
    expect(one(`${name}(@x) < 1`).measure.q).toBe(q);
  });

  it.each(['count', 'sum', 'avg', 'min', 'max', 'stddev', 'rate'])('%s(@x) is a measurement', (f) => {
    expect(one(`${f}(@x) >= 0`).measure.func).toBe(f);
  });

  it.each([
    ['5ns', 5],
    ['5us', 5e3],
    ['5µs', 5e3],
    ['5ms', 5e6],
    ['5s', 5e9],
    ['5m', 300e9],
    ['1h', 3600e9],
    ['1.5ms', 1.5e6],
    ['0.25s', 0.25e9],
    ['20 ms', 20e6],
  ])('duration %s is %d ns', (text, ns) => {
    expect(one(`max(@x) < ${text}`).bound).toMatchObject({ value: ns, unit: 'duration' });
  });

  it.each([
    ['1000', 1000],
    ['1_000_000', 1e6],
    ['1e6', 1e6],
    ['2.5', 2.5],
    ['0x10', 16],
    ['-3', -3],
  ])('plain number %s', (text, v) => {
    expect(one(`sum(@x) > ${text}`).bound).toMatchObject({ value: v, unit: 'none' });
  });

  it.each([
    ['100/s', 100],
    ['100 / s', 100],
    ['6000/m', 100],
    ['1/ms', 1000],
    ['0.5/s', 0.5],
    ['36000/h', 10],
  ])('rate %s is %d per second', (text, v) => {
    expect(one(`rate(@req) > ${text}`).bound).toMatchObject({ value: v, unit: 'rate' });
  });

  it('keys: strings, integers, negative integers, several, and *', () => {
    expect(one('avg(@lat["/checkout"]) <= 5ms').measure.keys).toEqual([{ kind: 'string', value: '/checkout', span: { start: 9, end: 20 } }]);
    expect(one('count(@x[8]) == 1').measure.keys).toMatchObject([{ kind: 'int', value: 8 }]);
    expect(one('count(@x[-1]) == 1').measure.keys).toMatchObject([{ kind: 'int', value: -1 }]);
    expect(one('count(@x["GET", 200]) > 0').measure.keys).toMatchObject([
      { kind: 'string', value: 'GET' },
      { kind: 'int', value: 200 },
    ]);
    expect(one('count(@x[*, 500]) == 0').measure.keys).toMatchObject([{ kind: 'any', value: null }, { kind: 'int', value: 500 }]);
    expect(one('count(@x["a\\"b\\n\\x41"]) == 0').measure.keys).toMatchObject([{ kind: 'string', value: 'a"b\nA' }]);
    expect(one('count(@x["a"]) == 0').measure.keysSpan).toEqual({ start: 8, end: 13 });
  });

  it('the anonymous aggregation @', () => {
    expect(one('count(@) > 0').measure.aggregation).toBe('@');
  });

  it('a value on the left is flipped so the measurement is on the left', () => {
    const c = one('10ms > p99(@lat)');
    expect(c.op).toBe('<');
    expect(c.measure.name).toBe('p99');
    expect(c.bound.value).toBe(10e6);
    expect(one('5 <= count(@x)').op).toBe('>=');
    expect(one('5 == count(@x)').op).toBe('==');
  });

  it('&& binds tighter than ||; parentheses group', () => {
    const e = parse('count(@a) > 1 || count(@b) > 2 && count(@c) > 3').expr as LogicalNode;
    expect(e.kind).toBe('or');
    expect(e.right.kind).toBe('and');
    const g = parse('(count(@a) > 1 || count(@b) > 2) && count(@c) > 3').expr as LogicalNode;
    expect(g.kind).toBe('and');
    expect(g.left.kind).toBe('or');
    expect(comparisons(g.left).map((c) => c.measure.aggregation)).toEqual(['@a', '@b']);
    expect(parse('((count(@a) > 1))').expr.kind).toBe('compare');
  });

  it('all six comparison operators', () => {
    for (const op of ['<', '<=', '>', '>=', '==', '!=']) expect(one(`count(@x) ${op} 1`).op).toBe(op);
  });

  it('comments and blanks around the expectation are not part of its text', () => {
    const e = parse('  p99(@lat) < 20ms   // the SLO');
    expect(e.text).toBe('p99(@lat) < 20ms');
    expect(parse('/* a */ count(@e) == 0 /* b */').text).toBe('count(@e) == 0');
    expect(parse('count(@e)\n==\n0').expr.kind).toBe('compare');
  });

  it('a #pragma argument is parsed in place: spans point into the program', () => {
    const program = 'BEGIN {}\n#pragma ctrace expect p99(@lat) < 20sec  // slo\n';
    const s = new Source('latency.d', program);
    const start = program.indexOf('p99');
    const r = parseExpectation(s, { start, end: program.indexOf('\n', start) });
    expect(r.expectation).toBeNull();
    expect(formatDiagnostic(r.diagnostics[0]!, s)).toBe(
      [
        "latency.d:2:37: error CT5006: unknown unit 'sec'",
        '  2 | #pragma ctrace expect p99(@lat) < 20sec  // slo',
        '    |                                     ^~~',
        'hint: units: ns, us, ms, s, m (minutes), h; rates: 100/s, 6000/m',
      ].join('\n'),
    );
    const ok = parseExpectation(s, { start, end: start + 'p99(@lat) < 20'.length });
    expect(ok.expectation?.text).toBe('p99(@lat) < 20');
    expect(ok.expectation?.span.start).toBe(start);
  });
});

describe('syntax errors: one diagnostic with a span and a caret', () => {
  it('shows the line with a caret under the span', () => {
    expect(parseError('p99(@lat) < 20sex').shown).toBe(
      [
        "--expect:1:15: error CT5006: unknown unit 'sex'",
        '  1 | p99(@lat) < 20sex',
        '    |               ^~~',
        'hint: units: ns, us, ms, s, m (minutes), h; rates: 100/s, 6000/m',
      ].join('\n'),
    );
  });

  it.each([
    ['', 'CT5001', 'empty expectation', 0],
    ['   // only a comment', 'CT5001', 'empty expectation', 20],
    ['p99(@lat)', 'CT5001', 'expected a comparison (<, <=, >, >=, ==, !=) after the measurement, found the end', 9],
    ['p99(@lat) 20ms', 'CT5001', 'expected a comparison', 10],
    ['p99(@lat) = 20ms', 'CT5001', "'=' is not a comparison: write '=='", 10],
    ['p99(@lat) <', 'CT5001', 'expected a measurement such as p99(@lat) or a value such as 20ms, found the end', 11],
    ['p99(@lat) < 20ms and count(@e) == 0', 'CT5001', "unexpected 'and' after the comparison", 17],
    ['p99(@lat) < 20ms &', 'CT5001', "unexpected '&'", 17],
    ['p99(lat) < 1', 'CT5001', "expected an aggregation such as @lat inside p99(), found 'lat'", 4],
    ['p99 < 1', 'CT5001', "expected '(' after p99", 4],
    ['@lat < 5', 'CT5001', '@lat alone is not a measurement', 0],
    ['p99(@a) < p50(@a)', 'CT5001', 'two measurements cannot be compared', 10],
    ['1 < 2', 'CT5001', 'nothing is measured here', 0],
    ['1ms < p99(@x) < 5ms', 'CT5001', 'comparisons cannot be chained', 14],
    ['(p99(@lat) < 1ms', 'CT5001', "expected ')' to close the '('", 16],
    ['() && count(@x) > 1', 'CT5001', 'empty parentheses', 0],
    ['p99(@lat[]) < 1', 'CT5001', 'expected a key inside [ ]', 8],
    ['p99(@lat["a) < 1', 'CT5001', 'unterminated string', 9],
    ['p99(@lat["a\\q"]) < 1', 'CT5001', "unknown escape '\\q'", 11],
    ['p99(@lat[1.5]) < 1', 'CT5001', 'a key is a string or an integer', 9],
    ['p99(@lat[5ms]) < 1', 'CT5001', 'a key is a string or an integer, without a unit', 10],
    ['p99(@lat[GET]) < 1', 'CT5001', "expected a key (a \"string\", an integer or *), found 'GET'", 9],
    ['p99(@lat["a" "b"]) < 1', 'CT5001', "expected ',' or ']' after a key", 13],
    ['p99(@lat, 5) < 1', 'CT5001', 'p99() takes one aggregation', 8],
    ['count(@x) == 0 &&', 'CT5001', 'found the end', 17],
    ['p99(@lat) < 5 $', 'CT5001', "unexpected character '$'", 14],
    ['count(@x) < 5 /* open', 'CT5001', 'unterminated comment', 14],
    ['count(@x) == "a"', 'CT5001', 'a string cannot be compared', 13],
    ['count(@x) == -', 'CT5001', "expected a number after '-'", 14],
    ['rate(@x) > 100ms/s', 'CT5006', 'a rate is a plain number per unit of time', 11],
    ['rate(@x) > 100/', 'CT5001', "expected a unit of time after '/'", 14],
    ['rate(@x) > 100/sec', 'CT5006', "unknown unit 'sec'", 15],
    ['avrg(@lat) < 1', 'CT5002', "unknown measurement 'avrg'", 0],
    ['p9(@lat) < 1', 'CT5002', "unknown measurement 'p9'", 0],
    ['p1000(@lat) < 1', 'CT5002', "unknown measurement 'p1000'", 0],
  ])('%j: %s %s', (text, code, message, col) => {
    const { d } = parseError(text);
    expect(d.code).toBe(code);
    expect(d.message).toContain(message);
    expect(d.span.start).toBe(col);
    expect(d.span.end).toBeGreaterThan(d.span.start);
  });

  it('hints: did you mean, && for and, two-digit percentiles', () => {
    expect(parseError('avrg(@lat) < 1').d.hints).toContain('did you mean avg?');
    expect(parseError('p99(@lat) < 20mss').d.hints).toContain('did you mean ms?');
    expect(parseError('p99(@lat) < 1 and count(@x) == 0').d.hints).toEqual(["write '&&' for and"]);
    expect(parseError('p99(@lat) < 1 or count(@x) == 0').d.hints).toEqual(["write '||' for or"]);
    expect(parseError('p5(@lat) < 1').d.hints).toContain('percentiles take two digits or more: p05, p50, p90, p99, p999');
    expect(parseError('p99(@lat[GET]) < 1').d.hints).toEqual(['strings are quoted: "GET"']);
    expect(parseError('1ms < p99(@x) < 5ms').d.hints?.[0]).toContain('&&');
  });

  it('never throws on junk', () => {
    for (const junk of ['(((', ')))', '@@@', '"', '[', '&&', '||', '< 5', '5 <', 'p99(', 'p99(@', 'p99(@x[', 'p99(@x["a",', '\u0000', '🙂']) {
      const r = parseExpectation(src(junk));
      expect(r.expectation).toBeNull();
      expect(r.diagnostics).toHaveLength(1);
      expect(() => formatDiagnostic(r.diagnostics[0]!, src(junk))).not.toThrow();
    }
  });
});

// ---- checking against the program ----

describe('checking against the program', () => {
  const declared = [
    agg('@lat', 'latency'),
    agg('@route', 'latency', [key('route')]),
    agg('@errors', 'count'),
    agg('@bytes', 'sum', [key('op'), key('fd', 'int')]),
    agg('@mean', 'avg'),
    agg('@hi', 'max'),
    agg('@lo', 'min'),
    agg('@sd', 'stddev'),
    agg('@q', 'quantize'),
    agg('@sys', 'count', [key('probefunc', 'int', 'syscall')]),
  ];

  it('a valid set passes', () => {
    for (const t of [
      'p99(@lat) < 20ms && count(@errors) == 0',
      'avg(@route["/checkout"]) <= 5ms',
      'p50(@route) < 1ms',
      'sum(@bytes) > 1000',
      'sum(@bytes["read", 3]) > 1000',
      'sum(@bytes[*, 3]) > 1000',
      'rate(@errors) < 1/s',
      'rate(@bytes) > 1000',
      'max(@hi) < 100ms',
      'min(@lo) > 0',
      'avg(@mean) < 5',
      'stddev(@sd) < 5 && avg(@sd) < 3 && count(@sd) > 0',
      'p90(@q) < 4096 && max(@q) < 1s && avg(@q) > 1',
      'count(@sys["read"]) > 0 && count(@sys[0]) > 0',
    ]) {
      expect(checkErrors(t, declared), t).toEqual([]);
    }
  });

  it('an unknown aggregation, with a suggestion and the declared ones', () => {
    const [d] = checkErrors('p99(@latt) < 1ms', declared);
    expect(d).toMatchObject({ code: 'CT5003', message: 'unknown aggregation @latt', span: { start: 4, end: 9 } });
    expect(d!.hints).toEqual(['did you mean @lat?', "the program's aggregations: @lat, @route, @errors, @bytes, @mean, @hi, @lo, @sd, @q, @sys"]);
    expect(checkErrors('count(@x) == 0', [])[0]!.hints).toEqual(['the program declares no aggregations']);
  });

  it('p99 of a count aggregation: which measurements do apply', () => {
    const [d] = checkErrors('p99(@errors) < 1ms', declared);
    expect(d).toMatchObject({ code: 'CT5004', span: { start: 0, end: 3 } });
    expect(d!.message).toBe('p99() needs a distribution (latency, quantize, lquantize or llquantize): @errors is a count() aggregation');
    expect(d!.hints).toEqual(['for a count() aggregation: count, sum, rate']);
    expect(checkErrors('rate(@mean) > 1/s', declared)[0]!.message).toBe('rate() needs a count(), sum() or distribution aggregation: @mean is a avg() aggregation');
    expect(checkErrors('sum(@lat) > 1', declared)[0]!.message).toBe('sum() does not apply to @lat: @lat is a latency() distribution');
    expect(checkErrors('max(@lo) > 1', declared)[0]!.code).toBe('CT5004');
    expect(checkErrors('stddev(@mean) > 1', declared)[0]!.code).toBe('CT5004');
  });

  it('keys: none on a keyless aggregation, the right number, the right types', () => {
    const [a] = checkErrors('p99(@lat["/x"]) < 1ms', declared);
    expect(a).toMatchObject({ code: 'CT5005', message: '@lat has no keys', span: { start: 8, end: 14 }, hints: ['write p99(@lat)'] });
    const [b] = checkErrors('sum(@bytes["read"]) > 1', declared);
    expect(b).toMatchObject({ code: 'CT5005', message: '@bytes has 2 keys (op, fd), not 1', hints: ['give 2 (* for any), or none to take every key together'] });
    const [c] = checkErrors('sum(@bytes["read", "3"]) > 1', declared);
    expect(c).toMatchObject({ code: 'CT5005', message: 'key 2 of @bytes (fd) is an integer, not a string', hints: ['write 3'], span: { start: 19, end: 22 } });
    const [d] = checkErrors('sum(@bytes[1, 3]) > 1', declared);
    expect(d).toMatchObject({ code: 'CT5005', message: 'key 1 of @bytes (op) is a string, not an integer', hints: ['write "1"'] });
  });

  it('units must fit the measurement', () => {
    expect(checkErrors('count(@errors) < 5ms', declared)[0]).toMatchObject({ code: 'CT5006', message: 'count(@errors) is a number of events: compare it with a plain number', span: { start: 17, end: 20 } });
    expect(checkErrors('count(@errors) < 5/s', declared)[0]).toMatchObject({ code: 'CT5006', hints: ['for events per second: rate(@errors) > 100/s'] });
    expect(checkErrors('rate(@errors) < 5ms', declared)[0]).toMatchObject({ code: 'CT5006', message: 'rate(@errors) is a rate: write a number per unit of time' });
    expect(checkErrors('p99(@lat) < 5/s', declared)[0]).toMatchObject({ code: 'CT5006', message: 'p99(@lat) is not a rate' });
  });

  it('reports every bad comparison of a compound expectation', () => {
    expect(checkErrors('p99(@nope) < 1 || count(@lat) < 1ms', declared).map((d) => d.code)).toEqual(['CT5003', 'CT5006']);
  });

  it('supports(): the table', () => {
    expect(supports('percentile', 'latency')).toBe(true);
    expect(supports('percentile', 'llquantize')).toBe(true);
    expect(supports('percentile', 'count')).toBe(false);
    expect(supports('count', 'quantize')).toBe(true);
    expect(supports('rate', 'sum')).toBe(true);
    expect(supports('rate', 'max')).toBe(false);
  });
});

// ---- evaluation ----

describe('evaluation', () => {
  // 100 values: 1..100 ms.
  const values = Array.from({ length: 100 }, (_, i) => ms(i + 1));
  const lat = latencyAgg('@lat', [{ keys: [], values }]);
  const declared = [agg('@lat', 'latency'), agg('@errors', 'count'), agg('@none', 'latency')];
  const c = ctx([lat], declared);

  it('percentiles are the upper edge of the bucket, as percentile() says', () => {
    const buckets = lat.rows[0]!.buckets;
    for (const [name, q] of [
      ['p50', 0.5],
      ['p90', 0.9],
      ['p99', 0.99],
      ['p999', 0.999],
    ] as const) {
      const v = run(`${name}(@lat) < 1s`, c).comparisons[0]!;
      expect(v.value).toBe(percentile(buckets, q));
      // Within 1/32 above the exact value (nearest rank).
      const exact = values[Math.ceil(q * values.length) - 1]!;
      expect(v.value!).toBeGreaterThanOrEqual(exact);
      expect(v.value! / exact).toBeLessThan(1 + 1 / 32 + 1e-9);
    }
  });

  it('pass and fail against the bound', () => {
    const p99 = run('p99(@lat) < 20ms', c);
    expect(p99.status).toBe('fail');
    expect(p99.comparisons[0]).toMatchObject({ text: 'p99(@lat) < 20ms', measure: 'p99(@lat)', op: '<', bound: 20e6, boundText: '20ms', pass: false, kind: 'duration', events: 100 });
    expect(run('p99(@lat) < 200ms', c).status).toBe('pass');
    expect(run('p50(@lat) <= 51.2ms', c).status).toBe('pass');
    expect(run('p50(@lat) > 50ms', c).status).toBe('pass');
    expect(run('200ms > p99(@lat)', c).status).toBe('pass');
  });

  it('max, min, avg and count of a distribution', () => {
    expect(run('max(@lat) < 1s', c).comparisons[0]!.value).toBe(percentile(lat.rows[0]!.buckets, 1));
    expect(run('min(@lat) >= 1ms', c).comparisons[0]!.value).toBe(lat.rows[0]!.buckets[0]!.lo);
    expect(run('min(@lat) <= 1ms', c).status).toBe('pass');
    const avg = run('avg(@lat) < 1s', c).comparisons[0]!;
    expect(avg.approximate).toBe(true);
    expect(Math.abs(avg.value! - ms(50.5)) / ms(50.5)).toBeLessThan(0.02);
    expect(run('count(@lat) == 100', c).status).toBe('pass');
    expect(run('count(@lat) != 100', c).status).toBe('fail');
  });

  it('rate is the count divided by the measured duration', () => {
    const r = run('rate(@lat) > 49/s', ctx([lat], declared, 2000)).comparisons[0]!;
    expect(r).toMatchObject({ value: 50, kind: 'rate', pass: true });
    expect(run('rate(@lat) > 3000/m', ctx([lat], declared, 2000)).status).toBe('fail');
    expect(run('rate(@lat) >= 3000/m', ctx([lat], declared, 2000)).status).toBe('pass');
    const errs = scalar('@errors', 'count', [{ keys: [], value: 10 }]);
    expect(run('rate(@errors) < 1/s', ctx([errs], declared, 20_000)).comparisons[0]!.value).toBe(0.5);
    const bytes = scalar('@bytes', 'sum', [{ keys: [], value: 4096 }]);
    expect(run('rate(@bytes) >= 1024', ctx([bytes], [agg('@bytes', 'sum')], 4000)).comparisons[0]!.value).toBe(1024);
  });

  it('rate without a known duration is an error, not a guess', () => {
    const v = run('rate(@lat) > 1/s', ctx([lat], declared, null));
    expect(v.status).toBe('error');
    expect(v.comparisons[0]!.diagnostic).toMatchObject({ code: 'CT5008' });
  });

  it('&& and ||: every comparison is measured', () => {
    const both = run('p99(@lat) < 20ms && count(@lat) == 100', c);
    expect(both.status).toBe('fail');
    expect(both.comparisons.map((x) => x.pass)).toEqual([false, true]);
    expect(run('p99(@lat) < 20ms || count(@lat) == 100', c).status).toBe('pass');
    expect(run('(p99(@lat) < 20ms || count(@lat) == 100) && max(@lat) < 1s', c).status).toBe('pass');
    expect(run('p99(@lat) < 20ms || count(@lat) == 99', c).status).toBe('fail');
  });

  it('an aggregation that received no events: an error for a distribution, never a silent pass', () => {
    const v = run('p99(@none) < 10ms', c);
    expect(v.status).toBe('error');
    const d = v.comparisons[0]!.diagnostic!;
    expect(d.code).toBe('CT5007');
    expect(d.message).toBe('@none received no events: the probe never fired (is the function called? is the container under load?)');
    expect(d.span).toEqual({ start: 4, end: 9 });
    // Even when the other side of || would pass.
    expect(run('p99(@none) < 10ms || count(@lat) > 0', c).status).toBe('error');
    for (const f of ['max', 'min', 'avg', 'p50']) expect(run(`${f}(@none) < 1s`, c).status).toBe('error');
    // A distribution whose rows are all empty is no different.
    const cleared: HistAggregation = { ...latencyAgg('@none', []), rows: [{ keys: [], buckets: [{ lo: 1, hi: 2, count: 0 }] }] };
    expect(run('p99(@none) < 10ms', ctx([lat, cleared], declared)).status).toBe('error');
  });

  it('count, sum and rate of an aggregation with no events are 0 (flagged)', () => {
    const v = run('count(@errors) == 0', c);
    expect(v.status).toBe('pass');
    expect(v.comparisons[0]).toMatchObject({ value: 0, noEvents: true, events: 0 });
    expect(run('count(@none) == 0', c).status).toBe('pass');
    expect(run('rate(@errors) < 1/s', c).comparisons[0]).toMatchObject({ value: 0, noEvents: true, pass: true });
    expect(run('count(@errors) > 0', c).status).toBe('fail');
  });

  it('scalar aggregations: count, sum, min, max, avg, stddev', () => {
    const declared2 = [agg('@c', 'count'), agg('@s', 'sum'), agg('@mn', 'min'), agg('@mx', 'max'), agg('@a', 'avg'), agg('@sd', 'stddev')];
    const aggs: Aggregation[] = [
      scalar('@c', 'count', [{ keys: [], value: 7 }]),
      scalar('@s', 'sum', [{ keys: [], value: 1500 }]),
      scalar('@mn', 'min', [{ keys: [], value: 3 }]),
      scalar('@mx', 'max', [{ keys: [], value: ms(90) }]),
      scalar('@a', 'avg', [{ keys: [], value: 12, count: 4, sum: 48 }]),
      scalar('@sd', 'stddev', [{ keys: [], value: 2, count: 10, sum: 50, sumSq: 290 }]),
    ];
    const cx = ctx(aggs, declared2);
    expect(run('count(@c) == 7', cx).status).toBe('pass');
    expect(run('sum(@c) == 7', cx).status).toBe('pass');
    expect(run('sum(@s) > 1000', cx).status).toBe('pass');
    expect(run('min(@mn) > 3', cx).status).toBe('fail');
    expect(run('max(@mx) < 100ms', cx).comparisons[0]).toMatchObject({ value: ms(90), pass: true, kind: 'duration' });
    expect(run('avg(@a) <= 12', cx).status).toBe('pass');
    expect(run('count(@a) == 4 && sum(@a) == 48', cx).status).toBe('pass');
    expect(run('stddev(@sd) == 2 && avg(@sd) == 5 && count(@sd) == 10', cx).status).toBe('pass');
  });

  it('avg without the count bpftrace reports is still the value; count(@avg) then cannot be computed', () => {
    const a = scalar('@a', 'avg', [{ keys: [], value: 12 }]);
    const cx = ctx([a], [agg('@a', 'avg')]);
    expect(run('avg(@a) == 12', cx).status).toBe('pass');
    const v = run('count(@a) > 0', cx);
    expect(v.status).toBe('error');
    expect(v.comparisons[0]!.diagnostic!.message).toContain('did not report the count and sum');
  });

  it('== and != compare exactly', () => {
    expect(run('count(@lat) == 100', c).status).toBe('pass');
    expect(run('count(@lat) == 100.5', c).status).toBe('fail');
    expect(run('count(@lat) != 101', c).status).toBe('pass');
  });
});

describe('keys', () => {
  const route = latencyAgg(
    '@route',
    [
      { keys: ['/checkout'], values: [ms(2), ms(3), ms(4), ms(30)] },
      { keys: ['/home'], values: Array.from({ length: 96 }, () => ms(1)) },
    ],
    [key('route')],
  );
  const status = scalar(
    '@status',
    'count',
    [
      { keys: ['GET', 200], value: 90 },
      { keys: ['GET', 500], value: 4 },
      { keys: ['POST', 200], value: 10 },
      { keys: ['POST', 500], value: 1 },
    ],
    [key('method'), key('code', 'int')],
  );
  const avgByRoute = scalar(
    '@avg',
    'avg',
    [
      { keys: ['/a'], value: 10, count: 1, sum: 10 },
      { keys: ['/b'], value: 2, count: 9, sum: 18 },
    ],
    [key('route')],
  );
  const maxBy = scalar('@mx', 'max', [{ keys: ['a'], value: 5 }, { keys: ['b'], value: 9 }], [key('k')]);
  const minBy = scalar('@mn', 'min', [{ keys: ['a'], value: 5 }, { keys: ['b'], value: 9 }], [key('k')]);
  const sys = scalar('@sys', 'count', [{ keys: [0], value: 3 }, { keys: [1], value: 4 }], [key('probefunc', 'int', 'syscall')]);
  const declared = [
    agg('@route', 'latency', [key('route')]),
    agg('@status', 'count', [key('method'), key('code', 'int')]),
    agg('@avg', 'avg', [key('route')]),
    agg('@mx', 'max', [key('k')]),
    agg('@mn', 'min', [key('k')]),
    agg('@sys', 'count', [key('probefunc', 'int', 'syscall')]),
  ];
  const c = ctx([route, status, avgByRoute, maxBy, minBy, sys], declared);

  it('one key selects its row', () => {
    const v = run('max(@route["/checkout"]) < 10ms', c);
    expect(v.status).toBe('fail');
    expect(v.comparisons[0]!.events).toBe(4);
    expect(run('p50(@route["/home"]) < 1.1ms', c).status).toBe('pass');
    expect(run('avg(@avg["/a"]) == 10', c).status).toBe('pass');
  });

  it('several keys, and * for any', () => {
    expect(run('count(@status["GET", 500]) == 4', c).status).toBe('pass');
    expect(run('count(@status[*, 500]) == 5', c).status).toBe('pass');
    expect(run('count(@status["POST", *]) == 11', c).status).toBe('pass');
    expect(run('count(@status[*, *]) == 105', c).status).toBe('pass');
  });

  it('no key: every key together (counts summed, buckets merged)', () => {
    expect(run('count(@status) == 105', c).status).toBe('pass');
    const all = run('p99(@route) < 10ms && count(@route) == 100 && p50(@route) < 1.1ms', c);
    expect(all.status).toBe('pass');
    // p99 of the union: the 99th of 100 values is 4 ms.
    expect(all.comparisons[0]!.value!).toBeGreaterThanOrEqual(ms(4));
    expect(all.comparisons[0]!.value!).toBeLessThan(ms(4) * (1 + 1 / 32));
    expect(run('max(@route) > 29ms', c).status).toBe('pass');
  });

  it('no key: avg weighted by counts, max of maxes, min of mins', () => {
    expect(run('avg(@avg) == 2.8', c).comparisons[0]!.value).toBeCloseTo(2.8, 10);
    expect(run('max(@mx) == 9', c).status).toBe('pass');
    expect(run('min(@mn) == 5', c).status).toBe('pass');
  });

  it('avg over keys without counts is the mean of the means, flagged approximate', () => {
    const a = scalar('@avg', 'avg', [{ keys: ['/a'], value: 10 }, { keys: ['/b'], value: 2 }], [key('route')]);
    const v = run('avg(@avg) == 6', ctx([a], declared)).comparisons[0]!;
    expect(v).toMatchObject({ value: 6, approximate: true, pass: true });
  });

  it('a syscall key matches its name too', () => {
    expect(run('count(@sys["read"]) == 3 && count(@sys[1]) == 4 && count(@sys["write"]) == 4', c).status).toBe('pass');
  });

  it('a key with no events: an error naming the keys that have some', () => {
    const v = run('p99(@route["/cart"]) < 10ms', c);
    expect(v.status).toBe('error');
    const d = v.comparisons[0]!.diagnostic!;
    expect(d.message).toBe('@route["/cart"] received no events');
    expect(d.hints).toEqual(['@route has events for the keys ["/checkout"], ["/home"]']);
    expect(d.span).toEqual({ start: 10, end: 19 });
    // count of a missing key is 0
    expect(run('count(@status["PUT", 200]) == 0', c).comparisons[0]).toMatchObject({ value: 0, noEvents: true, pass: true });
  });
});

describe('showing values', () => {
  it.each([
    [4128768, '4.129ms'],
    [10e6, '10ms'],
    [999, '999ns'],
    [1500, '1.5us'],
    [1.5e9, '1.5s'],
    [33030144, '33.03ms'],
    [7200e9, '120m'],
    [0, '0ns'],
  ])('formatDuration(%d) = %s', (ns, text) => {
    expect(formatDuration(ns)).toBe(text);
  });

  it('formatValue by kind', () => {
    expect(formatValue(660.94, 'rate')).toBe('660.9/s');
    expect(formatValue(100, 'rate')).toBe('100/s');
    expect(formatValue(200, 'count')).toBe('200');
    expect(formatValue(2.8000000001, 'number')).toBe('2.8');
    expect(formatValue(1234567, 'number')).toBe('1234567');
    expect(formatValue(4128768, 'duration')).toBe('4.129ms');
    expect(formatValue(null, 'duration')).toBe('-');
  });
});

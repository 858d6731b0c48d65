import { describe, expect, it } from 'vitest';
import { buildAggregation, merge, percentile, percentiles, present, sortRows, type HistAggregation, type ScalarAggregation } from '../../src/runner/aggregate.js';
import { above, below, displayBuckets, indexRange } from '../../src/runner/buckets.js';
import { VERSIONS, fixtureLines } from './fixtures.js';
import { agg, key, mapsOf } from './helpers.js';

describe.each(VERSIONS)('aggregations from bpftrace $dir maps', ({ dir, doubleEscapedKeys }) => {
  const maps = (name: string) => mapsOf(fixtureLines(dir, name), doubleEscapedKeys);

  it('count with string keys, sorted as DTrace does', () => {
    const a = buildAggregation(agg('@c', 'count', [key('execname')]), maps('maps')) as ScalarAggregation;
    expect(sortRows(a).rows).toEqual([
      { keys: ['a'], value: 1 },
      { keys: ['b,c'], value: 2 },
    ]);
  });

  it('sum with a string key holding a comma and an int key', () => {
    const a = buildAggregation(agg('@m', 'sum', [key('s'), key('n', 'int')]), maps('maps')) as ScalarAggregation;
    expect(sortRows(a).rows).toEqual([
      { keys: ['z', -4], value: -7 },
      { keys: ['x,y', 3], value: 5 },
    ]);
  });

  it('min/max/avg/stats', () => {
    const m = maps('maps');
    expect(buildAggregation(agg('@mn', 'min'), m)?.rows).toEqual([{ keys: [], value: 3 }]);
    expect(buildAggregation(agg('@kmax', 'max', [key('k', 'int')]), m)?.rows).toEqual([{ keys: [2], value: 40 }]);
    const s = maps('stats');
    expect(buildAggregation(agg('@a', 'avg'), s)?.rows).toEqual([{ keys: [], value: 5 }]);
    expect(buildAggregation(agg('@s', 'avg'), s)?.rows).toEqual([{ keys: [], value: 8, count: 2, sum: 16 }]);
    expect(sortRows(buildAggregation(agg('@sk', 'avg', [key('n', 'int'), key('s')]), s)!).rows.map((r) => r.keys)).toEqual([
      [1, 'x'],
      [2, 'y'],
    ]);
  });

  it('quantize and lquantize', () => {
    const h = buildAggregation(agg('@hk', 'quantize', [key('op')]), maps('hist')) as HistAggregation;
    expect(h.scheme).toEqual({ kind: 'log2' });
    expect(sortRows(h).rows.map((r) => r.keys)).toEqual([['read'], ['write']]);
    const l = buildAggregation(agg('@l', 'lquantize', [], { linear: { min: 0, max: 10, step: 2 } }), maps('lhist')) as HistAggregation;
    expect(l.rows[0]!.buckets[0]).toEqual({ lo: -Infinity, hi: 0, count: 1 });
  });

  it('llquantize from a count map whose last key is the bucket index', () => {
    const info = agg('@lat', 'llquantize', [key('method')], { buckets: { kind: 'edges', edges: [1, 10, 100] } });
    const a = buildAggregation(info, maps('llq')) as HistAggregation;
    const rows = Object.fromEntries(a.rows.map((r) => [r.keys.join(), r.buckets]));
    expect(rows['GET']).toEqual([
      { lo: -Infinity, hi: 1, count: 1 },
      { lo: 100, hi: Infinity, count: 2 },
    ]);
    // An index past the scheme still shows, as its own one-wide range.
    expect(rows['PUT']).toEqual([{ lo: 12, hi: 13, count: 1 }]);
  });

  it('stddev from count, sum and sum-of-squares maps', () => {
    const info = agg('@sd', 'stddev', [key('k')], { maps: ['@sd_n', '@sd_s', '@sd_ss'] });
    const a = buildAggregation(info, maps('markers')) as ScalarAggregation;
    expect(a.rows).toEqual([{ keys: ['x'], value: 0, count: 1, sum: 10, sumSq: 100 }]);
  });

  it('null when no map of the aggregation was printed', () => {
    expect(buildAggregation(agg('@none', 'count'), maps('maps'))).toBeNull();
  });
});

describe('present: trunc and normalize', () => {
  const a: ScalarAggregation = {
    name: '@x',
    kind: 'scalar',
    func: 'count',
    keys: [key('k')],
    rows: [
      { keys: ['a'], value: 30 },
      { keys: ['b'], value: 10 },
      { keys: ['c'], value: 20 },
    ],
  };
  it('trunc keeps the largest N (or the smallest -N)', () => {
    expect(present({ ...a, truncate: 2 }).rows.map((r) => r.keys[0])).toEqual(['c', 'a']);
    expect(present({ ...a, truncate: -1 }).rows.map((r) => r.keys[0])).toEqual(['b']);
  });
  it('normalize divides', () => {
    expect((present({ ...a, normalize: 10 }) as ScalarAggregation).rows.map((r) => r.value)).toEqual([1, 2, 3]);
  });
});

describe('buckets', () => {
  it('log2 neighbours', () => {
    expect(below({ kind: 'log2' }, { lo: 64, hi: 128, count: 1 })).toEqual({ lo: 32, hi: 64, count: 0 });
    expect(below({ kind: 'log2' }, { lo: 1, hi: 2, count: 1 })).toEqual({ lo: 0, hi: 1, count: 0 });
    expect(below({ kind: 'log2' }, { lo: 0, hi: 1, count: 1 })).toEqual({ lo: -Infinity, hi: 0, count: 0 });
    expect(above({ kind: 'log2' }, { lo: -Infinity, hi: 0, count: 1 })).toEqual({ lo: 0, hi: 1, count: 0 });
    expect(above({ kind: 'log2' }, { lo: 64, hi: 128, count: 1 })).toEqual({ lo: 128, hi: 256, count: 0 });
  });

  it('linear neighbours, including the out-of-range buckets', () => {
    const s = { kind: 'linear', min: 0, max: 10, step: 2 } as const;
    expect(below(s, { lo: 0, hi: 2, count: 1 })).toEqual({ lo: -Infinity, hi: 0, count: 0 });
    expect(above(s, { lo: 8, hi: 10, count: 1 })).toEqual({ lo: 10, hi: Infinity, count: 0 });
    expect(below(s, { lo: 10, hi: Infinity, count: 1 })).toEqual({ lo: 8, hi: 10, count: 0 });
    expect(above(s, { lo: 10, hi: Infinity, count: 1 })).toBeNull();
  });

  it('edges and log-linear index ranges', () => {
    const e = { kind: 'edges', edges: [1, 10, 100] } as const;
    expect(indexRange(e, 0)).toEqual({ lo: -Infinity, hi: 1 });
    expect(indexRange(e, 2)).toEqual({ lo: 10, hi: 100 });
    expect(indexRange(e, 3)).toEqual({ lo: 100, hi: Infinity });
    expect(indexRange(e, 4)).toBeNull();
    const ll = { kind: 'log-linear', subBuckets: 4 } as const;
    expect(indexRange(ll, 4 * 10 + 1)).toEqual({ lo: 1024 + 256, hi: 1024 + 512 });
    expect(below(ll, { lo: 1280, hi: 1536, count: 1 })).toEqual({ lo: 1024, hi: 1280, count: 0 });
    expect(above(ll, { lo: 1792, hi: 2048, count: 1 })).toEqual({ lo: 2048, hi: 2560, count: 0 });
  });

  it('displayBuckets adds one empty row on each side and fills gaps', () => {
    const rows = displayBuckets({ kind: 'edges', edges: [1, 10, 100, 1000] }, [
      { lo: 1, hi: 10, count: 3 },
      { lo: 100, hi: 1000, count: 1 },
    ]);
    expect(rows.map((b) => [b.lo, b.count])).toEqual([
      [-Infinity, 0],
      [1, 3],
      [10, 0],
      [100, 1],
      [1000, 0],
    ]);
    expect(displayBuckets({ kind: 'log2' }, [{ lo: 0, hi: 1, count: 0 }])).toEqual([]);
  });
});

describe('percentiles', () => {
  const buckets = [
    { lo: 0, hi: 10, count: 50 },
    { lo: 10, hi: 100, count: 40 },
    { lo: 100, hi: 1000, count: 9 },
    { lo: 1000, hi: Infinity, count: 1 },
  ];
  it('answers the upper edge of the bucket holding the quantile', () => {
    expect(percentile(buckets, 0.5)).toBe(10);
    expect(percentile(buckets, 0.9)).toBe(100);
    expect(percentile(buckets, 0.99)).toBe(1000);
    expect(percentile(buckets, 1)).toBe(1000);
    expect(percentile([], 0.5)).toBeNull();
    expect(percentiles(buckets)).toEqual({ p50: 10, p90: 100, p99: 1000, p999: 1000, max: 1000, count: 100 });
  });
});

describe('merge', () => {
  const base = { name: '@x', keys: [key('k')] } as const;
  const scalar = (func: ScalarAggregation['func'], rows: ScalarAggregation['rows']): ScalarAggregation => ({ ...base, kind: 'scalar', func, rows });

  it('adds counts and sums, keeps min/max', () => {
    const a = scalar('count', [{ keys: ['a'], value: 1 }, { keys: ['b'], value: 2 }]);
    const b = scalar('count', [{ keys: ['b'], value: 5 }, { keys: ['c'], value: 1 }]);
    expect(sortRows(merge(a, b)).rows).toEqual([
      { keys: ['a'], value: 1 },
      { keys: ['c'], value: 1 },
      { keys: ['b'], value: 7 },
    ]);
    expect(merge(scalar('min', [{ keys: ['a'], value: 3 }]), scalar('min', [{ keys: ['a'], value: -1 }])).rows).toEqual([{ keys: ['a'], value: -1 }]);
    expect(merge(scalar('max', [{ keys: ['a'], value: 3 }]), scalar('max', [{ keys: ['a'], value: -1 }])).rows).toEqual([{ keys: ['a'], value: 3 }]);
  });

  it('avg is exact with counts and sums, approximate without', () => {
    const exact = merge(scalar('avg', [{ keys: ['a'], value: 2, count: 1, sum: 2 }]), scalar('avg', [{ keys: ['a'], value: 5, count: 3, sum: 15 }]));
    expect(exact.rows).toEqual([{ keys: ['a'], value: 17 / 4, count: 4, sum: 17 }]);
    expect(exact.approximate).toBeUndefined();
    const approx = merge(scalar('avg', [{ keys: ['a'], value: 2 }]), scalar('avg', [{ keys: ['a'], value: 6 }]));
    expect(approx.rows[0]!.value).toBe(4);
    expect(approx.approximate).toBe(true);
  });

  it('stddev combines its parts exactly', () => {
    const m = merge(
      scalar('stddev', [{ keys: ['a'], value: 0, count: 1, sum: 2, sumSq: 4 }]),
      scalar('stddev', [{ keys: ['a'], value: 0, count: 1, sum: 4, sumSq: 16 }]),
    );
    expect(m.rows[0]!.value).toBe(1);
  });

  it('adds histograms bucket-wise', () => {
    const h = (buckets: { lo: number; hi: number; count: number }[]): HistAggregation => ({
      ...base,
      kind: 'hist',
      func: 'quantize',
      scheme: { kind: 'log2' },
      rows: [{ keys: ['a'], buckets }],
    });
    const m = merge(h([{ lo: 4, hi: 8, count: 1 }]), h([{ lo: 4, hi: 8, count: 2 }, { lo: 8, hi: 16, count: 1 }]));
    expect(m.rows[0]!.buckets).toEqual([
      { lo: 4, hi: 8, count: 3 },
      { lo: 8, hi: 16, count: 1 },
    ]);
  });

  it('refuses different functions', () => {
    expect(() => merge(scalar('count', []), scalar('sum', []))).toThrow();
  });
});

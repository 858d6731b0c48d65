import { describe, expect, it } from 'vitest';
import { hostName } from '../../src/runner/fleet.js';
import { mergeByName, type Aggregation } from '../../src/runner/aggregate.js';

const scalar = (name: string, func: 'count' | 'avg' | 'min' | 'max' | 'stddev' | 'sum', rows: { keys: string[]; value: number; count?: number; sum?: number; sumSq?: number }[]): Aggregation => ({
  kind: 'scalar',
  name,
  func,
  keys: [{ label: 'k', type: 'string', transform: 'none' }],
  rows,
});

describe('mergeByName', () => {
  it('adds counts and keeps keys seen on one host only', () => {
    const m = mergeByName([[scalar('@c', 'count', [{ keys: ['a'], value: 2 }, { keys: ['b'], value: 1 }])], [scalar('@c', 'count', [{ keys: ['a'], value: 5 }, { keys: ['c'], value: 7 }])]]);
    expect(m).toHaveLength(1);
    expect(Object.fromEntries((m[0] as Extract<Aggregation, { kind: 'scalar' }>).rows.map((r) => [r.keys[0], r.value]))).toEqual({ a: 7, b: 1, c: 7 });
  });
  it('merges avg from sums and counts, min/max, and stddev from its parts, exactly', () => {
    const avg = mergeByName([[scalar('@a', 'avg', [{ keys: ['x'], value: 2, count: 1, sum: 2 }])], [scalar('@a', 'avg', [{ keys: ['x'], value: 10, count: 3, sum: 30 }])]]);
    expect((avg[0] as Extract<Aggregation, { kind: 'scalar' }>).rows[0]).toMatchObject({ value: 8, count: 4, sum: 32 });
    expect(avg[0]!.approximate).toBeUndefined();
    const mn = mergeByName([[scalar('@m', 'min', [{ keys: ['x'], value: 4 }])], [scalar('@m', 'min', [{ keys: ['x'], value: 3 }])]]);
    expect((mn[0] as Extract<Aggregation, { kind: 'scalar' }>).rows[0]!.value).toBe(3);
    // values 1,2 on one host and 3,4 on the other: population stddev of 1..4 = sqrt(1.25)
    const sd = mergeByName([[scalar('@s', 'stddev', [{ keys: ['x'], value: 0.5, count: 2, sum: 3, sumSq: 5 }])], [scalar('@s', 'stddev', [{ keys: ['x'], value: 0.5, count: 2, sum: 7, sumSq: 25 }])]]);
    expect((sd[0] as Extract<Aggregation, { kind: 'scalar' }>).rows[0]!.value).toBeCloseTo(Math.sqrt(1.25), 0);
  });
  it('adds histograms bucket by bucket', () => {
    const h = (counts: [number, number][]): Aggregation => ({ kind: 'hist', name: '@h', func: 'quantize', keys: [], scheme: { kind: 'pow2' } as never, rows: [{ keys: [], buckets: counts.map(([lo, count]) => ({ lo, hi: lo * 2 || 1, count })) }] });
    const m = mergeByName([[h([[1, 2], [4, 1]])], [h([[4, 3], [8, 5]])], [h([[1, 1]])]]);
    expect((m[0] as Extract<Aggregation, { kind: 'hist' }>).rows[0]!.buckets.map((b) => [b.lo, b.count])).toEqual([[1, 3], [4, 4], [8, 5]]);
  });
});

describe('hostName', () => {
  it('is the host as typed, without the login', () => {
    expect(hostName('root@127.0.0.1:2201')).toBe('127.0.0.1:2201');
    expect(hostName('web1')).toBe('web1');
  });
});

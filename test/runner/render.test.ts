import { describe, expect, it } from 'vitest';
import { buildAggregation, type Aggregation, type HistAggregation, type ScalarAggregation } from '../../src/runner/aggregate.js';
import { colorEnabled, painter } from '../../src/runner/render/color.js';
import { distributionLines, renderHistogram } from '../../src/runner/render/histogram.js';
import { aggregationJson, aggregationsJson } from '../../src/runner/render/json.js';
import { formatOne, formatPrinta, parseFormat } from '../../src/runner/render/printa.js';
import { renderAggregation, renderAggregations, renderTable } from '../../src/runner/render/table.js';
import { VERSIONS, fixtureLines } from './fixtures.js';
import { agg, key, mapsOf } from './helpers.js';

const snap = (name: string) => `./__snapshots__/${name}`;

describe.each(VERSIONS)('rendering aggregations recorded from bpftrace $dir (same output for both)', ({ dir, doubleEscapedKeys }) => {
  const build = (fixture: string, info: Parameters<typeof buildAggregation>[0]) => buildAggregation(info, mapsOf(fixtureLines(dir, fixture), doubleEscapedKeys))!;

  it('count table with awkward string keys', async () => {
    const c = build('maps', agg('@c', 'count', [key('execname')]));
    const q = build('maps', agg('@q', 'count', [key('name')]));
    await expect(renderAggregations([c, q])).toMatchFileSnapshot(snap('table-count.txt'));
  });

  it('sum with two keys, scalar min and max, avg and stats', async () => {
    const out = renderAggregations([
      build('maps', agg('@m', 'sum', [key('s'), key('n', 'int')])),
      build('maps', agg('@mn', 'min')),
      build('maps', agg('@kmax', 'max', [key('k', 'int')])),
      build('stats', agg('@ak', 'avg', [key('op')])),
      build('stats', agg('@sk', 'avg', [key('n', 'int'), key('s')])),
    ]);
    await expect(out).toMatchFileSnapshot(snap('table-scalars.txt'));
  });

  it('quantize: negative, zero and large values; keyed', async () => {
    const out = renderAggregations([build('hist', agg('@h', 'quantize')), build('hist', agg('@hk', 'quantize', [key('op')]))]);
    await expect(out).toMatchFileSnapshot(snap('quantize.txt'));
  });

  it('lquantize with out-of-range buckets', async () => {
    const out = renderAggregations([
      build('lhist', agg('@l', 'lquantize', [], { linear: { min: 0, max: 10, step: 2 } })),
      build('lhist', agg('@lk', 'lquantize', [key('id', 'int')], { linear: { min: 0, max: 100, step: 10 } })),
    ]);
    await expect(out).toMatchFileSnapshot(snap('lquantize.txt'));
  });

  it('llquantize from bucket indexes', async () => {
    const out = renderAggregation(build('llq', agg('@lat', 'llquantize', [key('method')], { buckets: { kind: 'edges', edges: [1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000, 10000000000, 100000000000, 1000000000000] } })));
    await expect(out).toMatchFileSnapshot(snap('llquantize.txt'));
  });
});

describe('synthetic aggregations', () => {
  const latency: HistAggregation = {
    name: '@lat',
    kind: 'hist',
    func: 'latency',
    keys: [key('probefunc')],
    scheme: { kind: 'log-linear', subBuckets: 4 },
    rows: [
      {
        keys: ['main.handle'],
        buckets: [
          { lo: 40960, hi: 49152, count: 10 },
          { lo: 49152, hi: 57344, count: 60 },
          { lo: 65536, hi: 81920, count: 25 },
          { lo: 1048576, hi: 1310720, count: 5 },
        ],
      },
    ],
  };

  it('latency with percentiles', async () => {
    await expect(renderHistogram(latency)).toMatchFileSnapshot(snap('latency.txt'));
  });

  it('stddev, syscall names, stacks, trunc and normalize', async () => {
    const sd: ScalarAggregation = { name: '@sd', kind: 'scalar', func: 'stddev', keys: [], rows: [{ keys: [], value: 12.7, count: 3, sum: 6, sumSq: 500 }] };
    const sys: ScalarAggregation = {
      name: '@',
      kind: 'scalar',
      func: 'count',
      keys: [key('probefunc', 'int', 'syscall')],
      rows: [
        { keys: [0], value: 10 },
        { keys: [257], value: 3 },
        { keys: [1], value: 7 },
        { keys: [999], value: 1 },
      ],
      truncate: 3,
    };
    const stacks: ScalarAggregation = {
      name: '@stacks',
      kind: 'scalar',
      func: 'count',
      keys: [key('execname'), key('ustack', 'stack', 'ustack')],
      rows: [
        { keys: ['svc', 'main.handle+12\nnet/http.serve+80\nruntime.goexit+1'], value: 4000 },
        { keys: ['svc', 'main.idle+3'], value: 2000 },
      ],
      normalize: 1000,
    };
    await expect(renderAggregations([sd, sys, stacks])).toMatchFileSnapshot(snap('table-special.txt'));
  });

  it('an empty aggregation renders an empty table', () => {
    expect(renderTable({ name: '@e', kind: 'scalar', func: 'count', keys: [key('k')], rows: [] })).toContain('count');
  });

  it('NDJSON: one object per aggregation, open bucket bounds as null', async () => {
    const q: HistAggregation = { name: '@q', kind: 'hist', func: 'quantize', keys: [], scheme: { kind: 'log2' }, rows: [{ keys: [], buckets: [{ lo: -Infinity, hi: 0, count: 1 }, { lo: 4, hi: 8, count: 2 }] }] };
    const sys: ScalarAggregation = { name: '@', kind: 'scalar', func: 'count', keys: [key('probefunc', 'int', 'syscall')], rows: [{ keys: [0], value: 2 }] };
    const out = aggregationsJson([q, latency, sys], 'final');
    for (const line of out.trim().split('\n')) expect(() => JSON.parse(line)).not.toThrow();
    expect(aggregationJson(q, 'snapshot')).toEqual({ type: 'aggregation', phase: 'snapshot', name: '@q', func: 'quantize', keys: [], rows: [{ keys: [], buckets: [{ lo: null, hi: 0, count: 1 }, { lo: 4, hi: 8, count: 2 }] }] });
    expect(aggregationJson(sys, 'final').rows).toEqual([{ keys: ['read'], value: 2 }]);
    await expect(out).toMatchFileSnapshot(snap('aggregations.ndjson'));
  });
});

describe('printa', () => {
  const calls: ScalarAggregation = {
    name: '@calls',
    kind: 'scalar',
    func: 'count',
    keys: [key('execname'), key('pid', 'int')],
    rows: [
      { keys: ['nginx', 100], value: 30 },
      { keys: ['bash', 7], value: 2 },
      { keys: ['svc', 42], value: 255 },
    ],
  };
  const bytes: ScalarAggregation = { ...calls, name: '@bytes', func: 'sum', rows: [{ keys: ['svc', 42], value: 4096 }, { keys: ['nginx', 100], value: 512 }] };

  it('applies the format per tuple, in value order', async () => {
    const out = [
      formatPrinta('%-10s %5d %@8d\n', [calls]),
      formatPrinta('%s: %@x %@#X %@u\n', [calls]),
      formatPrinta('%s\n', [calls]),
      formatPrinta('%-8s %@8d calls %@8d bytes\n', [calls, bytes]),
    ].join('---\n');
    await expect(out).toMatchFileSnapshot(snap('printa.txt'));
  });

  it('prints a histogram value as its distribution', () => {
    const h: HistAggregation = { name: '@h', kind: 'hist', func: 'quantize', keys: [key('op')], scheme: { kind: 'log2' }, rows: [{ keys: ['read'], buckets: [{ lo: 4, hi: 8, count: 1 }] }] };
    const out = formatPrinta('op %s%@d', [h]);
    expect(out.split('\n')).toEqual(['op read', ...distributionLines(h.rows[0]!.buckets, h.scheme), '']);
  });

  it('formats conversions as C does', () => {
    const c = (f: string) => parseFormat(f)[0] as Exclude<ReturnType<typeof parseFormat>[number], string>;
    expect(formatOne(c('%05d'), -42)).toBe('-0042');
    expect(formatOne(c('%+d'), 5)).toBe('+5');
    expect(formatOne(c('%u'), -1)).toBe('18446744073709551615');
    expect(formatOne(c('%x'), 255)).toBe('ff');
    expect(formatOne(c('%#o'), 8)).toBe('010');
    expect(formatOne(c('%.2s'), 'abc')).toBe('ab');
    expect(formatOne(c('%-4s'), 'a')).toBe('a   ');
    expect(formatOne(c('%.1f'), 2.25)).toBe('2.3');
    expect(formatOne(c('%lld'), 7)).toBe('7');
    expect(formatOne(c('%c'), 65)).toBe('A');
    expect(parseFormat('100%% %d')).toEqual(['100', '%', ' ', expect.objectContaining({ conv: 'd' })]);
  });
});

describe('colour', () => {
  it('follows FORCE_COLOR, NO_COLOR, TERM=dumb and isTTY in that order', () => {
    const tty = { isTTY: true };
    expect(colorEnabled(tty, {})).toBe(true);
    expect(colorEnabled({ isTTY: false }, {})).toBe(false);
    expect(colorEnabled(tty, { NO_COLOR: '1' })).toBe(false);
    expect(colorEnabled(tty, { NO_COLOR: '' })).toBe(true);
    expect(colorEnabled(tty, { TERM: 'dumb' })).toBe(false);
    expect(colorEnabled({ isTTY: false }, { FORCE_COLOR: '1' })).toBe(true);
    expect(colorEnabled({ isTTY: false }, { FORCE_COLOR: '', NO_COLOR: '1' })).toBe(true);
    expect(colorEnabled(tty, { FORCE_COLOR: '0' })).toBe(false);
  });

  it('colours tables and bars only when enabled', () => {
    const a: Aggregation = { name: '@x', kind: 'scalar', func: 'count', keys: [key('k')], rows: [{ keys: ['a'], value: 1 }] };
    expect(renderAggregation(a, painter(false, {}))).not.toMatch(/\u001b\[/);
    expect(renderAggregation(a, painter(true, {}))).toMatch(/\u001b\[/);
  });
});

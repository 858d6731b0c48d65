// Keyed latency() aggregations as one compact table, one row per key, instead of one
// distribution per key:
//
//   @lat
//   ┌───────────┬───────┬────────┬────────┬────────┬────────┬────────┐
//   │ probefunc │ count │    p50 │    p90 │    p99 │   p999 │    max │
//   ├───────────┼───────┼────────┼────────┼────────┼────────┼────────┤
//   │ main.vote │    95 │ 57.3us │ 81.9us │ 1.31ms │ 1.31ms │ 1.31ms │
//   └───────────┴───────┴────────┴────────┴────────┴────────┴────────┘
//
// latency() takes nanoseconds (timestamp deltas), so percentiles are shown as durations. Each
// is the upper edge of the bucket that holds it (exact to the bucket: at most 1/32 above the
// true value); max is the upper edge of the highest bucket. -o json has the raw numbers.

import { percentiles, present, type HistAggregation } from '../aggregate.js';
import { plainPaint, type Paint } from './color.js';
import { formatKey, formatNumber, humanNs, renderGrid } from './format.js';

export const PERCENTILE_COLUMNS = ['count', 'p50', 'p90', 'p99', 'p999', 'max'] as const;

const dur = (v: number | null) => (v === null ? '-' : humanNs(v));

export function renderPercentileTable(agg: HistAggregation, paint: Paint = plainPaint): string {
  const shown = present(agg) as HistAggregation;
  const cells = shown.rows.map((row) => {
    const p = percentiles(row.buckets);
    return [
      ...agg.keys.map((k, i) => {
        const v = row.keys[i];
        return v === undefined ? '' : formatKey(v, k);
      }),
      formatNumber(p.count),
      dur(p.p50),
      dur(p.p90),
      dur(p.p99),
      dur(p.p999),
      dur(p.max),
    ];
  });
  const text = renderGrid(
    [...agg.keys.map((k) => k.label), ...PERCENTILE_COLUMNS].map((h) => paint.header(h)),
    cells,
    [...agg.keys.map(() => 'left' as const), ...PERCENTILE_COLUMNS.map(() => 'right' as const)],
  );
  const title = agg.name !== '@' ? paint.title(agg.name) + '\n' : '';
  return title + text + '\n';
}

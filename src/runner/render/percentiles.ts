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

import Table from 'cli-table3';
import { percentiles, present, type HistAggregation } from '../aggregate.js';
import { plainPaint, type Paint } from './color.js';
import { formatKey, formatNumber, humanNs } from './format.js';

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
  const ruled = cells.some((r) => r.some((c) => c.includes('\n')));
  const table = new Table({
    head: [...agg.keys.map((k) => k.label), ...PERCENTILE_COLUMNS].map((h) => paint.header(h)),
    ...(ruled ? {} : { chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' } }),
    colAligns: [...agg.keys.map(() => 'left' as const), ...PERCENTILE_COLUMNS.map(() => 'right' as const)],
    style: { head: [], border: [], 'padding-left': 1, 'padding-right': 1 },
    wordWrap: false,
  });
  for (const r of cells) table.push(r);
  let text = table.toString();
  if (!ruled) {
    const lines = text.split('\n');
    const rule = (lines[0] ?? '').replace('┌', '├').replace(/┬/g, '┼').replace('┐', '┤');
    if (lines.length > 2) lines.splice(2, 0, rule);
    text = lines.join('\n');
  }
  const title = agg.name !== '@' ? paint.title(agg.name) + '\n' : '';
  return title + text + '\n';
}

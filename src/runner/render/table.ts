// Scalar aggregations (count, sum, avg, min, max, stddev) as tables: one per aggregation,
// key columns headed by the key expression, the value column by the function, rows in
// DTrace's order (by value, largest last).

import { present, type Aggregation, type ScalarAggregation } from '../aggregate.js';
import { plainPaint, type Paint } from './color.js';
import { formatKey, formatNumber, renderGrid, valueHeader } from './format.js';
import { renderHistogram } from './histogram.js';
import { renderPercentileTable } from './percentiles.js';

export function renderTable(agg: ScalarAggregation, paint: Paint = plainPaint): string {
  const shown = present(agg) as ScalarAggregation;
  const head = [...agg.keys.map((k) => k.label), valueHeader(agg) + (agg.approximate ? ' (approx.)' : '')];
  const cells = shown.rows.map((row) => [
    ...agg.keys.map((k, i) => {
      const v = row.keys[i];
      return v === undefined ? '' : formatKey(v, k);
    }),
    formatNumber(row.value),
  ]);
  const text = renderGrid(head.map((h) => paint.header(h)), cells, [...agg.keys.map(() => 'left' as const), 'right' as const]);
  const title = agg.name !== '@' ? paint.title(agg.name) + '\n' : '';
  return title + text + '\n';
}

/**
 * Any aggregation in its default form: a table, or distributions; a latency() aggregation with
 * keys as one percentile table (a row per key). Ends with one newline.
 */
export function renderAggregation(agg: Aggregation, paint: Paint = plainPaint): string {
  if (agg.kind === 'scalar') return renderTable(agg, paint);
  if (agg.func === 'latency' && agg.keys.length > 0) return renderPercentileTable(agg, paint);
  return renderHistogram(agg, paint);
}

/** Several aggregations, separated by blank lines. */
export function renderAggregations(aggs: readonly Aggregation[], paint: Paint = plainPaint): string {
  return aggs.map((a) => renderAggregation(a, paint)).join('\n');
}

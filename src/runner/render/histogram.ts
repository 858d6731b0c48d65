// DTrace-style distributions (libdtrace dt_print_quantize and friends):
//
//            value  ------------- Distribution ------------- count
//               32 |                                         0
//               64 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@ 1
//              128 |                                         0
//
// One empty row is shown on each side of the data; a key's block starts with its key line.
// Trailing spaces are trimmed (DTrace pads the count to 9 columns).

import { percentiles, present, type HistAggregation, type HistRow } from '../aggregate.js';
import { displayBuckets, type HistScheme } from '../buckets.js';
import type { Bucket } from '../events.js';
import { plainPaint, type Paint } from './color.js';
import { formatBound, formatKey, formatNumber, humanNs } from './format.js';

const WIDTH = 40;
const LABEL = 16;

export const DIST_HEADER = `${'value'.padStart(LABEL)}  ------------- Distribution ------------- count`;

export function bucketLabel(b: Bucket): string {
  if (b.lo === -Infinity) return `< ${formatBound(b.hi)}`;
  if (b.hi === Infinity) return `>= ${formatBound(b.lo)}`;
  return formatBound(b.lo);
}

/** The distribution rows of one key (no key line), as lines without newlines. */
export function distributionLines(buckets: readonly Bucket[], scheme: HistScheme, paint: Paint = plainPaint): string[] {
  const rows = displayBuckets(scheme, buckets);
  const total = rows.reduce((s, b) => s + Math.abs(b.count), 0);
  const lines = [paint.header(DIST_HEADER)];
  for (const b of rows) {
    const depth = total > 0 ? Math.floor((Math.abs(b.count) * WIDTH) / total + 0.5) : 0;
    const bar = '@'.repeat(depth) + ' '.repeat(WIDTH - depth);
    lines.push(`${bucketLabel(b).padStart(LABEL)} |${paint.bar(bar)} ${formatNumber(b.count)}`.trimEnd());
  }
  return lines;
}

/** p50/p90/p99/max lines for latency: each an upper bound, exact to the bucket. */
export function percentileLines(row: HistRow, paint: Paint = plainPaint): string[] {
  const p = percentiles(row.buckets);
  const items: [string, number | null][] = [
    ['p50', p.p50],
    ['p90', p.p90],
    ['p99', p.p99],
    ['max', p.max],
  ];
  return items
    .filter((x): x is [string, number] => x[1] !== null)
    .map(([name, v]) => paint.dim(`${name.padStart(LABEL)} < ${formatBound(v)} (${humanNs(v)})`));
}

/** Key line of a block: parts two spaces apart; stacks one frame per line. */
export function keyLine(row: HistRow, agg: HistAggregation): string[] {
  if (row.keys.length === 0) return [];
  const parts = row.keys.map((k, i) => formatKey(k, agg.keys[i]));
  if (!parts.some((p) => p.includes('\n'))) return ['  ' + parts.join('  ')];
  return parts.flatMap((p) => p.split('\n').map((l) => '  ' + l));
}

/**
 * One aggregation: its name, then a block per key in DTrace order (largest total last),
 * blocks separated by a blank line. Ends with one newline.
 */
export function renderHistogram(agg: HistAggregation, paint: Paint = plainPaint): string {
  const shown = present(agg) as HistAggregation;
  const blocks = shown.rows.map((row) =>
    [...keyLine(row, shown), ...distributionLines(row.buckets, shown.scheme, paint), ...(shown.func === 'latency' ? percentileLines(row, paint) : [])].join('\n'),
  );
  const title = agg.name !== '@' ? paint.title(agg.name) + '\n' : '';
  return title + (blocks.length ? blocks.join('\n\n') + '\n' : '');
}

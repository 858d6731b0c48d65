// Histogram bucket schemes: where a bucket's neighbours are (DTrace prints one empty row on
// each side of the data) and how llquantize/latency bucket indexes become value ranges.

import type { AggregationInfo } from '../compiler/program.js';
import type { Bucket } from './events.js';

export type HistScheme =
  /** bpftrace hist(): (-inf,0) [0,1) [1,2) [2,4) [4,8) ... */
  | { readonly kind: 'log2' }
  /** bpftrace lhist(v, min, max, step): (-inf,min) [min,min+step) ... [max,inf) */
  | { readonly kind: 'linear'; readonly min: number; readonly max: number; readonly step: number }
  /** llquantize: index i holds edges[i-1] <= v < edges[i]; index 0 is below edges[0] (src/compiler/lower.ts). */
  | { readonly kind: 'edges'; readonly edges: readonly number[] }
  /** latency: index m*sub+s holds [2^m + s*2^m/sub, 2^m + (s+1)*2^m/sub). */
  | { readonly kind: 'log-linear'; readonly subBuckets: number }
  /** Unknown parameters: only the buckets that arrived. */
  | { readonly kind: 'observed' };

export function schemeOf(info: AggregationInfo): HistScheme {
  switch (info.func) {
    case 'quantize':
      return { kind: 'log2' };
    case 'lquantize':
      return info.linear ? { kind: 'linear', ...info.linear } : { kind: 'observed' };
    case 'llquantize':
    case 'latency':
      if (info.buckets?.kind === 'edges') return { kind: 'edges', edges: info.buckets.edges };
      if (info.buckets?.kind === 'log-linear') return { kind: 'log-linear', subBuckets: Math.max(1, info.buckets.subBuckets) };
      return { kind: 'observed' };
    default:
      return { kind: 'observed' };
  }
}

/** The value range of bucket `index` of an indexed scheme (edges, log-linear). */
export function indexRange(scheme: HistScheme, index: number): { lo: number; hi: number } | null {
  if (!Number.isInteger(index) || index < 0) return null;
  if (scheme.kind === 'edges') {
    const e = scheme.edges;
    if (index > e.length) return null;
    return { lo: index === 0 ? -Infinity : e[index - 1]!, hi: index === e.length ? Infinity : e[index]! };
  }
  if (scheme.kind === 'log-linear') {
    const sub = scheme.subBuckets;
    const m = Math.floor(index / sub);
    const s = index % sub;
    const base = 2 ** m;
    return { lo: base + (s * base) / sub, hi: base + ((s + 1) * base) / sub };
  }
  return null;
}

/** The index whose range starts at `lo`, for indexed schemes. */
function indexOf(scheme: HistScheme, lo: number): number | null {
  if (scheme.kind === 'edges') {
    if (lo === -Infinity) return 0;
    const i = scheme.edges.indexOf(lo);
    return i === -1 ? null : i + 1;
  }
  if (scheme.kind === 'log-linear') {
    if (!(lo >= 1)) return null;
    const m = Math.floor(Math.log2(lo));
    const base = 2 ** m;
    const s = Math.round(((lo - base) * scheme.subBuckets) / base);
    return m * scheme.subBuckets + s;
  }
  return null;
}

const empty = (lo: number, hi: number): Bucket => ({ lo, hi, count: 0 });

/** The bucket just below `b`, with count 0; null at the bottom or when unknown. */
export function below(scheme: HistScheme, b: Bucket): Bucket | null {
  switch (scheme.kind) {
    case 'log2':
      if (b.lo === -Infinity) return null;
      if (b.lo === 0) return empty(-Infinity, 0);
      if (b.lo === 1) return empty(0, 1);
      return empty(b.lo / 2, b.lo);
    case 'linear':
      if (b.lo === -Infinity) return null;
      if (b.lo <= scheme.min) return empty(-Infinity, scheme.min);
      if (b.lo === Infinity || b.hi === Infinity) return empty(lastLinearLo(scheme), scheme.max);
      return empty(b.lo - scheme.step, b.lo);
    case 'edges':
    case 'log-linear': {
      const i = indexOf(scheme, b.lo);
      if (i === null || i === 0) return null;
      const r = indexRange(scheme, i - 1);
      return r ? empty(r.lo, r.hi) : null;
    }
    case 'observed':
      return null;
  }
}

/** The bucket just above `b`, with count 0; null at the top or when unknown. */
export function above(scheme: HistScheme, b: Bucket): Bucket | null {
  switch (scheme.kind) {
    case 'log2':
      if (b.hi === Infinity) return null;
      if (b.lo === -Infinity) return empty(0, 1);
      if (b.lo === 0) return empty(1, 2);
      return empty(b.hi, b.hi * 2);
    case 'linear':
      if (b.hi === Infinity) return null;
      if (b.hi >= scheme.max) return empty(scheme.max, Infinity);
      return empty(b.hi, Math.min(b.hi + scheme.step, scheme.max));
    case 'edges':
    case 'log-linear': {
      const i = indexOf(scheme, b.lo);
      if (i === null) return null;
      const r = indexRange(scheme, i + 1);
      return r ? empty(r.lo, r.hi) : null;
    }
    case 'observed':
      return null;
  }
}

function lastLinearLo(s: { min: number; max: number; step: number }): number {
  const n = Math.max(0, Math.ceil((s.max - s.min) / s.step) - 1);
  return s.min + n * s.step;
}

/**
 * The rows DTrace prints: every bucket from one below the first non-empty bucket to one above
 * the last, gaps filled with zero-count buckets. Buckets must be sorted by `lo`.
 */
export function displayBuckets(scheme: HistScheme, buckets: readonly Bucket[]): Bucket[] {
  const nonzero = buckets.filter((b) => b.count !== 0);
  const first = nonzero[0];
  const last = nonzero[nonzero.length - 1];
  if (first === undefined || last === undefined) return [];
  const byLo = new Map(buckets.map((b) => [b.lo, b]));
  const out: Bucket[] = [];
  const start = below(scheme, first);
  if (start) out.push(byLo.get(start.lo) ?? start);
  if (scheme.kind === 'observed') {
    out.push(...buckets.filter((b) => b.lo >= first.lo && b.lo <= last.lo));
    return out;
  }
  let cur: Bucket | null = first;
  // Bounded walk: a scheme whose steps did not line up with the data must not loop forever.
  for (let guard = 0; cur !== null && guard < 100_000; guard++) {
    out.push(byLo.get(cur.lo) ?? cur);
    if (cur.lo >= last.lo) break;
    const next: Bucket | null = above(scheme, cur);
    if (next === null || next.lo <= cur.lo) {
      out.push(...buckets.filter((b) => b.lo > cur!.lo && b.lo <= last.lo));
      cur = null;
      break;
    }
    // Jump over a gap the scheme's stepping would miss (e.g. mismatched linear params after a merge).
    const known = buckets.find((b) => b.lo > cur!.lo && b.lo < next.lo);
    cur = known ?? next;
  }
  const end = above(scheme, last);
  if (end) out.push(byLo.get(end.lo) ?? end);
  return out;
}

// Raw bpftrace maps + the compiler's AggregationInfo -> typed aggregations: rows of keys and a
// value, or keys and buckets. Also what the renderers and `trace check` need on top: DTrace's
// row order, normalize/trunc, percentiles, and merging aggregations from several hosts, or from
// the successive bpftrace runs of a followed container (--follow).

import type { AggregationInfo, KeyInfo } from '../compiler/program.js';
import { schemeOf, indexRange, type HistScheme } from './buckets.js';
import type { Bucket, JsonValue, MapData, MapEntry } from './events.js';
import { compareKeys, keyId, splitKey, type Key, type KeyKind } from './keys.js';

export type ScalarFunc = 'count' | 'sum' | 'avg' | 'min' | 'max' | 'stddev';
export type HistFunc = 'quantize' | 'lquantize' | 'llquantize' | 'latency';

export interface ScalarRow {
  readonly keys: readonly Key[];
  readonly value: number;
  /** avg and stddev keep their parts so that merging stays exact where bpftrace gave them. */
  readonly count?: number;
  readonly sum?: number;
  readonly sumSq?: number;
}

export interface HistRow {
  readonly keys: readonly Key[];
  /** Sorted by `lo`. */
  readonly buckets: readonly Bucket[];
}

interface AggBase {
  readonly name: string;
  readonly keys: readonly KeyInfo[];
  readonly normalize?: number;
  readonly truncate?: number;
  /** Set by merge() when the result could not be computed exactly (avg without counts). */
  readonly approximate?: boolean;
  /** Value column header instead of the function name (maps the compiler did not declare). */
  readonly valueLabel?: string;
}

export interface ScalarAggregation extends AggBase {
  readonly kind: 'scalar';
  readonly func: ScalarFunc;
  readonly rows: readonly ScalarRow[];
}

export interface HistAggregation extends AggBase {
  readonly kind: 'hist';
  readonly func: HistFunc;
  readonly scheme: HistScheme;
  readonly rows: readonly HistRow[];
}

export type Aggregation = ScalarAggregation | HistAggregation;

const HIST_FUNCS: readonly string[] = ['quantize', 'lquantize', 'llquantize', 'latency'];

export function isHistFunc(f: string): f is HistFunc {
  return HIST_FUNCS.includes(f);
}

/** How each bpftrace map of an aggregation is keyed (llquantize/latency add the bucket index). */
export function mapKeyKinds(info: AggregationInfo): readonly KeyKind[] {
  const user = info.keys.map((k) => k.type);
  return info.func === 'llquantize' || info.func === 'latency' ? [...user, 'int'] : user;
}

const keysOf = (e: MapEntry<unknown>, kinds: readonly KeyKind[]): readonly Key[] =>
  e.rawKey === null ? [] : splitKey(e.rawKey, kinds);

const num = (v: JsonValue | undefined): number => (typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN);

/**
 * Builds one aggregation from the maps that arrived (keyed by bpftrace map name). Returns null
 * when none of its maps is there (bpftrace prints nothing for an empty map).
 */
export function buildAggregation(info: AggregationInfo, maps: ReadonlyMap<string, MapData>): Aggregation | null {
  const present = info.maps.map((m) => maps.get(m));
  if (present.every((m) => m === undefined)) return null;
  const kinds = mapKeyKinds(info);
  const base = {
    name: info.name,
    ...(info.valueLabel ? { valueLabel: info.valueLabel } : {}),
    keys: info.keys,
    ...(info.normalize !== undefined ? { normalize: info.normalize } : {}),
    ...(info.truncate !== undefined ? { truncate: info.truncate } : {}),
  };
  const main = present[0];
  switch (info.func) {
    case 'count':
    case 'sum':
    case 'min':
    case 'max':
    case 'avg':
      return { ...base, kind: 'scalar', func: info.func, rows: main ? scalarRows(main, kinds) : [] };
    case 'stddev':
      return { ...base, kind: 'scalar', func: 'stddev', rows: stddevRows(present, kinds) };
    case 'quantize':
    case 'lquantize': {
      const rows: HistRow[] = [];
      if (main?.kind === 'hist') {
        for (const e of main.entries) rows.push({ keys: keysOf(e, kinds), buckets: [...e.value].sort((a, b) => a.lo - b.lo) });
      }
      return { ...base, kind: 'hist', func: info.func, scheme: schemeOf(info), rows };
    }
    case 'llquantize':
    case 'latency': {
      const scheme = schemeOf(info);
      return { ...base, kind: 'hist', func: info.func, scheme, rows: main ? indexedRows(main, kinds, scheme) : [] };
    }
  }
}

function scalarRows(m: MapData, kinds: readonly KeyKind[]): ScalarRow[] {
  switch (m.kind) {
    case 'scalar':
      return m.entries.map((e) => ({ keys: keysOf(e, kinds), value: num(e.value) }));
    case 'stats':
      return m.entries.map((e) => ({
        keys: keysOf(e, kinds),
        value: e.value.average,
        ...(e.value.count !== undefined ? { count: e.value.count } : {}),
        ...(e.value.total !== undefined ? { sum: e.value.total } : {}),
      }));
    case 'hist':
      // A hist map where a scalar was declared: show the total count rather than nothing.
      return m.entries.map((e) => ({ keys: keysOf(e, kinds), value: e.value.reduce((s, b) => s + b.count, 0) }));
  }
}

/** stddev from its count, sum and sum-of-squares maps, as DTrace does (population stddev). */
function stddevRows(maps: readonly (MapData | undefined)[], kinds: readonly KeyKind[]): ScalarRow[] {
  const parts = new Map<string, { keys: readonly Key[]; n: number; s: number; ss: number }>();
  maps.forEach((m, i) => {
    if (m === undefined || i > 2) return;
    for (const row of scalarRows(m, kinds)) {
      const id = keyId(row.keys);
      const p = parts.get(id) ?? { keys: row.keys, n: 0, s: 0, ss: 0 };
      if (i === 0) p.n = row.value;
      else if (i === 1) p.s = row.value;
      else p.ss = row.value;
      parts.set(id, p);
    }
  });
  return [...parts.values()].map((p) => ({ keys: p.keys, value: stddevOf(p.n, p.s, p.ss), count: p.n, sum: p.s, sumSq: p.ss }));
}

export function stddevOf(n: number, s: number, ss: number): number {
  if (!(n > 0)) return 0;
  const mean = s / n;
  return Math.sqrt(Math.max(0, ss / n - mean * mean));
}

/** llquantize/latency: a count map whose last key is the bucket index. */
function indexedRows(m: MapData, kinds: readonly KeyKind[], scheme: HistScheme): HistRow[] {
  const rows = new Map<string, { keys: readonly Key[]; buckets: Map<number, Bucket> }>();
  for (const row of scalarRows(m, kinds)) {
    const idx = row.keys[row.keys.length - 1];
    const keys = row.keys.slice(0, -1);
    const index = typeof idx === 'number' ? idx : Number(idx);
    const range = indexRange(scheme, index) ?? { lo: index, hi: index + 1 };
    const id = keyId(keys);
    const r = rows.get(id) ?? { keys, buckets: new Map<number, Bucket>() };
    const old = r.buckets.get(range.lo);
    r.buckets.set(range.lo, { lo: range.lo, hi: range.hi, count: (old?.count ?? 0) + row.value });
    rows.set(id, r);
  }
  return [...rows.values()].map((r) => ({ keys: r.keys, buckets: [...r.buckets.values()].sort((a, b) => a.lo - b.lo) }));
}

// ---- order, normalize, trunc ----

export function histTotal(row: HistRow): number {
  return row.buckets.reduce((s, b) => s + b.count, 0);
}

function rowWeight(agg: Aggregation, i: number): number {
  return agg.kind === 'scalar' ? agg.rows[i]!.value : histTotal(agg.rows[i]!);
}

/** DTrace's order: by value ascending (largest last), then by key. */
export function sortRows<A extends Aggregation>(agg: A): A {
  const idx = agg.rows.map((_, i) => i);
  idx.sort((a, b) => {
    const d = rowWeight(agg, a) - rowWeight(agg, b);
    return d !== 0 && !Number.isNaN(d) ? d : compareKeys(agg.rows[a]!.keys, agg.rows[b]!.keys);
  });
  return { ...agg, rows: idx.map((i) => agg.rows[i]!) } as A;
}

/**
 * What is shown: rows in DTrace's order, trunc(@x, N) applied (N > 0 keeps the N largest,
 * N < 0 the |N| smallest) and values divided by normalize(@x, N).
 */
export function present(agg: Aggregation): Aggregation {
  let a: Aggregation = sortRows(agg);
  const t = a.truncate;
  if (t !== undefined && t !== 0 && a.rows.length > Math.abs(t)) {
    const rows = t > 0 ? a.rows.slice(a.rows.length - t) : a.rows.slice(0, -t);
    a = { ...a, rows } as Aggregation;
  }
  const n = a.normalize;
  if (n !== undefined && n !== 0 && n !== 1) {
    if (a.kind === 'scalar') a = { ...a, rows: a.rows.map((r) => ({ ...r, value: r.value / n })) };
    else a = { ...a, rows: a.rows.map((r) => ({ ...r, buckets: r.buckets.map((b) => ({ ...b, count: b.count / n })) })) };
  }
  return a;
}

// ---- percentiles ----

/**
 * The value below which fraction `q` of the samples fall, as the upper edge of the bucket that
 * holds it (exact only to the bucket: the true value is within [lo, hi)). An open-ended top
 * bucket answers its lower edge. Null when there are no samples.
 */
export function percentile(buckets: readonly Bucket[], q: number): number | null {
  const total = buckets.reduce((s, b) => s + Math.max(0, b.count), 0);
  if (total === 0) return null;
  const target = Math.min(1, Math.max(0, q)) * total;
  let seen = 0;
  for (const b of buckets) {
    seen += Math.max(0, b.count);
    if (b.count > 0 && seen >= target) return b.hi === Infinity ? b.lo : b.hi;
  }
  const last = [...buckets].reverse().find((b) => b.count > 0);
  return last ? (last.hi === Infinity ? last.lo : last.hi) : null;
}

export interface Percentiles {
  readonly p50: number | null;
  readonly p90: number | null;
  readonly p99: number | null;
  readonly p999: number | null;
  /** Upper edge of the highest non-empty bucket. */
  readonly max: number | null;
  readonly count: number;
}

export function percentiles(buckets: readonly Bucket[]): Percentiles {
  return {
    p50: percentile(buckets, 0.5),
    p90: percentile(buckets, 0.9),
    p99: percentile(buckets, 0.99),
    p999: percentile(buckets, 0.999),
    max: percentile(buckets, 1),
    count: buckets.reduce((s, b) => s + b.count, 0),
  };
}

// ---- merge ----

/**
 * Merges two aggregations of the same name and function (from two hosts or containers).
 * Exact: count, sum, min, max, histograms (bucket-wise), stddev and avg when both sides carry
 * their counts and sums. Approximate (flagged): avg from bpftrace's avg(), which reports only
 * the integer mean, is merged as the unweighted mean of means. Throws on mismatched kinds,
 * which is a caller bug.
 */
export function merge(a: Aggregation, b: Aggregation): Aggregation {
  if (a.kind !== b.kind || a.func !== b.func) throw new Error(`cannot merge ${a.func} ${a.name} with ${b.func} ${b.name}`);
  if (a.kind === 'hist' && b.kind === 'hist') {
    const rows = new Map<string, { keys: readonly Key[]; buckets: Map<number, Bucket> }>();
    for (const r of [...a.rows, ...b.rows]) {
      const id = keyId(r.keys);
      const row = rows.get(id) ?? { keys: r.keys, buckets: new Map<number, Bucket>() };
      for (const bk of r.buckets) {
        const old = row.buckets.get(bk.lo);
        row.buckets.set(bk.lo, { lo: bk.lo, hi: old ? Math.max(old.hi, bk.hi) : bk.hi, count: (old?.count ?? 0) + bk.count });
      }
      rows.set(id, row);
    }
    const sameScheme = JSON.stringify(a.scheme) === JSON.stringify(b.scheme);
    return {
      ...a,
      scheme: sameScheme ? a.scheme : { kind: 'observed' },
      rows: [...rows.values()].map((r) => ({ keys: r.keys, buckets: [...r.buckets.values()].sort((x, y) => x.lo - y.lo) })),
    };
  }
  if (a.kind !== 'scalar' || b.kind !== 'scalar') throw new Error('unreachable');
  let approximate = a.approximate === true || b.approximate === true;
  const rows = new Map<string, ScalarRow>();
  for (const r of b.rows) rows.set(keyId(r.keys), r);
  const out: ScalarRow[] = [];
  for (const x of a.rows) {
    const id = keyId(x.keys);
    const y = rows.get(id);
    rows.delete(id);
    if (y === undefined) {
      out.push(x);
      continue;
    }
    const m = mergeRow(a.func, x, y);
    approximate ||= m.approximate;
    out.push(m.row);
  }
  out.push(...rows.values());
  return { ...a, rows: out, ...(approximate ? { approximate } : {}) };
}

/** Merges lists of aggregations (one per host, or per bpftrace of a followed run) by name, in first-seen order. */
export function mergeByName(lists: readonly (readonly Aggregation[])[]): Aggregation[] {
  const byName = new Map<string, Aggregation>();
  for (const aggs of lists) {
    for (const a of aggs) {
      const prev = byName.get(a.name);
      byName.set(a.name, prev && prev.kind === a.kind && prev.func === a.func ? merge(prev, a) : (prev ?? a));
    }
  }
  return [...byName.values()];
}

function mergeRow(func: ScalarFunc, x: ScalarRow, y: ScalarRow): { row: ScalarRow; approximate: boolean } {
  switch (func) {
    case 'count':
    case 'sum':
      return { row: { keys: x.keys, value: x.value + y.value }, approximate: false };
    case 'min':
      return { row: { keys: x.keys, value: Math.min(x.value, y.value) }, approximate: false };
    case 'max':
      return { row: { keys: x.keys, value: Math.max(x.value, y.value) }, approximate: false };
    case 'avg': {
      if (x.count !== undefined && y.count !== undefined && x.sum !== undefined && y.sum !== undefined) {
        const count = x.count + y.count;
        const sum = x.sum + y.sum;
        return { row: { keys: x.keys, value: count > 0 ? sum / count : 0, count, sum }, approximate: false };
      }
      return { row: { keys: x.keys, value: (x.value + y.value) / 2 }, approximate: true };
    }
    case 'stddev': {
      if (x.count !== undefined && y.count !== undefined && x.sum !== undefined && y.sum !== undefined && x.sumSq !== undefined && y.sumSq !== undefined) {
        const count = x.count + y.count;
        const sum = x.sum + y.sum;
        const sumSq = x.sumSq + y.sumSq;
        return { row: { keys: x.keys, value: stddevOf(count, sum, sumSq), count, sum, sumSq }, approximate: false };
      }
      return { row: { keys: x.keys, value: Math.max(x.value, y.value) }, approximate: true };
    }
  }
}

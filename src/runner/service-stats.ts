// Golden metrics per service (`trace stat`) and per path (`trace top`) from the cumulative
// @requests, @failures and @latency aggregations of the programs in
// src/compiler/http-programs.ts: the rows of one interval are the difference between two
// snapshots; the whole run's are the last snapshot. Containers running one binary (one
// image's replicas) are one service. Pure: the commands do the I/O.

import { percentile, type Aggregation } from './aggregate.js';
import type { Bucket } from './events.js';
import { keyId, type Key } from './keys.js';
import { humanNs, renderGrid } from './render/format.js';

/** Counters for one key (a container, or a container's method and path). */
export interface Counters {
  readonly keys: readonly Key[];
  readonly requests: number;
  readonly failures: number;
  /** TCP connections accepted (`trace stat` only). */
  readonly connections: number;
  /** Latency histogram in ns, by lower edge. */
  readonly buckets: readonly Bucket[];
}

/** The counters in one run's aggregations, by keyId of their keys. */
export function countersOf(aggs: readonly Aggregation[]): Map<string, Counters> {
  const out = new Map<string, { keys: readonly Key[]; requests: number; failures: number; connections: number; buckets: Bucket[] }>();
  const at = (keys: readonly Key[]) => {
    const id = keyId(keys);
    let c = out.get(id);
    if (!c) out.set(id, (c = { keys, requests: 0, failures: 0, connections: 0, buckets: [] }));
    return c;
  };
  const scalars = { '@requests': 'requests', '@failures': 'failures', '@connections': 'connections' } as const;
  for (const a of aggs) {
    const field = scalars[a.name as keyof typeof scalars];
    if (a.kind === 'scalar' && field) for (const r of a.rows) at(r.keys)[field] = r.value;
    if (a.kind === 'hist' && a.name === '@latency') for (const r of a.rows) at(r.keys).buckets = [...r.buckets];
  }
  return out;
}

/** now - before, key by key (an interval's counters from two cumulative snapshots). */
export function subtract(now: ReadonlyMap<string, Counters>, before: ReadonlyMap<string, Counters>): Map<string, Counters> {
  const out = new Map<string, Counters>();
  for (const [id, c] of now) {
    const b = before.get(id);
    if (!b) {
      out.set(id, c);
      continue;
    }
    const old = new Map(b.buckets.map((x) => [x.lo, x.count]));
    out.set(id, {
      keys: c.keys,
      requests: c.requests - b.requests,
      failures: c.failures - b.failures,
      connections: c.connections - b.connections,
      buckets: c.buckets.map((x) => ({ ...x, count: x.count - (old.get(x.lo) ?? 0) })).filter((x) => x.count > 0),
    });
  }
  return out;
}

/** A service: the traced containers that run one binary. */
export interface Service {
  readonly name: string;
  readonly containers: readonly string[];
}

/**
 * Containers grouped by the identity of the file they run (containers of one image share
 * its inode), named by the executable's base name; a name two binaries share gets the first
 * container's name after it.
 */
export function groupServices<T extends { readonly name: string; readonly exe: string }>(targets: readonly T[], identity: (t: T) => string): (Service & { readonly targets: readonly T[] })[] {
  const groups = new Map<string, T[]>();
  for (const t of targets) {
    const id = identity(t);
    groups.set(id, [...(groups.get(id) ?? []), t]);
  }
  const base = (t: T) => t.exe.slice(t.exe.lastIndexOf('/') + 1) || t.name;
  const all = [...groups.values()];
  return all.map((ts) => {
    const b = base(ts[0]!);
    const shared = all.filter((o) => base(o[0]!) === b).length > 1;
    return { name: shared ? `${b}@${ts[0]!.name}` : b, containers: ts.map((t) => t.name), targets: ts };
  });
}

export interface Row {
  readonly service: string;
  readonly replicas: number;
  /** Method and path (`trace top`). */
  readonly method?: string;
  readonly path?: string;
  readonly requests: number;
  readonly rps: number;
  /** TCP connections accepted (by service; not by path). */
  readonly connections?: number;
  /** Share of requests answered below 500, 0..1; null without requests. */
  readonly success: number | null;
  /** Latency percentiles in ns (upper edges of their buckets); null without requests. */
  readonly p50: number | null;
  readonly p95: number | null;
  readonly p99: number | null;
}

function row(service: Service, counters: readonly Counters[], seconds: number, extra: { method?: string; path?: string; connections?: number } = {}): Row {
  const requests = counters.reduce((s, c) => s + c.requests, 0);
  const failures = counters.reduce((s, c) => s + c.failures, 0);
  const merged = new Map<number, Bucket>();
  for (const c of counters) for (const b of c.buckets) merged.set(b.lo, { ...b, count: (merged.get(b.lo)?.count ?? 0) + b.count });
  const buckets = [...merged.values()].sort((a, b) => a.lo - b.lo);
  return {
    service: service.name,
    replicas: service.containers.length,
    ...extra,
    requests,
    rps: seconds > 0 ? requests / seconds : 0,
    success: requests > 0 ? (requests - failures) / requests : null,
    p50: percentile(buckets, 0.5),
    p95: percentile(buckets, 0.95),
    p99: percentile(buckets, 0.99),
  };
}

/** One row per service (containers keyed first in the counters), in the services' order. */
export function serviceRows(services: readonly Service[], counters: ReadonlyMap<string, Counters>, seconds: number): Row[] {
  return services.map((s) => {
    const mine = [...counters.values()].filter((c) => s.containers.includes(String(c.keys[0])));
    return row(s, mine, seconds, { connections: mine.reduce((n, c) => n + c.connections, 0) });
  });
}

/** One row per service, method and path (keys: container, method, path), busiest first. */
export function pathRows(services: readonly Service[], counters: ReadonlyMap<string, Counters>, seconds: number): Row[] {
  const out: Row[] = [];
  for (const s of services) {
    const byPath = new Map<string, Counters[]>();
    for (const c of counters.values()) {
      if (!s.containers.includes(String(c.keys[0])) || c.requests <= 0) continue;
      const id = keyId(c.keys.slice(1));
      byPath.set(id, [...(byPath.get(id) ?? []), c]);
    }
    for (const cs of byPath.values()) out.push(row(s, cs, seconds, { method: String(cs[0]!.keys[1]), path: String(cs[0]!.keys[2]) }));
  }
  return out.sort((a, b) => b.requests - a.requests || (a.p99 === null || b.p99 === null ? 0 : b.p99 - a.p99) || `${a.service}${a.path}`.localeCompare(`${b.service}${b.path}`));
}

const pct = (v: number | null) => (v === null ? '-' : `${(v * 100).toFixed(2)}%`);
const dur = (v: number | null) => (v === null ? '-' : humanNs(v));
const rate = (v: number) => (v >= 100 ? v.toFixed(0) : v.toFixed(1));

/** The rows as a table; `total` shows REQUESTS beside RPS (the whole run). */
export function renderRows(rows: readonly Row[], opts: { paths?: boolean; total?: boolean } = {}): string {
  const head = ['SERVICE', ...(opts.paths ? ['METHOD', 'PATH'] : ['REPLICAS']), ...(opts.total ? ['REQUESTS'] : []), 'RPS', 'SUCCESS', 'P50', 'P95', 'P99', ...(opts.paths ? [] : ['NEW TCP'])];
  const cells = rows.map((r) => [
    r.service,
    ...(opts.paths ? [r.method ?? '', r.path ?? ''] : [String(r.replicas)]),
    ...(opts.total ? [String(r.requests)] : []),
    rate(r.rps),
    pct(r.success),
    dur(r.p50),
    dur(r.p95),
    dur(r.p99),
    ...(opts.paths ? [] : [String(r.connections ?? 0)]),
  ]);
  const left = opts.paths ? 3 : 1;
  return renderGrid(head, cells, head.map((_, i) => (i < left ? 'left' : 'right'))) + '\n';
}

/** One JSON object per row: `final` marks the whole run's rows. */
export function rowJson(r: Row, time: string, final: boolean): string {
  return JSON.stringify({
    type: final ? 'total' : 'interval',
    time,
    service: r.service,
    ...(r.method !== undefined ? { method: r.method, path: r.path } : { replicas: r.replicas }),
    requests: r.requests,
    rps: Number(r.rps.toFixed(3)),
    ...(r.connections !== undefined ? { new_connections: r.connections } : {}),
    success: r.success === null ? null : Number(r.success.toFixed(6)),
    p50_ns: r.p50,
    p95_ns: r.p95,
    p99_ns: r.p99,
  }) + '\n';
}

// NDJSON output: one object per line, for scripts. Aggregations are shown as presented
// (sorted, trunc and normalize applied); open bucket bounds are null, as JSON has no infinity.
//
//   {"type":"printf","text":"..."}                 (also time/cat/join/system output)
//   {"type":"snapshot","time":"2026-11-22T04:00:00.000Z"}   then the snapshot's aggregations
//   {"type":"aggregation","phase":"snapshot"|"printa"|"print"|"final","name":"@x","func":"count",
//    "keys":["execname"],"rows":[{"keys":["bash"],"value":3}]}
//   {"type":"aggregation",...,"func":"latency","rows":[{"keys":[],"buckets":[{"lo":0,"hi":1,"count":2}],
//    "percentiles":{"p50":..,"p90":..,"p99":..,"p999":..,"max":..}}]}
//   {"type":"lost","events":12}

import { percentiles, present, type Aggregation } from '../aggregate.js';
import type { Bucket } from '../events.js';
import { formatKey } from './format.js';

export type Phase = 'snapshot' | 'printa' | 'print' | 'final';

const bound = (v: number) => (Number.isFinite(v) ? v : null);

function bucketJson(b: Bucket) {
  return { lo: bound(b.lo), hi: bound(b.hi), count: b.count };
}

export function aggregationJson(agg: Aggregation, phase: Phase): Record<string, unknown> {
  const a = present(agg);
  const keys = (row: { keys: readonly (string | number)[] }) =>
    row.keys.map((k, i) => (a.keys[i]?.transform === 'syscall' ? formatKey(k, a.keys[i]) : k));
  const rows =
    a.kind === 'scalar'
      ? a.rows.map((r) => ({ keys: keys(r), value: r.value }))
      : a.rows.map((r) => ({
          keys: keys(r),
          buckets: r.buckets.map(bucketJson),
          ...(a.func === 'latency' || a.func === 'llquantize' ? { percentiles: percentiles(r.buckets) } : {}),
        }));
  return {
    type: 'aggregation',
    phase,
    name: a.name,
    func: a.func,
    keys: a.keys.map((k) => k.label),
    ...(a.approximate ? { approximate: true } : {}),
    rows,
  };
}

export function jsonLine(obj: Record<string, unknown>): string {
  return JSON.stringify(obj) + '\n';
}

export const printfJson = (text: string) => jsonLine({ type: 'printf', text });
export const snapshotJson = (time: Date) => jsonLine({ type: 'snapshot', time: time.toISOString() });
export const lostJson = (events: number) => jsonLine({ type: 'lost', events });
export const aggregationsJson = (aggs: readonly Aggregation[], phase: Phase) => aggs.map((a) => jsonLine(aggregationJson(a, phase))).join('');

// One line of `bpftrace -f json` -> one typed event. Never throws: a line we cannot read
// becomes a `malformed` event, a type we do not know (a newer bpftrace) an `unknown` one.
//
// Shapes seen (0.17.0 and 0.23.2, recorded in test/runner/fixtures/):
//   {"type": "attached_probes", "data": {"probes": 2}}
//   {"type": "printf"|"time"|"cat"|"join"|"syscall", "data": "text"}   (syscall = system())
//   {"type": "value", "data": 5 | "s" | [1,"a"]}                         (print(expr))
//   {"type": "map", "data": {"@m": 3}}  {"type": "map", "data": {"@m": {"x,3": 5}}}
//   {"type": "hist", "data": {"@h": [{"min": 64, "max": 127, "count": 1}, {"max": -1, ...}, {"min": 10, ...}]}}
//   {"type": "stats", "data": {"@a": 4}}  {"type": "stats", "data": {"@s": {"count": 1, "average": 7, "total": 7}}}
//   {"type": "lost_events", "data": {"events": 12}}
//   {"type": "helper_error", "helper": "...", "retcode": -2, "line": 1, "col": 20}  (0.23 adds "msg"; no "data")
//   an empty line: printed twice before bpftrace's exit-time map dump
//   No probes to attach                     (0.17: a plain text error on stdout)

import { MARKER } from '../compiler/program.js';
import { fixByteEscapes, splitKey, unescapeKey, type Key, type KeyKind } from './keys.js';

export type JsonValue = null | boolean | number | string | JsonValue[] | { [k: string]: JsonValue };

/** A histogram bucket, half-open: lo <= v < hi; lo may be -Infinity, hi Infinity. */
export interface Bucket {
  readonly lo: number;
  readonly hi: number;
  readonly count: number;
}

/** avg() gives only `average`; stats() gives all three. */
export interface StatsValue {
  readonly average: number;
  readonly count?: number;
  readonly total?: number;
}

export interface MapEntry<V> {
  readonly key: readonly Key[];
  /** The key as bpftrace joined it (after unescaping); null for a map without keys. */
  readonly rawKey: string | null;
  readonly value: V;
}

interface MapBase {
  readonly name: string;
  readonly keyed: boolean;
}

export type MapData =
  | (MapBase & { readonly kind: 'scalar'; readonly entries: readonly MapEntry<JsonValue>[] })
  | (MapBase & { readonly kind: 'hist'; readonly entries: readonly MapEntry<readonly Bucket[]>[] })
  | (MapBase & { readonly kind: 'stats'; readonly entries: readonly MapEntry<StatsValue>[] });

export type TextSource = 'cat' | 'join' | 'system';

export type BpfEvent =
  | { readonly type: 'attached'; readonly probes: number }
  | { readonly type: 'printf'; readonly text: string }
  /** A ctrace marker printf: kind 'snap' | 'printa' | 'end' | 'final' | 'ready' | newer ones. */
  | { readonly type: 'marker'; readonly kind: string; readonly arg: string | null }
  | { readonly type: 'time'; readonly text: string }
  | { readonly type: 'output'; readonly source: TextSource; readonly text: string }
  | { readonly type: 'value'; readonly value: JsonValue }
  | { readonly type: 'maps'; readonly maps: readonly MapData[] }
  | { readonly type: 'lost'; readonly count: number }
  | {
      readonly type: 'helper_error';
      readonly helper: string;
      readonly retcode: number;
      readonly line: number | null;
      readonly col: number | null;
      readonly message: string | null;
    }
  /** An error or warning sent as JSON (not done by 0.17/0.23, which use stderr). */
  | { readonly type: 'message'; readonly severity: 'error' | 'warning'; readonly text: string }
  | { readonly type: 'blank' }
  /** A line of plain text on stdout: 0.17 prints "No probes to attach" there. */
  | { readonly type: 'plain'; readonly text: string }
  | { readonly type: 'unknown'; readonly jsonType: string; readonly line: string }
  | { readonly type: 'malformed'; readonly reason: string; readonly line: string };

export interface DecodeOptions {
  /** String keys are JSON-escaped twice (bpftrace >= 0.22; see BpftraceFeatures). */
  readonly doubleEscapedKeys?: boolean;
  /** Key kinds of a map, to split joined keys; undefined: split integers only. */
  readonly keyKinds?: (map: string) => readonly KeyKind[] | undefined;
}

/** Malformed and unknown lines are quoted back at most this long. */
const QUOTE_MAX = 200;

const quote = (line: string) => (line.length > QUOTE_MAX ? line.slice(0, QUOTE_MAX) + '...' : line);

export function decodeLine(line: string, opts: DecodeOptions = {}): BpfEvent {
  try {
    return decode(line, opts);
  } catch (e) {
    // decode() checks shapes; this is a last guard so a surprise never ends a run.
    return { type: 'malformed', reason: e instanceof Error ? e.message : 'unreadable', line: quote(line) };
  }
}

function decode(line: string, opts: DecodeOptions): BpfEvent {
  if (line.trim() === '') return { type: 'blank' };
  if (!line.trimStart().startsWith('{') && !/[\u0000-\u0008\u000b-\u001f\u007f\ufffd]/.test(line)) return { type: 'plain', text: line.trim() };
  let obj: unknown;
  try {
    obj = JSON.parse(fixByteEscapes(line));
  } catch {
    return { type: 'malformed', reason: 'not JSON', line: quote(line) };
  }
  if (!isObject(obj) || typeof obj['type'] !== 'string') return { type: 'malformed', reason: 'no "type" field', line: quote(line) };
  const type = obj['type'];
  const data = obj['data'];
  const bad = (what: string): BpfEvent => ({ type: 'malformed', reason: `${type}: ${what}`, line: quote(line) });
  switch (type) {
    case 'attached_probes': {
      const n = isObject(data) ? data['probes'] : undefined;
      return typeof n === 'number' ? { type: 'attached', probes: n } : bad('no probe count');
    }
    case 'printf': {
      if (typeof data !== 'string') return bad('data is not a string');
      return markerOf(data) ?? { type: 'printf', text: data };
    }
    case 'time':
      return typeof data === 'string' ? { type: 'time', text: data } : bad('data is not a string');
    case 'cat':
    case 'join':
    case 'syscall':
      if (typeof data !== 'string') return bad('data is not a string');
      return { type: 'output', source: type === 'syscall' ? 'system' : type, text: data };
    case 'value':
      return { type: 'value', value: data as JsonValue };
    case 'lost_events': {
      const n = isObject(data) ? data['events'] : undefined;
      return typeof n === 'number' ? { type: 'lost', count: n } : bad('no event count');
    }
    case 'helper_error':
      return {
        type: 'helper_error',
        helper: typeof obj['helper'] === 'string' ? obj['helper'] : '?',
        retcode: typeof obj['retcode'] === 'number' ? obj['retcode'] : 0,
        line: typeof obj['line'] === 'number' ? obj['line'] : null,
        col: typeof obj['col'] === 'number' ? obj['col'] : null,
        message: typeof obj['msg'] === 'string' ? obj['msg'] : null,
      };
    case 'error':
    case 'warning': {
      const text = typeof data === 'string' ? data : typeof obj['msg'] === 'string' ? obj['msg'] : JSON.stringify(data ?? null);
      return { type: 'message', severity: type, text };
    }
    case 'map':
    case 'hist':
    case 'stats': {
      if (!isObject(data)) return bad('data is not an object');
      const maps: MapData[] = [];
      for (const [name, v] of Object.entries(data)) {
        const m = decodeMap(type, name, v as JsonValue, opts);
        if (typeof m === 'string') return bad(`${name}: ${m}`);
        maps.push(m);
      }
      return { type: 'maps', maps };
    }
    default:
      return { type: 'unknown', jsonType: type, line: quote(line) };
  }
}

function markerOf(text: string): BpfEvent | null {
  if (!text.startsWith(MARKER)) return null;
  const body = text.slice(MARKER.length).replace(/\n$/, '');
  const i = body.indexOf(':');
  return i === -1 ? { type: 'marker', kind: body, arg: null } : { type: 'marker', kind: body.slice(0, i), arg: body.slice(i + 1) };
}

/** Why a value could not be read; converters return it instead of throwing. */
class Bad {
  constructor(readonly why: string) {}
}

/** Decodes one map; a string return is the reason it could not be read. */
function decodeMap(type: 'map' | 'hist' | 'stats', name: string, v: JsonValue, opts: DecodeOptions): MapData | string {
  const kinds = opts.keyKinds?.(name);
  // Which shape is "no keys" depends on the type; the declared key count settles the rare ambiguity.
  const keyed =
    kinds !== undefined
      ? kinds.length > 0
      : type === 'hist'
        ? !Array.isArray(v)
        : type === 'stats'
          ? isObject(v) && !isStatsObject(v)
          : isObject(v);
  const entries = <V>(conv: (x: JsonValue) => V | Bad): MapEntry<V>[] | Bad => {
    if (!keyed) {
      const value = conv(v);
      return value instanceof Bad ? value : [{ key: [], rawKey: null, value }];
    }
    if (!isObject(v)) return new Bad('keyed map is not an object');
    const out: MapEntry<V>[] = [];
    for (const [k, x] of Object.entries(v)) {
      const value = conv(x);
      if (value instanceof Bad) return value;
      const rawKey = opts.doubleEscapedKeys ? unescapeKey(k) : k;
      out.push({ key: splitKey(rawKey, kinds), rawKey, value });
    }
    return out;
  };
  switch (type) {
    case 'map': {
      const e = entries<JsonValue>((x) => x);
      return e instanceof Bad ? e.why : { kind: 'scalar', name, keyed, entries: e };
    }
    case 'hist': {
      const e = entries(toBuckets);
      return e instanceof Bad ? e.why : { kind: 'hist', name, keyed, entries: e };
    }
    case 'stats': {
      const e = entries(toStats);
      return e instanceof Bad ? e.why : { kind: 'stats', name, keyed, entries: e };
    }
  }
}

/** bpftrace buckets are inclusive {min, max}; a missing min is the "< 0"/"< min" bucket, a missing max the ">= max" one. */
function toBuckets(x: JsonValue): readonly Bucket[] | Bad {
  if (!Array.isArray(x)) return new Bad('histogram is not an array');
  const out: Bucket[] = [];
  for (const b of x) {
    if (!isObject(b) || typeof b['count'] !== 'number') return new Bad('bucket without a count');
    const min = b['min'];
    const max = b['max'];
    out.push({
      lo: typeof min === 'number' ? min : -Infinity,
      hi: typeof max === 'number' ? max + 1 : Infinity,
      count: b['count'],
    });
  }
  return out;
}

function toStats(x: JsonValue): StatsValue | Bad {
  if (typeof x === 'number') return { average: x };
  if (isStatsObject(x)) {
    const o = x as Record<string, number>;
    return { average: o['average']!, count: o['count']!, total: o['total']! };
  }
  return new Bad('stats value is neither a number nor {count, average, total}');
}

function isStatsObject(x: unknown): boolean {
  return isObject(x) && typeof x['count'] === 'number' && typeof x['average'] === 'number' && typeof x['total'] === 'number';
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

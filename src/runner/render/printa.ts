// DTrace's printa(format, @a[, @b...]): the format is applied once per key tuple, as
// printf(format, key1, key2, ...). Conversions without '@' take the keys in order (extra keys
// are simply not shown); '%@d' and friends take the aggregation value, the n-th '@'
// conversion from the n-th aggregation (the last one when there are fewer). A histogram
// value prints as its distribution. Rows are in the first aggregation's order.

import { present, type Aggregation, type HistAggregation } from '../aggregate.js';
import type { Key } from '../keys.js';
import { keyId } from '../keys.js';
import { plainPaint, type Paint } from './color.js';
import { formatKey } from './format.js';
import { distributionLines } from './histogram.js';

interface Conversion {
  readonly flags: string;
  readonly width: number | null;
  readonly precision: number | null;
  readonly conv: string;
  readonly at: boolean;
}

type Segment = string | Conversion;

const SPEC = /%([-+ #0@]*)(\d+|\*)?(?:\.(\d+|\*))?(hh|h|ll|l|L|j|z|t)?([a-zA-Z%])/g;

export function parseFormat(format: string): Segment[] {
  const out: Segment[] = [];
  let last = 0;
  for (const m of format.matchAll(SPEC)) {
    const idx = m.index ?? 0;
    if (idx > last) out.push(format.slice(last, idx));
    last = idx + m[0].length;
    if (m[5] === '%') {
      out.push('%');
      continue;
    }
    out.push({
      flags: (m[1] ?? '').replace('@', ''),
      width: m[2] !== undefined && m[2] !== '*' ? Number(m[2]) : null,
      precision: m[3] !== undefined && m[3] !== '*' ? Number(m[3]) : null,
      conv: m[5]!,
      at: (m[1] ?? '').includes('@'),
    });
  }
  if (last < format.length) out.push(format.slice(last));
  return out;
}

function pad(s: string, c: Conversion, numeric: boolean): string {
  if (c.width === null || s.length >= c.width) return s;
  if (c.flags.includes('-')) return s.padEnd(c.width);
  if (numeric && c.flags.includes('0')) {
    const sign = /^[-+ ]/.test(s) ? s[0]! : '';
    return sign + s.slice(sign.length).padStart(c.width - sign.length, '0');
  }
  return s.padStart(c.width);
}

const u64 = (v: number) => BigInt.asUintN(64, BigInt(Math.trunc(v)));

/** One C-style conversion of a number or string, as DTrace's printf would. */
export function formatOne(c: Conversion, v: Key): string {
  const n = typeof v === 'number' ? v : Number(v);
  const isNum = typeof v === 'number' || (v.trim() !== '' && !Number.isNaN(n));
  const sign = (s: string) => (n >= 0 && c.flags.includes('+') ? '+' + s : n >= 0 && c.flags.includes(' ') ? ' ' + s : s);
  switch (c.conv) {
    case 'd':
    case 'i':
      return isNum ? pad(sign(String(Math.trunc(n))), c, true) : pad(String(v), c, false);
    case 'u':
      return isNum ? pad(u64(n).toString(), c, true) : pad(String(v), c, false);
    case 'x':
    case 'X':
    case 'o': {
      if (!isNum) return pad(String(v), c, false);
      let s = u64(n).toString(c.conv === 'o' ? 8 : 16);
      if (c.conv === 'X') s = s.toUpperCase();
      if (c.flags.includes('#') && n !== 0) s = (c.conv === 'o' ? '0' : c.conv === 'X' ? '0X' : '0x') + s;
      return pad(s, c, true);
    }
    case 'p':
      return pad(isNum ? '0x' + u64(n).toString(16) : String(v), c, false);
    case 'c':
      return pad(isNum ? String.fromCharCode(n & 0xff) : String(v).slice(0, 1), c, false);
    case 'e':
    case 'E':
    case 'f':
    case 'F':
    case 'g':
    case 'G': {
      if (!isNum) return pad(String(v), c, false);
      const p = c.precision ?? 6;
      const lower = c.conv.toLowerCase();
      let s = lower === 'e' ? n.toExponential(p).replace(/e([+-])(\d)$/, 'e$10$2') : lower === 'f' ? n.toFixed(p) : String(Number(n.toPrecision(Math.max(1, p))));
      if (c.conv === 'E' || c.conv === 'G') s = s.toUpperCase();
      return pad(sign(s), c, true);
    }
    default: {
      // %s, and symbol/stack conversions (%a %A %k %S): the text bpftrace already resolved.
      let s = String(v);
      if (c.precision !== null && (c.conv === 's' || c.conv === 'S')) s = s.slice(0, c.precision);
      return pad(s, c, false);
    }
  }
}

/** Renders printa(format, aggs...). */
export function formatPrinta(format: string, aggs: readonly Aggregation[], paint: Paint = plainPaint): string {
  const segs = parseFormat(format);
  const shown = aggs.map(present);
  const first = shown[0];
  if (first === undefined) return '';
  // Every tuple of any aggregation, in the first one's order, then the others' new ones.
  const tuples: { keys: readonly Key[]; id: string }[] = [];
  const seen = new Set<string>();
  for (const a of shown) {
    for (const r of a.rows) {
      const id = keyId(r.keys);
      if (!seen.has(id)) {
        seen.add(id);
        tuples.push({ keys: r.keys, id });
      }
    }
  }
  const lookup = shown.map((a) => new Map<string, (typeof a.rows)[number]>(a.rows.map((r) => [keyId(r.keys), r])));
  let out = '';
  for (const t of tuples) {
    let k = 0;
    let at = 0;
    for (const s of segs) {
      if (typeof s === 'string') {
        out += s;
        continue;
      }
      if (!s.at) {
        const v = t.keys[k];
        const info = first.keys[k];
        k++;
        out += v === undefined ? '' : formatOne(s, typeof v === 'number' && info?.transform === 'syscall' ? formatKey(v, info) : v);
        continue;
      }
      const ai = Math.min(at++, shown.length - 1);
      const a = shown[ai]!;
      const row = lookup[ai]!.get(t.id);
      if (a.kind === 'hist') {
        const buckets = row && 'buckets' in row ? row.buckets : [];
        out += '\n' + distributionLines(buckets, (a as HistAggregation).scheme, paint).join('\n') + '\n';
      } else {
        out += formatOne(s, row && 'value' in row ? row.value : 0);
      }
    }
  }
  return out;
}

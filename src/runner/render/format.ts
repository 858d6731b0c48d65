// Value and key text shared by the table, distribution and printa renderers.

import Table from 'cli-table3';
import type { KeyInfo } from '../../compiler/program.js';
import type { Aggregation } from '../aggregate.js';
import type { Key } from '../keys.js';
import { syscallName } from '../../platform/syscalls.js';

/** Values as DTrace prints them: integers (avg, stddev and normalized values truncated). */
export function formatNumber(v: number): string {
  if (Number.isNaN(v)) return '-';
  if (!Number.isFinite(v)) return v > 0 ? 'inf' : '-inf';
  return String(Math.trunc(v));
}

/** A bucket bound: integers as is, fractional log-linear bounds with up to 3 decimals. */
export function formatBound(v: number): string {
  if (Number.isInteger(v)) return String(v);
  return String(Number(v.toFixed(3)));
}

const CONTROL = /[\u0000-\u001f\u007f]/g;
const NAMED: Readonly<Record<string, string>> = { '\n': '\\n', '\t': '\\t', '\r': '\\r' };

/** Control characters in a string key, escaped so a table cell stays one clean line. */
export function escapeControl(s: string): string {
  return s.replace(CONTROL, (c) => NAMED[c] ?? '\\x' + c.charCodeAt(0).toString(16).padStart(2, '0'));
}

/** A key part as shown, after the compiler's transform (syscall numbers become names); stacks keep one frame per line. */
export function formatKey(k: Key, info: KeyInfo | undefined): string {
  if (info?.transform === 'syscall' && typeof k === 'number') return syscallName(k);
  if (typeof k === 'number') return String(k);
  if (info?.type === 'stack') return k;
  return escapeControl(k);
}

/** The value column header: `count`, `sum`, ... */
export function valueHeader(agg: Aggregation): string {
  return agg.valueLabel ?? agg.func;
}

/** Nanoseconds as a short human duration, for latency percentiles. */
export function humanNs(ns: number): string {
  const abs = Math.abs(ns);
  const fmt = (v: number, unit: string) => `${Number(v.toPrecision(3))}${unit}`;
  if (abs >= 1e9) return fmt(ns / 1e9, 's');
  if (abs >= 1e6) return fmt(ns / 1e6, 'ms');
  if (abs >= 1e3) return fmt(ns / 1e3, 'us');
  return fmt(ns, 'ns');
}

/**
 * A cli-table3 grid as every table of ours looks: rules between rows only when a cell spans
 * several lines (stacks), and always one rule under the header (which cli-table3 drops with
 * the row rules). Headers come painted; colour is ours to decide, so cli-table3 styles none.
 */
export function renderGrid(head: readonly string[], rows: readonly (readonly string[])[], aligns: readonly ('left' | 'right')[]): string {
  const ruled = rows.some((r) => r.some((c) => c.includes('\n')));
  const table = new Table({
    head: [...head],
    ...(ruled ? {} : { chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' } }),
    colAligns: [...aligns],
    style: { head: [], border: [], 'padding-left': 1, 'padding-right': 1 },
    wordWrap: false,
  });
  for (const r of rows) table.push([...r]);
  const text = table.toString();
  if (ruled) return text;
  const lines = text.split('\n');
  const rule = (lines[0] ?? '').replace('┌', '├').replace(/┬/g, '┼').replace('┐', '┤');
  if (lines.length > 2) lines.splice(2, 0, rule);
  return lines.join('\n');
}

// What the compiler hands the runner: bpftrace text, a source map, and what the runner
// needs to decode and render the results. The runner imports nothing else of the compiler.

import type { Span } from '../lang/source.js';

export type AggFunc =
  | 'count'
  | 'sum'
  | 'avg'
  | 'min'
  | 'max'
  | 'stddev'
  | 'quantize'
  | 'lquantize'
  | 'llquantize'
  | 'latency';

/** How a key column is shown: as the value, or translated (syscall number -> name). */
export type KeyTransform = 'none' | 'syscall' | 'stack' | 'ustack' | 'usym' | 'ksym';

export interface KeyInfo {
  /** Column header: the key expression as the user wrote it ('execname', 'arg0'). */
  readonly label: string;
  readonly type: 'int' | 'string' | 'stack';
  readonly transform: KeyTransform;
}

/**
 * One aggregation the user declared. bpftrace holds it in one map (`maps[0]`), or, for
 * functions bpftrace lacks, in several maps or with an extra key:
 *  - stddev: maps [count, sum, sum of squares], each with the user's keys.
 *  - llquantize, latency: one count() map whose last key is a bucket index; `buckets`
 *    says how to turn an index back into a value range.
 */
export interface AggregationInfo {
  /** As the user wrote it: '@lat', '@' for the anonymous one. */
  readonly name: string;
  readonly func: AggFunc;
  /** The value column's header: the call as written, e.g. 'sum(arg2)'. */
  readonly valueLabel?: string;
  readonly keys: readonly KeyInfo[];
  /** bpftrace map names, e.g. ['@lat'] or ['@__sd_lat_n', '@__sd_lat_s', '@__sd_lat_ss']. */
  readonly maps: readonly string[];
  readonly buckets?: BucketScheme;
  /** lquantize parameters, for rendering empty rows between min and max. */
  readonly linear?: { readonly min: number; readonly max: number; readonly step: number };
  /** normalize(@x, N) with constant N: values are divided by N when shown. */
  readonly normalize?: number;
  /** trunc(@x, N): only the N largest entries are shown. */
  readonly truncate?: number;
  /** Where the user declared it, for mapping errors back. */
  readonly span: Span;
}

/**
 * Log-linear buckets. For llquantize(v, factor, low, high, steps): index i maps to a value
 * range described by `edges` (edges[i] <= v < edges[i+1]); index 0 is "< low", the last is ">= high".
 * For latency (HDR-style): magnitude m = floor(log2 v), sub-bucket s of `subBuckets`;
 * index = m * subBuckets + s, range [2^m + s*2^m/subBuckets, 2^m + (s+1)*2^m/subBuckets).
 */
export type BucketScheme =
  | { readonly kind: 'edges'; readonly edges: readonly number[] }
  | { readonly kind: 'log-linear'; readonly subBuckets: number };

/** Maps a bpftrace line:col range back to the user's source. */
export interface SourceMapEntry {
  /** 1-based line in the emitted bpftrace text. */
  readonly line: number;
  /** 1-based columns [colStart, colEnd) on that line. */
  readonly colStart: number;
  readonly colEnd: number;
  readonly span: Span;
}

export interface SourceMap {
  readonly entries: readonly SourceMapEntry[];
}

/**
 * In-band markers: printf lines the compiled program emits so the runner can tell
 * snapshots apart from the user's output. A marker is one printf event whose text is
 * MARKER + kind [+ ':' + arg] + '\n'.
 *   snap     begin of an interval snapshot (-i): the map events up to `end` form one snapshot
 *   printa:N begin of printa number N (a format lives in CompiledProgram.printa[N]); maps up to `end`
 *   end      end of a group
 *   final    the program is exiting: map events after this are bpftrace's exit print
 *   ready    first thing BEGIN prints: every probe is attached
 */
export const MARKER = '\u001fctrace:';
export const MARKER_BPF = '\\037ctrace:';

export interface PrintaFormat {
  /** The D format string, e.g. "%-20s %@d\n"; null for printa(@x) without one. */
  readonly format: string | null;
  readonly aggregations: readonly string[];
}

export interface ProgramOptions {
  /** `#pragma D option quiet` or -q: no headers, only what the program prints. */
  readonly quiet: boolean;
  /** `-i` or `#pragma D option aggrate`-style streaming interval, in ms; null when not streaming. */
  readonly intervalMs: number | null;
  readonly destructive: boolean;
  /** Other D options as given, for reporting. */
  readonly raw: Readonly<Record<string, string>>;
}

export interface CompiledProgram {
  /** bpftrace program text. */
  readonly text: string;
  readonly sourceMap: SourceMap;
  readonly aggregations: readonly AggregationInfo[];
  /** Maps the runner never shows (self->, globals, scratch). */
  readonly internalMaps: readonly string[];
  readonly printa: readonly PrintaFormat[];
  /** Aggregations printed by an END clause: not printed again at exit. */
  readonly printedAtEnd: readonly string[];
  readonly options: ProgramOptions;
  /** Extra bpftrace command-line arguments (e.g. positional parameters). */
  readonly bpftraceArgs: readonly string[];
  /** `#pragma ctrace expect ...` lines, for `trace check`. */
  readonly expectations: readonly { readonly text: string; readonly span: Span }[];
}

// The decoded event stream of one run -> what to show, following the compiler's in-band
// markers (src/compiler/program.ts): maps between `snap` and `end` are one interval snapshot,
// between `printa:N` and `end` one printa; after `final` comes bpftrace's exit-time dump of
// every map. Pure: session.ts does the I/O, tests feed recorded streams.

import { MARKER_BPF, type AggregationInfo, type CompiledProgram, type KeyInfo } from '../compiler/program.js';
import { buildAggregation, mapKeyKinds, type Aggregation } from './aggregate.js';
import type { BpfEvent, DecodeOptions, JsonValue, MapData } from './events.js';
import type { BpftraceDiagnostic } from './diagnostics.js';
import type { Key, KeyKind } from './keys.js';

export type Output =
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'attached'; readonly probes: number }
  /** All probes are attached (the `ready` marker, or the first event after `attached`). */
  | { readonly kind: 'ready' }
  | { readonly kind: 'snapshot'; readonly aggregations: readonly Aggregation[] }
  | { readonly kind: 'printa'; readonly index: number; readonly format: string | null; readonly aggregations: readonly Aggregation[] }
  /** Maps printed outside any group (a plain print()). */
  | { readonly kind: 'print'; readonly aggregations: readonly Aggregation[] }
  | { readonly kind: 'lost'; readonly count: number }
  | { readonly kind: 'diagnostic'; readonly diagnostic: BpftraceDiagnostic }
  /** Something unreadable or unknown in the stream; reported once per kind. */
  | { readonly kind: 'notice'; readonly message: string };

export interface FinalResult {
  /** Every user aggregation at exit (from bpftrace's exit dump, else the latest seen). */
  readonly all: readonly Aggregation[];
  /** Those to render at exit: not already printed by an END printa. */
  readonly shown: readonly Aggregation[];
}

type Group = { readonly kind: 'snap' } | { readonly kind: 'printa'; readonly index: number };

export class EventStream {
  private readonly byMap = new Map<string, AggregationInfo>();
  private readonly internal: Set<string>;
  private readonly expectsFinal: boolean;
  private readonly expectsReady: boolean;
  private group: { g: Group; maps: Map<string, MapData> } | null = null;
  private inFinal = false;
  private readonly finalMaps = new Map<string, MapData>();
  private readonly latest = new Map<string, Aggregation>();
  private attached = false;
  private readySent = false;
  private readonly noticed = new Set<string>();
  lost = 0;

  constructor(private readonly program: CompiledProgram) {
    for (const a of program.aggregations) for (const m of a.maps) this.byMap.set(m, a);
    this.internal = new Set(program.internalMaps);
    this.expectsFinal = program.text.includes(`${MARKER_BPF}final`);
    this.expectsReady = program.text.includes(`${MARKER_BPF}ready`);
  }

  /** Decoder options that split this program's keys correctly. */
  decodeOptions(doubleEscapedKeys: boolean): DecodeOptions {
    return {
      doubleEscapedKeys,
      keyKinds: (map) => {
        const info = this.byMap.get(map);
        return info ? mapKeyKinds(info) : undefined;
      },
    };
  }

  /** The program announces attachment itself (a `ready` marker in BEGIN). */
  get announcesReady(): boolean {
    return this.expectsReady;
  }

  get sawFinal(): boolean {
    return this.inFinal;
  }

  push(ev: BpfEvent): Output[] {
    const out: Output[] = [];
    if (this.attached && !this.readySent && !this.expectsReady && ev.type !== 'attached') this.ready(out);
    switch (ev.type) {
      case 'attached':
        this.attached = true;
        out.push({ kind: 'attached', probes: ev.probes });
        break;
      case 'marker':
        this.marker(ev.kind, ev.arg, out);
        break;
      case 'printf':
      case 'time':
        out.push({ kind: 'text', text: ev.text });
        break;
      case 'output':
        // join() prints its line without the newline bpftrace's text mode adds.
        out.push({ kind: 'text', text: ev.source === 'join' && !ev.text.endsWith('\n') ? ev.text + '\n' : ev.text });
        break;
      case 'value':
        out.push({ kind: 'text', text: formatValue(ev.value) + '\n' });
        break;
      case 'maps':
        for (const m of ev.maps) this.map(m, out);
        break;
      case 'lost':
        this.lost += ev.count;
        out.push({ kind: 'lost', count: ev.count });
        break;
      case 'helper_error':
        out.push({
          kind: 'diagnostic',
          diagnostic: {
            severity: 'warning',
            message: `${ev.helper}() failed with ${ev.retcode}${ev.message ? ` (${ev.message})` : ''}`,
            ...(ev.line !== null ? { file: 'stdin', line: ev.line, colStart: ev.col ?? 0, colEnd: (ev.col ?? 0) + 1 } : {}),
            raw: [],
          },
        });
        break;
      case 'message':
        out.push({ kind: 'diagnostic', diagnostic: { severity: ev.severity, message: ev.text, raw: [] } });
        break;
      case 'plain':
        out.push({ kind: 'diagnostic', diagnostic: { severity: 'info', message: ev.text, raw: [ev.text] } });
        break;
      case 'blank':
        // bpftrace prints blank lines right before its exit dump; without a `final` marker that is the cue.
        if (!this.expectsFinal && this.group === null) this.inFinal = true;
        break;
      case 'unknown':
        this.notice(`unknown:${ev.jsonType}`, `ignored bpftrace output of unknown type '${ev.jsonType}'`, out);
        break;
      case 'malformed':
        this.notice(`malformed:${ev.reason}`, `ignored unreadable bpftrace output (${ev.reason}): ${ev.line}`, out);
        break;
    }
    return out;
  }

  /** The stream ended. */
  finish(): FinalResult {
    const all: Aggregation[] = [];
    const shown: Aggregation[] = [];
    const printed = new Set(this.program.printedAtEnd);
    for (const info of this.program.aggregations) {
      const fromDump = this.inFinal ? buildAggregation(info, this.finalMaps) : null;
      const agg = fromDump ?? this.latest.get(info.name) ?? null;
      if (agg === null) continue;
      all.push(agg);
      if (fromDump && !printed.has(info.name)) shown.push(fromDump);
    }
    if (this.inFinal) for (const m of this.finalMaps.values()) if (!this.byMap.has(m.name) && !this.isInternal(m.name)) {
      const a = fallbackAggregation(m);
      if (a) shown.push(a);
    }
    return { all, shown };
  }

  private ready(out: Output[]): void {
    this.readySent = true;
    out.push({ kind: 'ready' });
  }

  private marker(kind: string, arg: string | null, out: Output[]): void {
    switch (kind) {
      case 'ready':
        if (!this.readySent) this.ready(out);
        return;
      case 'snap':
        this.group = { g: { kind: 'snap' }, maps: new Map() };
        return;
      case 'printa': {
        const index = Number(arg);
        if (Number.isInteger(index) && index >= 0) this.group = { g: { kind: 'printa', index }, maps: new Map() };
        return;
      }
      case 'end':
        this.endGroup(out);
        return;
      case 'final':
        this.endGroup(out);
        this.inFinal = true;
        return;
      default:
        this.notice(`marker:${kind}`, `ignored unknown ctrace marker '${kind}'`, out);
    }
  }

  private endGroup(out: Output[]): void {
    const grp = this.group;
    if (!grp) return;
    this.group = null;
    if (grp.g.kind === 'snap') {
      const aggs = this.program.aggregations.flatMap((info) => this.build(info, grp.maps));
      aggs.push(...this.unknownMaps(grp.maps));
      out.push({ kind: 'snapshot', aggregations: aggs });
      return;
    }
    const fmt = this.program.printa[grp.g.index];
    const names = fmt?.aggregations ?? [];
    const infos = names.length ? names.flatMap((n) => this.program.aggregations.filter((a) => a.name === n)) : this.program.aggregations;
    const aggs = infos.flatMap((info) => this.build(info, grp.maps));
    if (!fmt) aggs.push(...this.unknownMaps(grp.maps));
    out.push({ kind: 'printa', index: grp.g.index, format: fmt?.format ?? null, aggregations: aggs });
  }

  private build(info: AggregationInfo, maps: ReadonlyMap<string, MapData>): Aggregation[] {
    const a = buildAggregation(info, maps);
    if (a === null) return [];
    this.latest.set(info.name, a);
    return [a];
  }

  private map(m: MapData, out: Output[]): void {
    if (this.group) {
      this.group.maps.set(m.name, m);
      return;
    }
    if (this.inFinal) {
      this.finalMaps.set(m.name, m);
      return;
    }
    const info = this.byMap.get(m.name);
    if (info) {
      const aggs = this.build(info, new Map([[m.name, m]]));
      if (aggs.length) out.push({ kind: 'print', aggregations: aggs });
      return;
    }
    if (this.isInternal(m.name)) return;
    const a = fallbackAggregation(m);
    if (a) out.push({ kind: 'print', aggregations: [a] });
    else out.push({ kind: 'text', text: formatRawMap(m) });
  }

  private unknownMaps(maps: ReadonlyMap<string, MapData>): Aggregation[] {
    return [...maps.values()].filter((m) => !this.byMap.has(m.name) && !this.isInternal(m.name)).flatMap((m) => fallbackAggregation(m) ?? []);
  }

  private isInternal(name: string): boolean {
    // The compiler names its scratch maps @__*; both that and the list it gives are honoured.
    return this.internal.has(name) || name.startsWith('@__');
  }

  private notice(id: string, message: string, out: Output[]): void {
    if (this.noticed.has(id)) return;
    this.noticed.add(id);
    out.push({ kind: 'notice', message });
  }
}

/**
 * bpftrace's text for print(expr): numbers and strings as is, tuples as (a, b). Iterative,
 * with an explicit stack: a value nested thousands deep (JSON.parse accepts it) must not
 * overflow the call stack inside the run's stdout handler.
 */
export function formatValue(v: JsonValue): string {
  const out: string[] = [];
  // Work items: a value to format, or literal text; popped in reverse order of pushing.
  const todo: ({ text: string } | { value: JsonValue })[] = [{ value: v }];
  for (let item = todo.pop(); item !== undefined; item = todo.pop()) {
    if ('text' in item) {
      out.push(item.text);
      continue;
    }
    const x = item.value;
    if (x === null) continue;
    if (Array.isArray(x) || typeof x === 'object') {
      const entries: [string | null, JsonValue][] = Array.isArray(x) ? x.map((e) => [null, e]) : Object.entries(x);
      const [open, close] = Array.isArray(x) ? ['(', ')'] : ['{ ', ' }'];
      todo.push({ text: close });
      for (let i = entries.length - 1; i >= 0; i--) {
        const [k, e] = entries[i]!;
        todo.push({ value: e });
        const sep = i > 0 ? ', ' : '';
        todo.push({ text: k === null ? sep : `${sep}.${k} = ` });
      }
      out.push(open);
      continue;
    }
    out.push(String(x));
  }
  return out.join('');
}

/** A map the compiler did not declare (e.g. a raw bpftrace program): shown with generic headers. */
export function fallbackAggregation(m: MapData): Aggregation | null {
  const first = m.entries[0];
  const width = first?.key.length ?? 0;
  const keys: KeyInfo[] = Array.from({ length: width }, (_, i) => ({
    label: width === 1 ? 'key' : `key${i + 1}`,
    type: typeof first?.key[i] === 'number' ? 'int' : 'string',
    transform: 'none',
  }));
  const norm = (k: readonly Key[]) => (k.length === width ? k : [...k, ...Array<Key>(Math.max(0, width - k.length)).fill('')].slice(0, width));
  if (m.kind === 'hist') {
    const log2 = m.entries.every((e) => e.value.every((b) => b.lo === -Infinity || b.lo === 0 || b.hi === 2 * b.lo || b.hi === Infinity));
    return {
      name: m.name,
      keys,
      kind: 'hist',
      func: log2 ? 'quantize' : 'lquantize',
      scheme: log2 ? { kind: 'log2' } : { kind: 'observed' },
      rows: m.entries.map((e) => ({ keys: norm(e.key), buckets: [...e.value].sort((a, b) => a.lo - b.lo) })),
    };
  }
  if (m.kind === 'stats') {
    return {
      name: m.name,
      keys,
      kind: 'scalar',
      func: 'avg',
      rows: m.entries.map((e) => ({ keys: norm(e.key), value: e.value.average, ...(e.value.count !== undefined ? { count: e.value.count, sum: e.value.total ?? 0 } : {}) })),
    };
  }
  if (!m.entries.every((e) => typeof e.value === 'number')) return null;
  return {
    name: m.name,
    keys,
    kind: 'scalar',
    func: 'sum',
    valueLabel: 'value',
    rows: m.entries.map((e) => ({ keys: norm(e.key), value: e.value as number })),
  };
}

/** bpftrace's text form of a map with non-numeric values: `@m[k]: v` per entry. */
export function formatRawMap(m: MapData): string {
  if (m.kind !== 'scalar') return '';
  return m.entries.map((e) => `${m.name}${e.key.length ? `[${e.key.join(', ')}]` : ''}: ${formatValue(e.value)}\n`).join('');
}

export type { KeyKind };

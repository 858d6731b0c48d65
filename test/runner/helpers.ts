// Hand-written CompiledProgram pieces (the compiler is written elsewhere).

import type { AggFunc, AggregationInfo, CompiledProgram, KeyInfo } from '../../src/compiler/program.js';
import { decodeLine, type MapData } from '../../src/runner/events.js';

export const span = { start: 0, end: 1 };

export function key(label: string, type: KeyInfo['type'] = 'string', transform: KeyInfo['transform'] = 'none'): KeyInfo {
  return { label, type, transform };
}

export function agg(name: string, func: AggFunc, keys: KeyInfo[] = [], extra: Partial<AggregationInfo> = {}): AggregationInfo {
  return { name, func, keys, maps: [name], span, ...extra };
}

export function program(text: string, aggregations: AggregationInfo[] = [], extra: Partial<CompiledProgram> = {}): CompiledProgram {
  return {
    text,
    sourceMap: { entries: [] },
    aggregations,
    internalMaps: [],
    printa: [],
    printedAtEnd: [],
    options: { quiet: false, intervalMs: null, destructive: false, raw: {} },
    bpftraceArgs: [],
    expectations: [],
    ...extra,
  };
}

/** The maps of recorded lines, last print wins. */
export function mapsOf(lines: string[], doubleEscapedKeys = false): Map<string, MapData> {
  const out = new Map<string, MapData>();
  for (const l of lines) {
    const e = decodeLine(l, { doubleEscapedKeys });
    if (e.type === 'maps') for (const m of e.maps) out.set(m.name, m);
  }
  return out;
}

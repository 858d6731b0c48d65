import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeLine, type BpfEvent, type MapData } from '../../src/runner/events.js';
import { FIXTURES, VERSIONS, fixtureLines } from './fixtures.js';

function events(version: string, name: string, doubleEscapedKeys: boolean): BpfEvent[] {
  return fixtureLines(version, name).map((l) => decodeLine(l, { doubleEscapedKeys }));
}

function maps(evs: BpfEvent[]): Map<string, MapData> {
  const out = new Map<string, MapData>();
  for (const e of evs) if (e.type === 'maps') for (const m of e.maps) out.set(m.name, m);
  return out;
}

const entries = (m: MapData | undefined) => Object.fromEntries((m?.entries ?? []).map((e) => [e.rawKey ?? '', e.value]));

describe.each(VERSIONS)('decoding bpftrace $dir streams', ({ dir, doubleEscapedKeys }) => {
  it('decodes every recorded line without malformed or unknown events', () => {
    for (const f of readdirSync(join(FIXTURES, dir)).filter((f) => f.endsWith('.ndjson'))) {
      for (const ev of events(dir, f.replace(/\.ndjson$/, ''), doubleEscapedKeys)) {
        expect(['malformed', 'unknown'], `${dir}/${f}: ${JSON.stringify(ev)}`).not.toContain(ev.type);
        if (ev.type === 'plain') expect(f).toMatch(/^error_/);
      }
    }
  });

  it('maps: string keys with commas, quotes, escapes, empty; multi-key; scalars', () => {
    const evs = events(dir, 'maps', doubleEscapedKeys);
    expect(evs[0]).toEqual({ type: 'attached', probes: 1 });
    expect(evs.filter((e) => e.type === 'blank')).toHaveLength(2);
    const m = maps(evs);
    expect(entries(m.get('@c'))).toEqual({ a: 1, 'b,c': 2 });
    expect(entries(m.get('@q'))).toEqual({ 'quo"te': 1, 'tab\there': 1, 'nl\nx': 1, 'back\\slash': 1, '': 1 });
    expect(entries(m.get('@m'))).toEqual({ 'x,y,3': 5, 'z,-4': -7 });
    expect(m.get('@mn')).toMatchObject({ kind: 'scalar', keyed: false, entries: [{ key: [], rawKey: null, value: 3 }] });
    expect(entries(m.get('@n'))).toEqual({ '-5': 1 });
    // u64 -1 is printed signed by both versions.
    expect(entries(m.get('@u'))).toEqual({ '-1': 1 });
    expect(m.get('@sm')?.entries[0]?.value).toBe(-9223372036854775807);
    expect(entries(m.get('@kmin'))).toEqual({ '1': -2 });
    expect(entries(m.get('@kmax'))).toEqual({ '2': 40 });
  });

  it('maps: integer keys are split and typed without key information', () => {
    const m = maps(events(dir, 'maps', doubleEscapedKeys));
    expect(m.get('@n')?.entries[0]?.key).toEqual([-5]);
    expect(m.get('@c')?.entries.find((e) => e.rawKey === 'b,c')?.key).toEqual(['b,c']);
  });

  it('maps: key kinds split a string key that contains commas', () => {
    const line = fixtureLines(dir, 'maps').find((l) => l.includes('"@m"'))!;
    const ev = decodeLine(line, { doubleEscapedKeys, keyKinds: (n) => (n === '@m' ? ['string', 'int'] : undefined) });
    expect(ev.type === 'maps' && ev.maps[0]!.entries.map((e) => e.key).sort()).toEqual([
      ['x,y', 3],
      ['z', -4],
    ]);
  });

  it('hist: negative, zero and overflow buckets as half-open ranges', () => {
    const m = maps(events(dir, 'hist', doubleEscapedKeys));
    const h = m.get('@h');
    expect(h?.kind).toBe('hist');
    const buckets = h!.entries[0]!.value as { lo: number; hi: number; count: number }[];
    expect(buckets[0]).toEqual({ lo: -Infinity, hi: 0, count: 2 });
    expect(buckets[1]).toEqual({ lo: 0, hi: 1, count: 1 });
    expect(buckets[2]).toEqual({ lo: 1, hi: 2, count: 1 });
    expect(buckets.find((b) => b.lo === 64)).toEqual({ lo: 64, hi: 128, count: 2 });
    expect(buckets[buckets.length - 1]).toEqual({ lo: 524288, hi: 1048576, count: 1 });
    const hk = m.get('@hk')!;
    expect(hk.keyed).toBe(true);
    expect(hk.entries.map((e) => e.key)).toEqual([['read'], ['write']]);
    expect(m.get('@hm')?.entries[0]?.rawKey).toBe('a,b,2');
  });

  it('lhist: out-of-range buckets', () => {
    const m = maps(events(dir, 'lhist', doubleEscapedKeys));
    const l = m.get('@l')!.entries[0]!.value as { lo: number; hi: number; count: number }[];
    expect(l[0]).toEqual({ lo: -Infinity, hi: 0, count: 1 });
    expect(l[l.length - 1]).toEqual({ lo: 10, hi: Infinity, count: 2 });
    expect(m.get('@lk')?.entries.map((e) => e.key)).toEqual([[1], [2]]);
  });

  it('stats: avg as a number, stats as {count, average, total}, keyed and not', () => {
    const m = maps(events(dir, 'stats', doubleEscapedKeys));
    expect(m.get('@a')).toMatchObject({ kind: 'stats', keyed: false, entries: [{ value: { average: 5 } }] });
    expect(entries(m.get('@ak'))).toEqual({ q: { average: 3 }, r: { average: -10 } });
    expect(m.get('@s')).toMatchObject({ keyed: false, entries: [{ value: { average: 8, count: 2, total: 16 } }] });
    expect(entries(m.get('@sk'))).toEqual({ '1,x': { average: 3, count: 1, total: 3 }, '2,y': { average: 5, count: 1, total: 5 } });
  });

  it('printf, time, cat, system, join and print(value) in order; non-ASCII repaired', () => {
    const evs = events(dir, 'printf', doubleEscapedKeys).filter((e) => e.type !== 'attached' && e.type !== 'blank');
    expect(evs.slice(0, 10)).toEqual([
      { type: 'printf', text: 'hello 5 w\n' },
      { type: 'printf', text: 'quote" back\\ tab\t uni é ctl \u0001\n' },
      { type: 'time', text: expect.stringMatching(/^\d{4}\n$/) },
      { type: 'output', source: 'cat', text: 'hello from cat\nsecond line\n' },
      { type: 'output', source: 'system', text: '' },
      { type: 'value', value: 5 },
      { type: 'value', value: -3 },
      { type: 'value', value: 'str' },
      { type: 'value', value: [1, 'a'] },
      { type: 'output', source: 'join', text: expect.stringMatching(/\/ctrace-joinme a b c d$/) },
    ]);
    expect(evs[10]).toEqual({ type: 'output', source: 'join', text: expect.stringMatching(/\/ctrace-joinme,a,b c,d$/) });
  });

  it('print(@x, N) and print(@x, N, div); empty maps print nothing', () => {
    const evs = events(dir, 'print', doubleEscapedKeys);
    const printed = evs.filter((e) => e.type === 'maps').map((e) => (e.type === 'maps' ? entries(e.maps[0]) : {}));
    expect(printed.slice(0, 3)).toEqual([{ '1': 1, '2': 2, '3': 3 }, { '2': 2, '3': 3 }, { '3': 1 }]);
    const empty = events(dir, 'empty', doubleEscapedKeys);
    // clear(@e); print(@e) prints nothing, and a cleared map is not dumped at exit; a deleted scalar prints 0.
    expect(empty.filter((e) => e.type === 'maps').map((e) => (e.type === 'maps' ? e.maps.map((m) => m.name) : []))).toEqual([['@z']]);
  });

  it('stacks as keys become frames without indentation', () => {
    const m = maps(fixtureLines(dir, 'stacks').map((l) => decodeLine(l, { doubleEscapedKeys, keyKinds: (n) => (n === '@ck' ? ['string', 'stack'] : n === '@k' || n === '@u' ? ['stack'] : undefined) })));
    for (const name of ['@k', '@u']) {
      for (const e of m.get(name)?.entries ?? []) {
        // A kernel thread has an empty user stack.
        const frames = String(e.key[0]).split('\n').filter((f) => f !== '');
        for (const f of frames) expect(f).toMatch(/^\S(.*\S)?$/);
        expect(String(e.key[0])).not.toContain('\\n');
      }
    }
    for (const e of m.get('@ck')?.entries ?? []) {
      expect(e.key).toHaveLength(2);
      expect(String(e.key[1])).not.toMatch(/^\s|\\n/);
    }
  });

  it('markers, lost events and helper errors', () => {
    const mk = events(dir, 'markers', doubleEscapedKeys).filter((e) => e.type === 'marker');
    expect(mk).toEqual([
      { type: 'marker', kind: 'ready', arg: null },
      { type: 'marker', kind: 'snap', arg: null },
      { type: 'marker', kind: 'end', arg: null },
      { type: 'marker', kind: 'printa', arg: '0' },
      { type: 'marker', kind: 'end', arg: null },
      { type: 'marker', kind: 'printa', arg: '1' },
      { type: 'marker', kind: 'end', arg: null },
      { type: 'marker', kind: 'final', arg: null },
    ]);
    const lost = events(dir, 'lost', doubleEscapedKeys).filter((e) => e.type === 'lost');
    expect(lost.length).toBeGreaterThan(0);
    for (const l of lost) expect(l.type === 'lost' && l.count).toBeGreaterThan(0);
    const he = events(dir, 'helper_error', doubleEscapedKeys).find((e) => e.type === 'helper_error');
    expect(he).toMatchObject({ type: 'helper_error', helper: 'map_delete_elem', retcode: -2, line: 1, col: 20 });
  });

  it('a 2,000-key map on one long line', () => {
    const lines = fixtureLines(dir, 'big');
    expect(Math.max(...lines.map((l) => l.length))).toBeGreaterThan(50_000);
    const m = maps(lines.map((l) => decodeLine(l, { doubleEscapedKeys, keyKinds: () => ['int', 'string'] })));
    expect(m.get('@big')?.entries).toHaveLength(2000);
    expect(m.get('@big')?.entries.find((e) => e.key[0] === 1999)?.key).toEqual([1999, 'some-long-key-string-padding']);
  });
});

describe('version differences', () => {
  it('0.23 escapes string keys twice; 0.17 once', () => {
    const raw17 = fixtureLines('0.17', 'maps').find((l) => l.includes('"@q"'))!;
    const raw23 = fixtureLines('0.23', 'maps').find((l) => l.includes('"@q"'))!;
    expect(raw17).toContain('"quo\\"te"');
    expect(raw23).toContain('"quo\\\\\\"te"');
    // Decoding 0.23 as if single-escaped leaves the backslashes in.
    const wrong = decodeLine(raw23, { doubleEscapedKeys: false });
    expect(wrong.type === 'maps' && wrong.maps[0]!.entries.some((e) => e.rawKey === 'quo\\"te')).toBe(true);
  });

  it('0.23 adds "msg" to helper_error', () => {
    expect(decodeLine(fixtureLines('0.23', 'helper_error')[1]!)).toMatchObject({ message: "Can't delete map element because it does not exist." });
    expect(decodeLine(fixtureLines('0.17', 'helper_error')[1]!)).toMatchObject({ message: null });
  });
});

describe('decoder robustness', () => {
  const garbage = [
    '',
    '   ',
    '{',
    'null',
    '[]',
    '42',
    '"str"',
    '{"type": 5}',
    '{"data": {}}',
    '{"type": "map"}',
    '{"type": "map", "data": 3}',
    '{"type": "map", "data": {"@x": {"a": {"b": [1, 2]}}}}',
    '{"type": "hist", "data": {"@h": [1, 2]}}',
    '{"type": "hist", "data": {"@h": {"k": "nope"}}}',
    '{"type": "hist", "data": {"@h": [{"min": 1}]}}',
    '{"type": "stats", "data": {"@s": "x"}}',
    '{"type": "stats", "data": {"@s": {"k": [1]}}}',
    '{"type": "attached_probes", "data": {}}',
    '{"type": "lost_events", "data": {"events": "many"}}',
    '{"type": "printf", "data": 5}',
    '{"type": "printf", "data": "\\uffffffc3"}',
    '{"type": "printf", "data": "\\uffffff"}',
    '{"type": "printf", "data": "\\\\uffffffc3"}',
    '{"type": "value", "data": [1,Operation not permitted]}',
    '{"type": "brand_new_type", "data": {"x": 1}}',
    '{"type": "helper_error"}',
    '{"type": "error", "msg": "oops"}',
    '\u0000\u0001\u0002\uffff',
    '\x1b[31m{"type": "printf"}',
    '{"type": "map", "data": {"__proto__": {"a": 1}}}',
    '{"type": "map", "data": {"@m": {"constructor": 1, "__proto__": 2}}}',
  ];

  it.each(garbage)('never throws on %j', (line) => {
    expect(() => decodeLine(line)).not.toThrow();
    expect(() => decodeLine(line, { doubleEscapedKeys: true, keyKinds: () => ['string', 'int', 'stack'] })).not.toThrow();
  });

  it('classifies unreadable lines and unknown types', () => {
    expect(decodeLine('{').type).toBe('malformed');
    expect(decodeLine('{"type": "brand_new_type"}')).toMatchObject({ type: 'unknown', jsonType: 'brand_new_type' });
    expect(decodeLine('{"type": "map", "data": 3}').type).toBe('malformed');
    expect(decodeLine('{"type": "error", "msg": "oops"}')).toEqual({ type: 'message', severity: 'error', text: 'oops' });
    expect(decodeLine('').type).toBe('blank');
    expect(decodeLine('No probes to attach')).toEqual({ type: 'plain', text: 'No probes to attach' });
    expect(decodeLine('\u0000\u0001garbage').type).toBe('malformed');
  });

  it('repairs sign-extended UTF-8 bytes, and not escaped backslashes', () => {
    expect(decodeLine('{"type": "printf", "data": "\\uffffffc3\\uffffffa9"}')).toEqual({ type: 'printf', text: 'é' });
    expect(decodeLine('{"type": "printf", "data": "\\\\uffffffc3"}')).toEqual({ type: 'printf', text: '\\uffffffc3' });
    // An invalid UTF-8 byte becomes U+FFFD rather than an error.
    expect(decodeLine('{"type": "printf", "data": "\\uffffffff"}')).toEqual({ type: 'printf', text: '\ufffd' });
  });

  it('survives random bytes and truncations of real lines', () => {
    let seed = 12345;
    const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    const real = VERSIONS.flatMap((v) => ['maps', 'hist', 'stats', 'printf', 'markers'].flatMap((n) => fixtureLines(v.dir, n)));
    for (let i = 0; i < 3000; i++) {
      let line: string;
      const base = real[Math.floor(rand() * real.length)]!;
      const r = rand();
      if (r < 0.3) line = base.slice(0, Math.floor(rand() * base.length));
      else if (r < 0.6) {
        const chars = base.split('');
        for (let j = 0; j < 3; j++) chars[Math.floor(rand() * chars.length)] = String.fromCharCode(Math.floor(rand() * 0x3000));
        line = chars.join('');
      } else line = Array.from({ length: Math.floor(rand() * 80) }, () => String.fromCharCode(Math.floor(rand() * 256))).join('');
      expect(() => decodeLine(line, { doubleEscapedKeys: rand() < 0.5, keyKinds: () => ['string', 'int'] })).not.toThrow();
    }
  });
});

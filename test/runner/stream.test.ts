import { describe, expect, it } from 'vitest';
import { decodeLine } from '../../src/runner/events.js';
import { EventStream, formatValue, type Output } from '../../src/runner/stream.js';
import { VERSIONS, fixtureLines } from './fixtures.js';
import { agg, key, program } from './helpers.js';

function run(lines: string[], prog: ReturnType<typeof program>, doubleEscapedKeys = false) {
  const s = new EventStream(prog);
  const opts = s.decodeOptions(doubleEscapedKeys);
  const outs: Output[] = [];
  for (const l of lines) outs.push(...s.push(decodeLine(l, opts)));
  return { outs, fin: s.finish(), stream: s };
}

describe.each(VERSIONS)('event stream over bpftrace $dir', ({ dir, doubleEscapedKeys }) => {
  const markers = program('printf("\\037ctrace:ready\\n") ... printf("\\037ctrace:final\\n")', [
    agg('@c', 'count', [key('k')]),
    agg('@sd', 'stddev', [key('k')], { maps: ['@sd_n', '@sd_s', '@sd_ss'] }),
  ], {
    printa: [
      { format: '%s=%@d\n', aggregations: ['@c'] },
      { format: null, aggregations: ['@c'] },
    ],
    printedAtEnd: ['@c'],
    internalMaps: ['@sd_n', '@sd_s', '@sd_ss'],
  });

  it('groups snapshots and printa, passes text through, dumps at exit once', () => {
    const { outs, fin } = run(fixtureLines(dir, 'markers'), markers, doubleEscapedKeys);
    expect(outs.map((o) => o.kind)).toEqual(['attached', 'ready', 'snapshot', 'text', 'printa', 'printa']);
    const snap = outs[2] as Extract<Output, { kind: 'snapshot' }>;
    expect(snap.aggregations.map((a) => a.name)).toEqual(['@c']);
    expect(outs[3]).toEqual({ kind: 'text', text: 'user line\n' });
    expect(outs[4]).toMatchObject({ kind: 'printa', index: 0, format: '%s=%@d\n' });
    expect(outs[5]).toMatchObject({ kind: 'printa', index: 1, format: null });
    // @c was printed by END's printa: not shown again; stddev maps are internal yet still build @sd.
    expect(fin.shown.map((a) => a.name)).toEqual(['@sd']);
    expect(fin.all.map((a) => a.name)).toEqual(['@c', '@sd']);
  });

  it('without a final marker, the blank lines before the exit dump start it', () => {
    const { outs, fin } = run(fixtureLines(dir, 'maps'), program('BEGIN {}', [agg('@c', 'count', [key('k')])]), doubleEscapedKeys);
    expect(outs.filter((o) => o.kind === 'print')).toEqual([]);
    expect(fin.all.map((a) => a.name)).toEqual(['@c']);
    // Maps the compiler did not declare are still shown at exit, with generic headers.
    expect(fin.shown.map((a) => a.name)).toContain('@mn');
    expect(fin.shown.find((a) => a.name === '@m')?.keys.map((k) => k.label)).toEqual(['key']);
  });

  it('interval snapshots, then the exit dump', () => {
    const prog = program('... \\037ctrace:final ...', [agg('@ticks', 'count'), agg('@calls', 'count', [key('comm')])], { internalMaps: ['@i'] });
    const { outs, fin } = run(fixtureLines(dir, 'interval'), prog, doubleEscapedKeys);
    const snaps = outs.filter((o) => o.kind === 'snapshot') as Extract<Output, { kind: 'snapshot' }>[];
    expect(snaps).toHaveLength(3);
    expect(snaps.map((s) => (s.aggregations[0]?.rows[0] as { value: number }).value)).toEqual([1, 2, 3]);
    expect(fin.shown.map((a) => a.name)).toContain('@ticks');
    expect(fin.shown.map((a) => a.name)).not.toContain('@i');
  });

  it('text outputs: printf, time, cat, system, join with a newline, values', () => {
    const { outs } = run(fixtureLines(dir, 'printf'), program('x'), doubleEscapedKeys);
    const text = outs.filter((o) => o.kind === 'text').map((o) => (o.kind === 'text' ? o.text : '')).join('');
    expect(text).toMatch(/^hello 5 w\nquote" back\\ tab\t uni é ctl \u0001\n\d{4}\nhello from cat\nsecond line\n5\n-3\nstr\n\(1, a\)\n.*ctrace-joinme a b c d\n.*ctrace-joinme,a,b c,d\n$/);
  });

  it('lost events are summed; helper errors become warnings at their position', () => {
    const lost = run(fixtureLines(dir, 'lost'), program('x'), doubleEscapedKeys);
    expect(lost.stream.lost).toBeGreaterThan(0);
    const he = run(fixtureLines(dir, 'helper_error'), program('x'), doubleEscapedKeys);
    expect(he.outs.find((o) => o.kind === 'diagnostic')).toMatchObject({ diagnostic: { severity: 'warning', line: 1, colStart: 20, message: expect.stringMatching(/^map_delete_elem\(\) failed with -2/) } });
  });

  it("0.17's plain 'No probes to attach' on stdout becomes a diagnostic", () => {
    const { outs } = run(fixtureLines(dir, 'error_attach'), program('x'), doubleEscapedKeys);
    if (dir === '0.17') expect(outs).toEqual([{ kind: 'diagnostic', diagnostic: { severity: 'info', message: 'No probes to attach', raw: ['No probes to attach'] } }]);
    else expect(outs.map((o) => o.kind)).toEqual(['attached']);
  });
});

describe('event stream robustness', () => {
  it('reports unknown and malformed lines once per kind', () => {
    const { outs } = run(['{"type": "new"}', '{"type": "new"}', '{', '{', '{"type": "other"}'], program('x'));
    expect(outs.filter((o) => o.kind === 'notice')).toHaveLength(3);
  });

  it('a map outside any group is printed at once; internal maps never', () => {
    const prog = program('x', [agg('@c', 'count', [key('k')])], { internalMaps: ['@__self_ts'] });
    const { outs } = run(['{"type": "map", "data": {"@c": {"a": 1}}}', '{"type": "map", "data": {"@__self_ts": {"1": 5}}}', '{"type": "map", "data": {"@s": {"1": "str"}}}'], prog);
    expect(outs.map((o) => o.kind)).toEqual(['print', 'text']);
    expect(outs[1]).toEqual({ kind: 'text', text: '@s[1]: str\n' });
  });

  it('formats print() values as bpftrace does', () => {
    expect(formatValue([1, 'a', [2]])).toBe('(1, a, (2))');
    expect(formatValue({ x: 1 })).toBe('{ .x = 1 }');
  });
});

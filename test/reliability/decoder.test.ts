// Bad input to the decoder: malformed bpftrace output lines, event types a newer bpftrace
// might add, invalid UTF-8 in traced strings, and random bytes split at random points. The
// runner's whole output path (LineSplitter -> decodeLine -> EventStream -> Presenter) must
// skip or report what it cannot read, once, and never throw; -o json must stay one valid
// JSON object per line whatever came in.

import { describe, expect, it } from 'vitest';
import { compile } from '../../src/compiler/compile.js';
import { REFERENCE_FACTS } from '../../src/compiler/facts.js';
import { Source } from '../../src/lang/source.js';
import { decodeLine, type BpfEvent } from '../../src/runner/events.js';
import { LineSplitter } from '../../src/runner/lines.js';
import { Presenter } from '../../src/runner/presenter.js';
import { EventStream, type Output } from '../../src/runner/stream.js';
import { tracepoints } from '../golden/cases.js';
import { prng, Rand } from './gen.js';

const FUZZ = Math.max(200, Math.floor(Number(process.env['CTRACE_FUZZ_CASES'] ?? 3000) / 3));

/** A compiled program with a keyed count, a histogram and a printf, for the stream to follow. */
function program() {
  const text = 'syscall::read:entry { @c[execname] = count(); @h = quantize(arg2); printf("%s %d\\n", execname, pid); }';
  const r = compile(new Source('<command line>', text), { ...REFERENCE_FACTS, tracepoints, tracepointsComplete: true });
  if (!r.program) throw new Error(r.diagnostics.map((d) => d.message).join('; '));
  return r.program;
}

/** Runs lines (or raw chunks) through the runner's path; returns what was written, per stream. */
function present(chunks: readonly (string | Buffer)[], output: 'json' | 'table', doubleEscapedKeys = true) {
  const compiled = program();
  let stdout = '';
  let stderr = '';
  const presenter = new Presenter(compiled, {
    output,
    stdout: { write: (s: string) => (stdout += s), isTTY: false },
    stderr: { write: (s: string) => (stderr += s), isTTY: false },
    env: { NO_COLOR: '1' },
    progress: false,
  });
  const stream = new EventStream(compiled);
  const opts = stream.decodeOptions(doubleEscapedKeys);
  const split = new LineSplitter(64 * 1024);
  const outputs: Output[] = [];
  const push = (line: string) => {
    for (const o of stream.push(decodeLine(line, opts))) {
      outputs.push(o);
      if (o.kind === 'diagnostic') presenter.diagnostic(o.diagnostic);
      else presenter.handle(o);
    }
  };
  for (const c of chunks) for (const l of split.push(c)) push(l);
  for (const l of split.end()) push(l);
  const fin = stream.finish();
  presenter.final(fin.shown);
  presenter.lost(stream.lost);
  return { stdout, stderr, outputs, overlong: split.overlong };
}

function everyLineIsJson(text: string): void {
  for (const line of text.split('\n').filter((l) => l !== '')) {
    expect(() => JSON.parse(line), `not JSON: ${JSON.stringify(line).slice(0, 200)}`).not.toThrow();
  }
}

// Real lines: a process named "x\xff\xfe\xc3z" (invalid UTF-8) exec'd under
// `tracepoint:sched:sched_process_exec { printf("comm=%s|\n", comm); @[comm] = count(); @s[comm, 7] = count(); }`.
const INVALID_UTF8 = {
  '0.23': [
    '{"type": "printf", "data": "comm=x\\uffffffff\\ufffffffe\\uffffffc3z|\\n"}',
    '{"type": "map", "data": {"@": {"loadgen": 1, "x\\\\uffffffff\\\\ufffffffe\\\\uffffffc3z": 1, "tmux": 86}}}',
    '{"type": "map", "data": {"@s": {"loadgen,7": 1, "x\\\\uffffffff\\\\ufffffffe\\\\uffffffc3z,7": 1}}}',
  ],
  '0.17': [
    '{"type": "printf", "data": "comm=x\\uffffffff\\ufffffffe\\uffffffc3z|\\n"}',
    '{"type": "map", "data": {"@": {"x\\uffffffff\\ufffffffe\\uffffffc3z": 1, "loadgen": 1}}}',
    '{"type": "map", "data": {"@s": {"x\\uffffffff\\ufffffffe\\uffffffc3z,7": 1, "utempter,7": 1}}}',
  ],
} as const;

const MALFORMED: readonly string[] = [
  '{"type": "printf", "data": "cut off here',
  '{"type": "printf"}',
  '{"type": 42, "data": "x"}',
  '{"data": "no type"}',
  '[1, 2, 3]',
  '"just a string"',
  'null',
  '{"type": "printf", "data": {"nested": true}}',
  '{"type": "attached_probes", "data": {"probes": "two"}}',
  '{"type": "lost_events", "data": {"events": "12"}}',
  '{"type": "lost_events"}',
  '{"type": "map", "data": [1, 2]}',
  '{"type": "map", "data": {"@x": {"a": {"b": [1, {"c": null}]}}}}',
  '{"type": "hist", "data": {"@h": [{"min": 1, "max": 2}]}}',
  '{"type": "hist", "data": {"@h": {"k": "not buckets"}}}',
  '{"type": "hist", "data": {"@h": [{"min": "a", "max": null, "count": 1}]}}',
  '{"type": "stats", "data": {"@s": {"k": {"count": "x"}}}}',
  '{"type": "stats", "data": {"@s": [1]}}',
  '{"type": "map", "data": {"__proto__": {"polluted": 1}}}',
  '{"type": "map", "data": {"@m": {"__proto__": 5, "constructor": 6}}}',
  '{"type": "value", "data": NaN}',
  '{"type": "printf", "data": "lone surrogate \\ud800 here\\n"}',
  '{"type": "printf", "data": "bad escape \\uffffff"}',
  '{"type": "printf", "data": "bad escape \\uffffffZZ end"}',
  '{"type": "map", "data": {"@c": {"\\\\uffffff": 1}}}',
  '\ufeff{"type": "printf", "data": "BOM\\n"}',
  '{"type": "printf", "data": "nul \u0000 raw"}',
  '\u0000\u0001\u0002 binary \u00ff\u00fe',
  '}{',
  '{"type": "printf", "data": "x"}{"type": "printf", "data": "y"}',
  `{"type": "printf", "data": "${'a'.repeat(100_000)}"}`,
  `${'['.repeat(50_000)}${']'.repeat(50_000)}`,
  `{"type": "map", "data": {"@deep": ${'{"k": '.repeat(200)}1${'}'.repeat(200)}}}`,
  `{"type": "value", "data": ${'['.repeat(300)}1${']'.repeat(300)}}`,
  'Attaching 1 probe...',
  'ERROR: something bpftrace printed on stdout',
  '   ',
  '\r',
];

describe('decodeLine on malformed input', () => {
  it.each(MALFORMED.map((l, i) => [i, l.length > 60 ? `${l.slice(0, 60)}...(${l.length})` : l, l]))('line %i: %j', (_i, _short, line) => {
    let ev: BpfEvent | undefined;
    expect(() => (ev = decodeLine(line as string, { doubleEscapedKeys: true }))).not.toThrow();
    expect(typeof ev?.type).toBe('string');
    if (ev?.type === 'malformed' || ev?.type === 'unknown') expect(ev.line.length).toBeLessThanOrEqual(210);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('the whole path reports each kind of unreadable line once, and keeps going', () => {
    const good = ['{"type": "attached_probes", "data": {"probes": 1}}', '{"type": "printf", "data": "bash 7\\n"}'];
    const lines = [...good, ...MALFORMED, ...MALFORMED, '{"type": "printf", "data": "after 8\\n"}', '{"type": "map", "data": {"@c": {"bash": 3}}}'];
    for (const output of ['json', 'table'] as const) {
      const r = present(lines.map((l) => l + '\n'), output);
      expect(r.stdout).toContain('bash 7');
      expect(r.stdout).toContain('after 8');
      if (output === 'json') everyLineIsJson(r.stdout);
      // One notice per distinct reason, not one per line: the second copy adds nothing.
      const notices = r.stderr.split('\n').filter((l) => l.startsWith('trace: ignored'));
      expect(new Set(notices).size).toBe(notices.length);
      expect(notices.length).toBeLessThan(MALFORMED.length + 1);
      for (const n of notices) expect(n.length).toBeLessThan(400);
    }
  });
});

describe('event types from a newer bpftrace', () => {
  const NEWER = [
    '{"type": "attached_probes_v2", "data": {"probes": 3, "detail": []}}',
    '{"type": "tracepoint_format", "data": {"name": "x"}}',
    '{"type": "syscall_v2", "data": "hello\\n"}',
    '{"type": "usage", "data": {"cpu": 1.5}}',
  ];

  it('decodes them as unknown, with the type named', () => {
    for (const l of NEWER) {
      const ev = decodeLine(l);
      expect(ev.type).toBe('unknown');
      if (ev.type === 'unknown') expect(l).toContain(`"${ev.jsonType}"`);
    }
  });

  it('notes each new type once on stderr, and the known events around them still come out', () => {
    const lines = ['{"type": "attached_probes", "data": {"probes": 1}}', ...NEWER, ...NEWER, '{"type": "printf", "data": "sh 9\\n"}', '{"type": "lost_events", "data": {"events": 4}}'];
    const r = present(lines.map((l) => l + '\n'), 'json');
    everyLineIsJson(r.stdout);
    expect(r.stdout).toContain('"text":"sh 9\\n"');
    expect(r.stdout).toContain('{"type":"lost","events":4}');
    const notices = r.stderr.split('\n').filter((l) => /unknown type/.test(l));
    expect(notices).toHaveLength(NEWER.length);
    for (const t of ['attached_probes_v2', 'tracepoint_format', 'syscall_v2', 'usage']) expect(r.stderr).toContain(`'${t}'`);
  });
});

describe('invalid UTF-8 in traced strings (recorded from bpftrace)', () => {
  for (const [version, lines] of Object.entries(INVALID_UTF8)) {
    const doubleEscapedKeys = version === '0.23';

    it(`${version}: printf text and map keys decode, with U+FFFD for the bad bytes`, () => {
      const keyKinds = (m: string) => (m === '@s' ? (['string', 'int'] as const) : (['string'] as const));
      const [printf, map, multi] = lines.map((l) => decodeLine(l, { doubleEscapedKeys, keyKinds }));
      expect(printf).toEqual({ type: 'printf', text: 'comm=x\ufffd\ufffd\ufffdz|\n' });
      expect(map?.type).toBe('maps');
      if (map?.type === 'maps') expect(map.maps[0]!.entries.map((e) => e.rawKey)).toContain('x\ufffd\ufffd\ufffdz');
      expect(multi?.type).toBe('maps');
      if (multi?.type === 'maps') expect(multi.maps[0]!.entries.map((e) => e.key)).toContainEqual(['x\ufffd\ufffd\ufffdz', 7]);
    });

    it(`${version}: tables and JSON render them`, () => {
      for (const output of ['json', 'table'] as const) {
        const r = present(lines.map((l) => l + '\n'), output, doubleEscapedKeys);
        expect(r.stdout).toContain('x\ufffd\ufffd\ufffdz');
        if (output === 'json') everyLineIsJson(r.stdout);
        expect(r.stderr).toBe('');
      }
    });
  }

  it('raw invalid bytes on the pipe (not escaped) become U+FFFD, even split across chunks', () => {
    const bytes = Buffer.concat([Buffer.from('{"type": "printf", "data": "raw='), Buffer.from([0xff, 0xfe, 0xe2, 0x82]), Buffer.from(' \u20ac|\\n"}\n')]);
    // Split between the two bad bytes, and inside the (valid) euro sign e2 82 ac.
    const a = bytes.indexOf(0xfe);
    const b = bytes.indexOf(0xac);
    const chunks = [bytes.subarray(0, a), bytes.subarray(a, b), bytes.subarray(b)];
    const r = present(chunks, 'json');
    everyLineIsJson(r.stdout);
    const text = JSON.parse(r.stdout.split('\n')[0]!).text as string;
    expect(text).toMatch(/^raw=\ufffd+ \u20ac\|\n$/);
  });
});

// Regression tests for bugs this suite found (they ran as `it.fails` until fixed).
describe('fixed bugs', () => {
  // src/runner/stream.ts formatValue() recurses once per nesting level with no limit, and
  // EventStream.push() is not guarded like decodeLine() is: a map value or print() value nested
  // ~5,000 deep (JSON.parse accepts it) overflows the stack inside session.ts's stdout 'data'
  // handler, which ends the run with an internal error instead of a notice.
  it('a map value nested 5,000 deep is reported, not thrown', () => {
    const line = `{"type": "map", "data": {"@deep": ${'{"k": '.repeat(5_000)}1${'}'.repeat(5_000)}}}`;
    expect(() => present([line + '\n'], 'table')).not.toThrow();
  });
});

describe('random bytes and random splits', () => {
  const VALID = [
    '{"type": "attached_probes", "data": {"probes": 1}}',
    '{"type": "printf", "data": "bash 7\\n"}',
    '{"type": "printf", "data": "\\u001fctrace:ready\\n"}',
    '{"type": "map", "data": {"@c": {"bash": 3, "sh": 1}}}',
    '{"type": "hist", "data": {"@h": [{"min": 0, "max": 0, "count": 1}, {"min": 1, "max": 1, "count": 2}]}}',
    '{"type": "lost_events", "data": {"events": 2}}',
    '{"type": "printf", "data": "\\u001fctrace:final\\n"}',
    '',
  ];

  it(`${FUZZ} streams of valid lines, damaged lines and garbage, cut at random points: never throws, JSON output stays JSON`, () => {
    const r = new Rand(prng(0xdec0de));
    for (let i = 0; i < FUZZ; i++) {
      const parts: Buffer[] = [];
      for (let n = 2 + r.int(30); n > 0; n--) {
        const c = r.int(10);
        if (c < 5) parts.push(Buffer.from(r.pick(VALID) + '\n'));
        else if (c < 7) parts.push(Buffer.from(r.pick(MALFORMED).slice(0, 300) + '\n'));
        else if (c < 9) {
          // A valid line with random bytes changed.
          const b = Buffer.from(r.pick(VALID) + '\n');
          for (let k = 1 + r.int(4); k > 0; k--) b[r.int(b.length)] = r.int(256);
          parts.push(b);
        } else parts.push(Buffer.from(Array.from({ length: r.int(200) }, () => r.int(256))));
      }
      const all = Buffer.concat(parts);
      const chunks: Buffer[] = [];
      for (let at = 0; at < all.length; ) {
        const len = 1 + r.int(r.chance(0.2) ? 4 : 400);
        chunks.push(all.subarray(at, at + len));
        at += len;
      }
      const output = i % 2 ? 'json' : 'table';
      let res: ReturnType<typeof present> | undefined;
      try {
        res = present(chunks, output, i % 3 !== 0);
      } catch (e) {
        throw new Error(`stream ${i} made the runner throw: ${e instanceof Error ? e.stack : String(e)}\n${JSON.stringify(all.toString('latin1')).slice(0, 2000)}`);
      }
      if (output === 'json') everyLineIsJson(res.stdout);
    }
  });

  it('a line longer than the splitter allows is dropped and counted, and the next line is read', () => {
    const split = new LineSplitter(1024);
    const out = [...split.push('x'.repeat(600)), ...split.push('y'.repeat(600)), ...split.push('\n{"type": "printf", "data": "ok\\n"}\n')];
    expect(out).toEqual(['{"type": "printf", "data": "ok\\n"}']);
    expect(split.overlong).toBe(1);
  });
});

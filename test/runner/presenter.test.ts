import { describe, expect, it } from 'vitest';
import type { Aggregation } from '../../src/runner/aggregate.js';
import { Presenter, screenRows } from '../../src/runner/presenter.js';
import { key, program } from './helpers.js';

class Sink {
  text = '';
  constructor(
    readonly isTTY: boolean,
    readonly columns = 80,
  ) {}
  write(s: string) {
    this.text += s;
    return true;
  }
}

const count = (n: number): Aggregation => ({ name: '@c', kind: 'scalar', func: 'count', keys: [key('k')], rows: [{ keys: ['a'], value: n }] });
const fixed = () => new Date('2026-11-22T04:05:06');

describe('Presenter', () => {
  it('redraws snapshots in place on a terminal', () => {
    const out = new Sink(true);
    const err = new Sink(true);
    const p = new Presenter(program('x'), { output: 'table', stdout: out, stderr: err, env: { NO_COLOR: '1' } });
    p.handle({ kind: 'snapshot', aggregations: [count(1)] });
    const first = out.text;
    p.handle({ kind: 'snapshot', aggregations: [count(2)] });
    const rows = screenRows(first, 80);
    expect(out.text.slice(first.length)).toMatch(new RegExp(`^\\u001b\\[${rows}A\\r\\u001b\\[J@c\\n`));
    // printf output in between: the next snapshot starts below it instead of overwriting.
    p.handle({ kind: 'text', text: 'hello\n' });
    const before = out.text.length;
    p.handle({ kind: 'snapshot', aggregations: [count(3)] });
    expect(out.text.slice(before)).toMatch(/^@c\n/);
  });

  it('appends snapshots under a time header when piped; none when quiet', () => {
    const out = new Sink(false);
    const p = new Presenter(program('x'), { output: 'table', stdout: out, stderr: new Sink(false), env: {}, now: fixed });
    p.handle({ kind: 'snapshot', aggregations: [count(1)] });
    p.handle({ kind: 'snapshot', aggregations: [count(2)] });
    expect(out.text.match(/--- 04:05:06 ---/g)).toHaveLength(2);
    expect(out.text).not.toMatch(/\u001b/);
    const q = new Sink(false);
    const quiet = new Presenter(program('x', [], { options: { quiet: true, intervalMs: 1000, destructive: false, raw: {} } }), { output: 'table', stdout: q, stderr: new Sink(false), env: {} });
    quiet.handle({ kind: 'snapshot', aggregations: [count(1)] });
    expect(q.text).not.toContain('---');
  });

  it('shows and clears the progress line only on a terminal', () => {
    const err = new Sink(true);
    const p = new Presenter(program('x'), { output: 'table', stdout: new Sink(false), stderr: err, env: {} });
    p.handle({ kind: 'attached', probes: 3 });
    expect(err.text).toBe('\r\u001b[Kattaching 3 probes...');
    p.handle({ kind: 'ready' });
    expect(err.text.endsWith('\r\u001b[K')).toBe(true);
    const piped = new Sink(false);
    new Presenter(program('x'), { output: 'table', stdout: new Sink(false), stderr: piped, env: {} }).handle({ kind: 'attached', probes: 3 });
    expect(piped.text).toBe('');
  });

  it('writes NDJSON in json mode', () => {
    const out = new Sink(true);
    const p = new Presenter(program('x'), { output: 'json', stdout: out, stderr: new Sink(false), env: {}, now: fixed });
    p.handle({ kind: 'text', text: 'hi\n' });
    p.handle({ kind: 'snapshot', aggregations: [count(1)] });
    p.final([count(2)]);
    p.lost(3);
    const objs = out.text.trim().split('\n').map((l) => JSON.parse(l));
    expect(objs.map((o) => o.type)).toEqual(['printf', 'snapshot', 'aggregation', 'aggregation', 'lost']);
    expect(objs[3]).toMatchObject({ phase: 'final', rows: [{ keys: ['a'], value: 2 }] });
  });

  it('batch mode: one stdout write per turn of the event loop, stderr in order, nothing lost at flush', async () => {
    class Counting extends Sink {
      writes = 0;
      override write(s: string) {
        this.writes++;
        return super.write(s);
      }
    }
    const out = new Counting(false);
    const err = new Counting(false);
    const p = new Presenter(program('x'), { output: 'table', stdout: out, stderr: err, env: {}, batch: true });
    for (let i = 0; i < 100; i++) p.handle({ kind: 'text', text: `line ${i}\n` });
    expect(out.writes).toBe(0);
    await new Promise((r) => setImmediate(r));
    expect(out.writes).toBe(1);
    expect(out.text.split('\n')).toHaveLength(101);
    // A stderr write first writes what stdout holds: the two interleave as produced.
    const order: string[] = [];
    const o2 = { write: (s: string) => order.push(`out:${s}`) };
    const e2 = { write: (s: string) => order.push(`err:${s}`) };
    const q = new Presenter(program('x'), { output: 'table', stdout: o2, stderr: e2, env: {}, batch: true });
    q.handle({ kind: 'text', text: 'a\n' });
    q.handle({ kind: 'text', text: 'b\n' });
    q.message('note');
    q.handle({ kind: 'text', text: 'c\n' });
    q.flush();
    expect(order).toEqual(['out:a\nb\n', 'err:note\n', 'out:c\n']);
    // Closed by its reader (EPIPE): what was held is dropped, nothing more is written.
    q.handle({ kind: 'text', text: 'd\n' });
    q.closeStdout();
    q.flush();
    await new Promise((r) => setImmediate(r));
    expect(order).toHaveLength(3);
  });

  it('reports lost events on stderr', () => {
    const err = new Sink(false);
    new Presenter(program('x'), { output: 'table', stdout: new Sink(false), stderr: err, env: {} }).lost(12);
    expect(err.text).toBe('12 events lost\n');
  });
});

describe('screenRows', () => {
  it('counts wrapped lines and ignores colour codes', () => {
    expect(screenRows('a\nb\n', 80)).toBe(2);
    expect(screenRows('x'.repeat(100) + '\n', 80)).toBe(2);
    expect(screenRows('\u001b[1m' + 'x'.repeat(80) + '\u001b[22m\n', 80)).toBe(1);
  });
});

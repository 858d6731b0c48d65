import { describe, expect, it } from 'vitest';
import { LineSplitter } from '../../src/runner/lines.js';

describe('LineSplitter', () => {
  it('emits only complete lines, across chunks', () => {
    const s = new LineSplitter();
    expect(s.push('{"a"')).toEqual([]);
    expect(s.push(': 1}\n{"b": ')).toEqual(['{"a": 1}']);
    expect(s.push('2}\n\n')).toEqual(['{"b": 2}', '']);
    expect(s.end()).toEqual([]);
  });

  it('keeps a multi-byte character split between chunks whole', () => {
    const s = new LineSplitter();
    const bytes = Buffer.from('é\n', 'utf8');
    expect(s.push(bytes.subarray(0, 1))).toEqual([]);
    expect(s.push(bytes.subarray(1))).toEqual(['é']);
  });

  it('returns an unterminated last line at the end of the stream, and strips CR', () => {
    const s = new LineSplitter();
    expect(s.push('x\r\ntail')).toEqual(['x']);
    expect(s.end()).toEqual(['tail']);
  });

  it('drops and counts lines longer than the limit, then carries on', () => {
    const s = new LineSplitter(10);
    expect(s.push('0123456789abc')).toEqual([]);
    expect(s.push('def\nok\n')).toEqual(['ok']);
    expect(s.overlong).toBe(1);
  });

  it('handles a long line in many chunks', () => {
    const s = new LineSplitter();
    const out: string[] = [];
    for (let i = 0; i < 1000; i++) out.push(...s.push('x'.repeat(100)));
    out.push(...s.push('\n'));
    expect(out).toEqual(['x'.repeat(100_000)]);
  });
});

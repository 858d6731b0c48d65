import { describe, expect, it } from 'vitest';
import { parseRequest } from '../../src/helper/protocol.js';

const targets = { containers: ['web'], labels: [], pids: [], runtime: 'auto', hostPids: false };
const run = { v: 1, op: 'run', program: { name: 'x.d', text: 'BEGIN { exit(); }' }, args: [], intervalMs: null, quiet: false, destructive: false };

describe('parseRequest', () => {
  it('accepts the four requests', () => {
    expect(parseRequest('{"v":1,"op":"hello"}')).toEqual({ v: 1, op: 'hello' });
    expect(parseRequest(JSON.stringify({ v: 1, op: 'resolve', targets }))).toMatchObject({ op: 'resolve' });
    expect(parseRequest(JSON.stringify({ v: 1, op: 'list', pattern: 'main.*', targets }))).toMatchObject({ op: 'list' });
    expect(parseRequest(JSON.stringify({ ...run, targets }))).toMatchObject({ op: 'run', program: { name: 'x.d' } });
  });
  it.each([
    ['garbage', 'not json', /not JSON/],
    ['an array', '[]', /not a JSON object/],
    ['another protocol version', '{"v":2,"op":"hello"}', /protocol version 2 is not supported \(this helper speaks 1\)/],
    ['an unknown op', '{"v":1,"op":"exec"}', /unknown request "exec"/],
    ['resolve without targets', '{"v":1,"op":"resolve"}', /needs targets/],
    ['pids that are not positive integers', JSON.stringify({ v: 1, op: 'resolve', targets: { ...targets, pids: ['1; rm'] } }), /malformed targets/],
    ['an unknown runtime (never passed to a command line)', JSON.stringify({ v: 1, op: 'resolve', targets: { ...targets, runtime: '--rm' } }), /malformed targets/],
    ['a run without program text', JSON.stringify({ ...run, program: { name: 'x' } }), /needs a program/],
    ['non-string args', JSON.stringify({ ...run, args: [1] }), /args must be strings/],
    ['a follow that is not a boolean', JSON.stringify({ ...run, follow: 'yes' }), /follow must be a boolean/],
    ['a bad interval', JSON.stringify({ ...run, intervalMs: -1 }), /intervalMs/],
  ])('refuses %s', (_n, line, re) => {
    const r = parseRequest(line);
    expect(typeof r).toBe('string');
    expect(r).toMatch(re);
  });
});

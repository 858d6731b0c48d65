import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cacheDir, cacheGet, cachePut, fileStamp } from '../../src/runner/cache.js';
import { infoCacheKey } from '../../src/runner/bpftrace.js';

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'ctrace-cache-test-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  while (dirs.length) rmSync(dirs.pop()!, { recursive: true, force: true });
});

describe('on-disk cache', () => {
  it('returns a value only under exactly its key', () => {
    const env = { TRACE_CACHE_DIR: join(tmp(), 'c') };
    cachePut('t', 'key-1', { a: 1 }, env);
    expect(cacheGet('t', 'key-1', env)).toEqual({ a: 1 });
    expect(cacheGet('t', 'key-2', env)).toBeUndefined();
    expect(cacheGet('other', 'key-1', env)).toBeUndefined();
  });

  it('never trusts an entry whose stored key differs (a collision or a tampered file)', () => {
    const env = { TRACE_CACHE_DIR: join(tmp(), 'c') };
    cachePut('t', 'key-1', { a: 1 }, env);
    const [file] = readdirSync(env.TRACE_CACHE_DIR);
    const path = join(env.TRACE_CACHE_DIR, file!);
    const entry = JSON.parse(readFileSync(path, 'utf8'));
    writeFileSync(path, JSON.stringify({ ...entry, key: 'key-other' }));
    expect(cacheGet('t', 'key-1', env)).toBeUndefined();
    writeFileSync(path, '{"format":1,"key":"key-1","val');
    expect(cacheGet('t', 'key-1', env)).toBeUndefined();
  });

  it('ignores a directory others can write, and falls back silently when it cannot write', () => {
    const open = join(tmp(), 'open');
    const env = { TRACE_CACHE_DIR: open };
    cachePut('t', 'k', 1, env);
    chmodSync(open, 0o777);
    expect(cacheGet('t', 'k', { TRACE_CACHE_DIR: open + '/' })).toBeUndefined();
    const file = join(tmp(), 'a-file');
    writeFileSync(file, '');
    expect(() => cachePut('t', 'k', 1, { TRACE_CACHE_DIR: join(file, 'sub') })).not.toThrow();
    expect(cacheGet('t', 'k', { TRACE_CACHE_DIR: join(file, 'sub') })).toBeUndefined();
  });

  it('can be turned off', () => {
    expect(cacheDir({ TRACE_CACHE_DIR: '' })).toBeNull();
    expect(cacheDir({ TRACE_CACHE_DIR: 'off' })).toBeNull();
    expect(cacheGet('t', 'k', { TRACE_CACHE_DIR: 'off' })).toBeUndefined();
  });

  it("a file's stamp changes with its content and times", () => {
    const f = join(tmp(), 'bin');
    writeFileSync(f, 'one');
    const a = fileStamp(f);
    writeFileSync(f, 'two');
    utimesSync(f, new Date(1000), new Date(1000));
    expect(fileStamp(f)).not.toBe(a);
    expect(fileStamp(join(f, 'nope'))).toBeNull();
  });

  it('keys a bpftrace wrapper script by the files it names too', () => {
    const d = tmp();
    const real = join(d, 'real-bpftrace');
    writeFileSync(real, 'v1');
    const wrapper = join(d, 'bpftrace');
    writeFileSync(wrapper, `#!/bin/sh\nP="${d}"\nexec "$P/real-bpftrace" "$@"\n`, { mode: 0o755 });
    const k1 = infoCacheKey(wrapper);
    expect(k1).toContain(real);
    writeFileSync(real, 'v2, a new build');
    expect(infoCacheKey(wrapper)).not.toBe(k1);
  });
});

import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from '../../src/lang/parse.js';
import { Source } from '../../src/lang/source.js';
import { parseCached } from '../../src/runner/parse-cache.js';

const dir = mkdtempSync(join(tmpdir(), 'ctrace-parse-cache-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const cases = join(__dirname, '..', 'golden', 'cases');
const programs = readdirSync(cases).filter((f) => f.endsWith('.d'));

describe('parse cache', () => {
  it('gives back exactly what the parser gives, for every golden case (bigints, spans and warnings included)', async () => {
    const env = { TRACE_CACHE_DIR: join(dir, 'golden') };
    let cached = 0;
    for (const f of programs) {
      const source = new Source(f, readFileSync(join(cases, f), 'utf8'));
      const fresh = parse(source);
      expect(await parseCached(source, env), f).toStrictEqual(fresh);
      const hit = await parseCached(source, env);
      expect(hit, f).toStrictEqual(fresh);
      if (!fresh.diagnostics.some((d) => d.severity === 'error')) cached++;
    }
    expect(cached).toBeGreaterThan(50);
    expect(readdirSync(env.TRACE_CACHE_DIR).filter((f) => f.startsWith('ast-'))).toHaveLength(cached);
  });

  it('answers from the cache entry once one is stored, and keeps no program with syntax errors', async () => {
    const env = { TRACE_CACHE_DIR: join(dir, 'entry') };
    const source = new Source('<command line>', 'BEGIN { @x = 18446744073709551615; printf("hi\\n"); }');
    const fresh = await parseCached(source, env);
    const [file] = readdirSync(env.TRACE_CACHE_DIR);
    // An entry whose stored AST was changed is what the next run gets: proof it is read, not re-parsed.
    const path = join(env.TRACE_CACHE_DIR, file!);
    const text = readFileSync(path, 'utf8');
    const at = text.indexOf('"value":');
    writeFileSync(path, text.slice(0, at) + text.slice(at).replace('hi', 'HI'));
    expect(JSON.stringify(await parseCached(source, env), (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))).toContain('HI');
    expect(JSON.stringify(fresh.program, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v))).toContain('18446744073709551615n');

    const bad = await parseCached(new Source('<command line>', 'BEGIN { printf("x" }'), env);
    expect(bad.diagnostics.some((d) => d.severity === 'error')).toBe(true);
    expect(readdirSync(env.TRACE_CACHE_DIR)).toHaveLength(1);
  });
});

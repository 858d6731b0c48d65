// Parsing is pure (the same text gives the same AST), so a program parsed once is kept in the
// on-disk cache (cache.ts), keyed by its text and the build of the parser's code: run again, it
// does not load chevrotain and build its grammar, about 40 ms of CPU in a cold start.
// Only programs without syntax errors are kept; their warnings are kept with them.

import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Program } from '../lang/ast.js';
import { hasErrors, type Diagnostic } from '../lang/diagnostics.js';
import type { Source } from '../lang/source.js';
import { cacheGet, cachePut, fileStamp } from './cache.js';

export interface Parsed {
  readonly program: Program;
  readonly diagnostics: Diagnostic[];
}

let codeStamp: string | null | undefined;

/** The stamps of every module of the parser's directory (dist/lang, or src/lang under the tests); null when they are not files. */
function parserCodeStamp(): string | null {
  if (codeStamp !== undefined) return codeStamp;
  codeStamp = null;
  try {
    const dir = fileURLToPath(new URL('../lang/', import.meta.url));
    const files = readdirSync(dir).filter((f) => /\.[jt]s$/.test(f)).sort();
    const stamps = files.map((f) => `${f}=${fileStamp(join(dir, f))}`);
    if (files.some((f) => /^parse\.[jt]s$/.test(f)) && !stamps.some((s) => s.endsWith('=null'))) codeStamp = stamps.join(',');
  } catch {
    // not a file: URL (bundled), or unreadable: no caching
  }
  return codeStamp;
}

// Integer literals are bigints, which JSON does not carry.
const encode = (parsed: Parsed) => JSON.stringify(parsed, (_k, v: unknown) => (typeof v === 'bigint' ? { $bigint: v.toString() } : v));
const decode = (text: string) =>
  JSON.parse(text, (_k, v: unknown) => (v !== null && typeof v === 'object' && typeof (v as { $bigint?: unknown }).$bigint === 'string' && Object.keys(v).length === 1 ? BigInt((v as { $bigint: string }).$bigint) : v)) as Parsed;

export async function parseCached(source: Source, env: NodeJS.ProcessEnv = process.env): Promise<Parsed> {
  const code = parserCodeStamp();
  const key = code === null ? null : JSON.stringify({ code, text: source.text });
  if (key !== null) {
    const hit = cacheGet<string>('ast', key, env);
    if (typeof hit === 'string') {
      try {
        return decode(hit);
      } catch {
        // corrupt: parsed afresh below
      }
    }
  }
  const { parse } = await import('../lang/parse.js');
  const parsed = parse(source);
  if (key !== null && !hasErrors(parsed.diagnostics)) cachePut('ast', key, encode(parsed), env);
  return parsed;
}

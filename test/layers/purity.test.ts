// lang/ and compiler/ (and the shared platform data) are pure: no node:* modules, no
// process, no console, no clock. This test is the lint rule that keeps them so.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../support/trace.js';

const PURE = ['src/lang', 'src/compiler', 'src/platform'];
const FORBIDDEN: [RegExp, string][] = [
  [/from ['"]node:/, 'a node: module'],
  [/from ['"](fs|path|child_process|os|process|url)['"]/, 'a node module'],
  [/\bprocess\./, 'process'],
  [/\bconsole\./, 'console'],
  [/\bDate\.now\(|new Date\(|performance\.now\(/, 'the clock'],
  [/from ['"]\.\.\/(runner|commands|demo|repl|check)\//, 'a side-effecting layer'],
];

function files(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

describe('pure layers', () => {
  for (const dir of PURE) {
    it(`${dir} uses no I/O, process, console or clock`, () => {
      const offences: string[] = [];
      for (const f of files(dir)) {
        const text = readFileSync(join(ROOT, f), 'utf8').replace(/\/\/.*$/gm, '').replace(/\/\*[\s\S]*?\*\//g, '');
        for (const [re, what] of FORBIDDEN) if (re.test(text)) offences.push(`${f} uses ${what}`);
      }
      expect(offences).toEqual([]);
    });
  }

  it('the runner takes nothing from the compiler but its output types and facts', () => {
    const allowed = /compiler\/(program|facts)\.js/;
    const offences = files('src/runner').flatMap((f) => {
      const text = readFileSync(join(ROOT, f), 'utf8');
      return [...text.matchAll(/from ['"]([^'"]*compiler\/[^'"]*)['"]/g)].filter((m) => !allowed.test(m[1]!)).map((m) => `${f} imports ${m[1]}`);
    });
    expect(offences).toEqual([]);
  });
});

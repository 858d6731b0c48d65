// docs/troubleshooting.md documents every diagnostic code: a new code in Codes fails this
// test until it has its own section there.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Codes } from '../../src/lang/diagnostics.js';
import { ROOT } from '../support/trace.js';

const doc = readFileSync(join(ROOT, 'docs', 'troubleshooting.md'), 'utf8');

describe('docs/troubleshooting.md', () => {
  it('has a section for every diagnostic code', () => {
    const missing = Object.entries(Codes)
      .filter(([, code]) => !new RegExp(`^### ${code}: `, 'm').test(doc))
      .map(([name, code]) => `${code} (${name})`);
    expect(missing).toEqual([]);
  });

  it('documents no code that does not exist', () => {
    const known = new Set<string>(Object.values(Codes));
    const documented = [...doc.matchAll(/^### (CT\d{4}): /gm)].map((m) => m[1]!);
    expect(documented.filter((c) => !known.has(c))).toEqual([]);
  });
});

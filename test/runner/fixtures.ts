// Recorded `bpftrace -f json` streams (see fixtures/record.sh), one directory per version.

import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');

/** Versions and whether their JSON map keys are escaped twice (0.23). */
export const VERSIONS = [
  { dir: '0.17', doubleEscapedKeys: false },
  { dir: '0.23', doubleEscapedKeys: true },
] as const;

export function fixtureLines(version: string, name: string): string[] {
  const text = readFileSync(join(FIXTURES, version, `${name}.ndjson`), 'utf8');
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

export function fixtureText(version: string, file: string): string {
  const p = join(FIXTURES, version, file);
  return existsSync(p) ? readFileSync(p, 'utf8') : '';
}

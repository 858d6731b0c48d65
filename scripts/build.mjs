#!/usr/bin/env node
// Builds dist/: tsc, then points dist's `chevrotain` imports at the package's single-file
// ESM bundle. The package's own entry loads ~650 lodash-es modules (0.8 s at every start
// of `trace`); the bundle is the same code in one file (0.15 s).
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(join(root, 'package.json'));
execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', join(root, 'tsconfig.json')], { stdio: 'inherit' });

const bundle = join(dirname(require.resolve('chevrotain')), '..', 'chevrotain.min.mjs');
const vendored = join(root, 'dist', 'vendor', 'chevrotain.mjs');
mkdirSync(dirname(vendored), { recursive: true });
copyFileSync(bundle, vendored);

function* jsFiles(dir) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* jsFiles(p);
    else if (e.name.endsWith('.js')) yield p;
  }
}
for (const file of jsFiles(join(root, 'dist'))) {
  const text = readFileSync(file, 'utf8');
  if (!/from ['"]chevrotain['"]/.test(text)) continue;
  let rel = relative(dirname(file), vendored);
  if (!rel.startsWith('.')) rel = `./${rel}`;
  writeFileSync(file, text.replace(/from (['"])chevrotain\1/g, `from '${rel}'`));
}

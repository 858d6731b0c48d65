#!/usr/bin/env node
// Builds dist/: tsc, then points dist's `chevrotain` imports at the package's single-file
// ESM bundle. The package's own entry loads ~650 lodash-es modules (0.8 s at every start
// of `trace`); the bundle is the same code in one file (0.15 s).
//
// It builds into a fresh directory and renames it into place, so that a `trace` started
// during a build never loads half-written modules.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(join(root, 'package.json'));
const dist = join(root, 'dist');
const out = join(root, `dist.build-${process.pid}`);
rmSync(out, { recursive: true, force: true });
try {
  execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', join(root, 'tsconfig.json'), '--outDir', out], { stdio: 'inherit' });
} catch {
  rmSync(out, { recursive: true, force: true });
  process.exit(1);
}

const bundle = join(dirname(require.resolve('chevrotain')), '..', 'chevrotain.min.mjs');
const vendored = join(out, 'vendor', 'chevrotain.mjs');
mkdirSync(dirname(vendored), { recursive: true });
copyFileSync(bundle, vendored);

function* jsFiles(dir) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* jsFiles(p);
    else if (e.name.endsWith('.js')) yield p;
  }
}
for (const file of jsFiles(out)) {
  const text = readFileSync(file, 'utf8');
  if (!/from ['"]chevrotain['"]/.test(text)) continue;
  let rel = relative(dirname(file), vendored);
  if (!rel.startsWith('.')) rel = `./${rel}`;
  writeFileSync(file, text.replace(/from (['"])chevrotain\1/g, `from '${rel}'`));
}

const old = join(root, `dist.old-${process.pid}`);
if (existsSync(dist)) renameSync(dist, old);
renameSync(out, dist);
rmSync(old, { recursive: true, force: true });

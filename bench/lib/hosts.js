// The SSH test hosts of test/support/hosts.ts, for the fleet benchmark. The bench runs plain
// node (no TypeScript loader), so that module is compiled here with esbuild (the one vitest
// uses): its own code bundled, its `../../src/...` imports pointed at the built dist/, npm
// packages left to node, and vitest (whose afterAll it imports for useTestHosts, which we do
// not use) stubbed. The output lives in node_modules/.cache so that node finds the packages.

import { mkdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT } from './proc.js';

let loaded;

/** test/support/hosts.ts's exports: startTestHosts(n), TEST_USER, ... */
export async function testHostsModule() {
  loaded ??= (async () => {
    const esbuild = await import('esbuild');
    const outDir = join(ROOT, 'node_modules', '.cache', 'ctrace-bench');
    mkdirSync(outDir, { recursive: true });
    const outfile = join(outDir, 'hosts.mjs');
    const src = join(ROOT, 'src');
    const dist = join(ROOT, 'dist');
    await esbuild.build({
      entryPoints: [join(ROOT, 'test', 'support', 'hosts.ts')],
      outfile,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      packages: 'external',
      logLevel: 'error',
      plugins: [
        {
          name: 'bench-hosts',
          setup(b) {
            b.onResolve({ filter: /^vitest$/ }, () => ({ path: 'vitest', namespace: 'vitest-stub' }));
            b.onLoad({ filter: /.*/, namespace: 'vitest-stub' }, () => ({
              contents: 'export function afterAll() { throw new Error("useTestHosts needs vitest; the bench calls startTestHosts"); }',
              loader: 'js',
            }));
            // ../../src/demo/build.js -> dist/demo/build.js (built by scripts/build.mjs), external.
            b.onResolve({ filter: /\/src\/.*\.js$/ }, (a) => {
              const abs = join(a.resolveDir, a.path);
              const rel = relative(src, abs);
              if (rel.startsWith('..')) return undefined;
              return { path: pathToFileURL(join(dist, rel)).href, external: true };
            });
          },
        },
      ],
    });
    return import(pathToFileURL(outfile).href);
  })();
  return loaded;
}

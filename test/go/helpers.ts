// Builds test/go/fixtures/gofacts (a tiny Go program with known functions) with the local Go
// toolchain, once per flag set per test process, into a temporary directory.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { goCommand, goEnv } from '../../src/demo/build.js';

export const FIXTURE = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'gofacts');

const dirs: string[] = [];

/** Builds the fixture with extra `go build` flags; returns the binary's path. */
export function buildGofacts(name: string, flags: string[] = []): string {
  const dir = mkdtempSync(join(tmpdir(), 'ctrace-gofacts-'));
  dirs.push(dir);
  const out = join(dir, name);
  execFileSync(goCommand(), ['build', '-trimpath', '-buildvcs=false', ...flags, '-o', out, '.'], {
    cwd: FIXTURE,
    env: { ...process.env, ...goEnv() },
    stdio: ['ignore', 'ignore', 'inherit'],
    timeout: 240_000,
  });
  return out;
}

export function cleanupBuilds(): void {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

/** Runs a tool if it is installed; undefined when it is not (or fails). */
export function tryRun(cmd: string, args: string[]): string | undefined {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', maxBuffer: 256 << 20, stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return undefined;
  }
}

export function has(path: string): boolean {
  return existsSync(path);
}

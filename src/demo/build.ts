// Builds the demo's Go programs (demo/: frontend, voting, emoji, loadgen) into a cache
// directory keyed by a hash of their sources, so a warm start costs a hash, not a build.
//
// Layout under cacheDir():  bin/<hash>/{frontend,voting,emoji,loadgen}   (see rootfs.ts
// for rootfs/). Binaries are static (CGO_ENABLED=0) and keep their symbols and DWARF:
// probes name Go functions, and the runner reads DWARF for argument locations.

import { createHash } from 'node:crypto';
import { accessSync, constants, existsSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, utimes } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';

export const DEMO_SERVICES = ['frontend', 'voting', 'emoji'] as const;
export type DemoService = (typeof DEMO_SERVICES)[number];
export const DEMO_PROGRAMS = [...DEMO_SERVICES, 'loadgen'] as const;
export type DemoProgram = (typeof DEMO_PROGRAMS)[number];

export interface DemoBinaries {
  /** Directory holding one executable per program. */
  readonly dir: string;
  /** Hash of the sources, Go version and build flags (16 hex digits). */
  readonly hash: string;
  /** Absolute path of each program. */
  readonly paths: Readonly<Record<DemoProgram, string>>;
  /** True when this call ran `go build`; false when the cache was already current. */
  readonly built: boolean;
  /** Wall time of this call, ms. */
  readonly ms: number;
}

export interface BuildOptions {
  /** Rebuild even when the cache is current. */
  force?: boolean;
  log?: (msg: string) => void;
}

// -trimpath keeps the hash and the DWARF paths independent of where the repo is checked
// out; -buildvcs=false because VCS stamping fails in some checkouts and changes nothing
// we need. No -ldflags=-s/-w: the symbols and DWARF are the point.
const BUILD_FLAGS = ['-trimpath', '-buildvcs=false'];
const PACKAGES = ['./services/frontend', './services/voting', './services/emoji', './loadgen'];
/** Cached builds kept besides the current one (a running container may still use one). */
const KEEP_BUILDS = 3;

/** The repository root: the nearest ancestor of this module holding demo/go.mod. */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'demo', 'go.mod'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('ctrace demo: cannot find demo/go.mod above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
}

export function demoSourceDir(): string {
  return join(repoRoot(), 'demo');
}

function writable(dir: string): boolean {
  try {
    accessSync(dir, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The ctrace cache root: $CTRACE_CACHE_DIR, else $XDG_CACHE_HOME/ctrace, else
 * ~/.cache/ctrace, else (no writable HOME, as under some CI or sudo setups) a per-user
 * directory in the system temp dir.
 */
export function ctraceCacheDir(): string {
  const env = process.env;
  if (env.CTRACE_CACHE_DIR) return env.CTRACE_CACHE_DIR;
  if (env.XDG_CACHE_HOME && writable(env.XDG_CACHE_HOME)) return join(env.XDG_CACHE_HOME, 'ctrace');
  const home = env.HOME || homedir();
  if (home && writable(home)) return join(home, '.cache', 'ctrace');
  return join(tmpdir(), `ctrace-cache-${process.getuid?.() ?? 'user'}`);
}

/** Where the demo's binaries and root file systems live. */
export function cacheDir(): string {
  return join(ctraceCacheDir(), 'demo');
}

function homeWritable(): boolean {
  const home = process.env.HOME;
  return !!home && writable(home);
}

/**
 * The environment for `go`: static builds, modules on, no network (the module proxy is
 * unreachable here and the demo has no dependencies), and Go's caches moved under the
 * ctrace cache when HOME cannot hold them.
 */
export function goEnv(): Record<string, string> {
  const env: Record<string, string> = {
    CGO_ENABLED: '0',
    GO111MODULE: 'on',
    GOPROXY: 'off',
    GOFLAGS: '',
    GOWORK: 'off',
    // Newer Go would otherwise try to download the toolchain named in go.mod.
    GOTOOLCHAIN: 'local',
  };
  if (!homeWritable()) {
    const root = ctraceCacheDir();
    env.GOCACHE = process.env.GOCACHE || join(root, 'go-build');
    env.GOPATH = process.env.GOPATH || join(root, 'gopath');
  }
  return env;
}

/** The go command: $GO if set, else `go` on PATH, else Debian's /usr/lib/go/bin/go. */
export function goCommand(): string {
  if (process.env.GO) return process.env.GO;
  const onPath = (process.env.PATH ?? '').split(':').some((d) => d && existsSync(join(d, 'go')));
  if (!onPath && existsSync('/usr/lib/go/bin/go')) return '/usr/lib/go/bin/go';
  return 'go';
}

async function goFiles(dir: string, root: string, out: string[]): Promise<void> {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name.startsWith('.') || e.name === 'testdata') continue;
      await goFiles(p, root, out);
    } else if (e.isFile() && (e.name.endsWith('.go') || e.name === 'go.mod' || e.name === 'go.sum')) {
      out.push(relative(root, p).split(sep).join('/'));
    }
  }
}

/** Hash of every Go source (path and content), the Go version and the build flags. */
export async function hashSources(srcDir: string = demoSourceDir()): Promise<string> {
  const files: string[] = [];
  await goFiles(srcDir, srcDir, files);
  files.sort();
  const h = createHash('sha256');
  const { stdout: goVersion } = await execa(goCommand(), ['version'], { env: goEnv() });
  h.update(`go:${goVersion.trim()}\nflags:${BUILD_FLAGS.join(' ')}\n`);
  for (const f of files) {
    const data = await readFile(join(srcDir, f));
    h.update(`${f}\0${data.length}\0`);
    h.update(data);
  }
  return h.digest('hex').slice(0, 16);
}

function pathsIn(dir: string): Record<DemoProgram, string> {
  return {
    frontend: join(dir, 'frontend'),
    voting: join(dir, 'voting'),
    emoji: join(dir, 'emoji'),
    loadgen: join(dir, 'loadgen'),
  };
}

function complete(dir: string): boolean {
  return DEMO_PROGRAMS.every((p) => existsSync(join(dir, p)));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Takes an exclusive lock file (O_EXCL) so that parallel test workers build once; a lock
 * whose owner died, or older than 5 minutes, is broken. Returns the release function.
 */
async function lock(path: string, done: () => boolean): Promise<(() => Promise<void>) | null> {
  const deadline = Date.now() + 10 * 60_000;
  for (;;) {
    try {
      const fh = await open(path, 'wx');
      await fh.writeFile(String(process.pid));
      await fh.close();
      return async () => {
        await rm(path, { force: true });
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    if (done()) return null;
    try {
      const owner = Number((await readFile(path, 'utf8')).trim());
      const age = Date.now() - (await stat(path)).mtimeMs;
      if ((owner > 0 && !alive(owner)) || age > 5 * 60_000) await rm(path, { force: true });
    } catch {
      // The lock went away between the calls: try again.
    }
    if (Date.now() > deadline) throw new Error(`ctrace demo: timed out waiting for build lock ${path}`);
    await sleep(200);
  }
}

/** Removes cached builds beyond the newest KEEP_BUILDS (besides `keep`). */
async function prune(binRoot: string, keep: string): Promise<void> {
  const entries = await readdir(binRoot, { withFileTypes: true });
  const dirs: { name: string; mtime: number }[] = [];
  for (const e of entries) {
    if (!e.isDirectory() || e.name === keep) continue;
    const p = join(binRoot, e.name);
    const st = await stat(p).catch(() => null);
    if (!st) continue;
    // Leftover temp dirs of a crashed build: remove once they are clearly not in progress.
    if (e.name.startsWith('.tmp-')) {
      if (Date.now() - st.mtimeMs > 30 * 60_000) await rm(p, { recursive: true, force: true });
      continue;
    }
    dirs.push({ name: e.name, mtime: st.mtimeMs });
  }
  dirs.sort((a, b) => b.mtime - a.mtime);
  for (const d of dirs.slice(KEEP_BUILDS)) await rm(join(binRoot, d.name), { recursive: true, force: true });
}

/**
 * Builds the demo programs unless a build of the same sources is cached. Safe to call
 * from several processes at once: one builds, the others wait for it.
 */
export async function buildDemo(opts: BuildOptions = {}): Promise<DemoBinaries> {
  const t0 = Date.now();
  const log = opts.log ?? (() => {});
  const src = demoSourceDir();
  const hash = await hashSources(src);
  const binRoot = join(cacheDir(), 'bin');
  const dir = join(binRoot, hash);
  await mkdir(binRoot, { recursive: true });

  if (!opts.force && complete(dir)) {
    // Touch it so pruning by age keeps what is in use.
    const now = new Date();
    await utimes(dir, now, now).catch(() => {});
    return { dir, hash, paths: pathsIn(dir), built: false, ms: Date.now() - t0 };
  }

  const release = await lock(join(binRoot, `${hash}.lock`), () => !opts.force && complete(dir));
  if (!release) return { dir, hash, paths: pathsIn(dir), built: false, ms: Date.now() - t0 };
  try {
    if (!opts.force && complete(dir)) {
      return { dir, hash, paths: pathsIn(dir), built: false, ms: Date.now() - t0 };
    }
    log(`building demo services (${hash}) into ${dir}`);
    // Build into a private directory and rename it into place, so no reader ever sees a
    // half-written binary.
    const tmp = join(binRoot, `.tmp-${process.pid}-${Date.now().toString(36)}`);
    await mkdir(tmp, { recursive: true });
    try {
      const r = await execa(goCommand(), ['build', ...BUILD_FLAGS, '-o', tmp + '/', ...PACKAGES], {
        cwd: src,
        env: goEnv(),
        reject: false,
        timeout: 9 * 60_000,
        all: true,
      });
      if (r.exitCode !== 0 || r.failed) {
        throw new Error(`ctrace demo: go build failed${r.timedOut ? ' (timed out)' : ''}:\n${r.all ?? ''}`);
      }
      if (!complete(tmp)) throw new Error(`ctrace demo: go build did not produce ${DEMO_PROGRAMS.join(', ')}`);
      await rm(dir, { recursive: true, force: true });
      await rename(tmp, dir);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
    await prune(binRoot, hash).catch(() => {});
    return { dir, hash, paths: pathsIn(dir), built: true, ms: Date.now() - t0 };
  } finally {
    await release();
  }
}

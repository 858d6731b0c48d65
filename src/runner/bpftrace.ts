// Finding bpftrace and learning what it can do. Errors are values: callers print them.
//
// Search order: --bpftrace PATH, $TRACE_BPFTRACE, $TRACE_PREFIX/bin/bpftrace (default
// /opt/ctrace, where scripts/setup.sh unpacks 0.23), then `bpftrace` on PATH.

import { execFile } from 'node:child_process';
import { accessSync, closeSync, constants, existsSync, openSync, readSync, statSync } from 'node:fs';
import { release } from 'node:os';
import { delimiter, isAbsolute, join } from 'node:path';
import { featuresOf, parseInfo, parseVersion, type BpftraceFeatures, type BpftraceVersion } from './bpftrace-info.js';
import { bootId, cacheGet, cachePut, fileStamp } from './cache.js';

export type { BpftraceFeatures, BpftraceVersion } from './bpftrace-info.js';

export interface BpftraceInfo {
  readonly path: string;
  readonly version: BpftraceVersion;
  /** `--info` output as printed. */
  readonly text: string;
  readonly features: BpftraceFeatures;
}

export type FoundPath = { readonly ok: true; readonly path: string } | { readonly ok: false; readonly message: string };
export type FoundInfo = { readonly ok: true; readonly info: BpftraceInfo } | { readonly ok: false; readonly message: string };

export const NOT_FOUND = 'bpftrace was not found; run scripts/setup.sh or pass --bpftrace PATH';
export const DEFAULT_PREFIX = '/opt/ctrace';
/** The kernel's kprobe PMU: absent when the kernel lacks CONFIG_KPROBES, whatever --info says. */
export const KPROBE_PMU = '/sys/bus/event_source/devices/kprobe';

function isExecutable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

export interface FindOptions {
  /** --bpftrace PATH. */
  readonly explicit?: string;
  readonly env?: NodeJS.ProcessEnv;
}

/** Where bpftrace is, without running it. */
export function locateBpftrace(opts: FindOptions = {}): FoundPath {
  const env = opts.env ?? process.env;
  // A path the user named must be used or reported, never silently replaced by another bpftrace.
  for (const [given, from] of [
    [opts.explicit, '--bpftrace'],
    [env['TRACE_BPFTRACE'], 'TRACE_BPFTRACE'],
  ] as const) {
    if (given === undefined || given === '') continue;
    return isExecutable(given) ? { ok: true, path: given } : { ok: false, message: `bpftrace given by ${from} (${given}) is not an executable file` };
  }
  const prefixed = join(env['TRACE_PREFIX'] || DEFAULT_PREFIX, 'bin', 'bpftrace');
  if (isExecutable(prefixed)) return { ok: true, path: prefixed };
  for (const dir of (env['PATH'] ?? '').split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, 'bpftrace');
    if (isExecutable(p)) return { ok: true, path: p };
  }
  return { ok: false, message: NOT_FOUND };
}

function run(path: string, args: string[]): Promise<{ stdout: string; stderr: string; error: Error | null }> {
  return new Promise((resolve) => {
    execFile(path, args, { timeout: 15_000, maxBuffer: 4 * 1024 * 1024, env: { ...process.env, LC_ALL: 'C' } }, (error, stdout, stderr) =>
      resolve({ stdout: String(stdout), stderr: String(stderr), error }),
    );
  });
}

const memo = new Map<string, Promise<FoundInfo>>();

/**
 * Runs `bpftrace --info` once per path and modification time (both versions take ~70 ms), and
 * keeps its output in the on-disk cache (see cache.ts) for the next runs: keyed by the
 * executable (and, for a wrapper script, the files it names), the kernel and this boot.
 */
export function getBpftraceInfo(path: string, opts: { kprobePmu?: boolean; env?: NodeJS.ProcessEnv } = {}): Promise<FoundInfo> {
  let mtime = 0;
  try {
    mtime = statSync(path).mtimeMs;
  } catch {
    return Promise.resolve({ ok: false, message: `bpftrace at ${path} cannot be read` });
  }
  const id = `${path}\0${mtime}\0${opts.kprobePmu ?? ''}`;
  let p = memo.get(id);
  if (!p) {
    p = probeInfo(path, opts.kprobePmu ?? existsSync(KPROBE_PMU), opts.env ?? process.env);
    memo.set(id, p);
  }
  return p;
}

/**
 * The cache key of a bpftrace executable: its own identity and, when it is a wrapper script
 * (as scripts/setup.sh installs: `exec ld-linux ... "$P/usr/bin/bpftrace"`), the identity of
 * every existing file the script names by absolute path, after expanding its simple
 * `NAME="value"` assignments. Also the kernel (release and boot), which --info probes.
 * Null: the executable cannot be identified, so nothing is cached.
 */
export function infoCacheKey(path: string): string | null {
  const stamp = fileStamp(path);
  if (stamp === null) return null;
  const deps: string[] = [];
  try {
    const head = readHead(path, 64 * 1024);
    if (head.startsWith('#!')) {
      const vars = new Map<string, string>();
      const expand = (t: string) => t.replace(/\$\{?([A-Za-z_]\w*)\}?/g, (m, n: string) => vars.get(n) ?? m);
      for (const line of head.split('\n')) {
        const a = /^\s*([A-Za-z_]\w*)=(?:"([^"$`]*)"|'([^']*)'|([^\s"'$`;]*))\s*$/.exec(line);
        if (a) vars.set(a[1]!, a[2] ?? a[3] ?? a[4] ?? '');
        for (const m of expand(line).matchAll(/\/[^\s"'`:;|&<>()]+/g)) {
          if (deps.length >= 32 || !isAbsolute(m[0])) continue;
          const s = fileStamp(m[0]);
          if (s !== null) deps.push(`${m[0]}=${s}`);
        }
      }
    }
  } catch {
    return null;
  }
  return JSON.stringify({ bpftrace: path, stamp, deps, kernel: release(), boot: bootId() });
}

/** The first `max` bytes of a file (an executable may be tens of MB: never read it whole). */
function readHead(path: string, max: number): string {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(max);
    const n = readSync(fd, buf, 0, max, 0);
    return buf.subarray(0, n).toString('latin1');
  } finally {
    closeSync(fd);
  }
}

interface CachedInfo {
  readonly text: string;
  readonly version: BpftraceVersion;
}

function validCached(v: CachedInfo | undefined): v is CachedInfo {
  return !!v && typeof v.text === 'string' && !!v.version && [v.version.major, v.version.minor, v.version.patch].every((n) => Number.isInteger(n));
}

async function probeInfo(path: string, kprobePmu: boolean, env: NodeJS.ProcessEnv): Promise<FoundInfo> {
  const key = infoCacheKey(path);
  const cached = key !== null ? cacheGet<CachedInfo>('bpftrace-info', key, env) : undefined;
  if (validCached(cached)) {
    // The kprobe PMU is checked live: the cache holds only what bpftrace printed.
    return { ok: true, info: { path, version: cached.version, text: cached.text, features: featuresOf(parseInfo(cached.text), cached.version, kprobePmu) } };
  }
  const info = await run(path, ['--info']);
  // --info prints to stdout; keep stderr too in case a version moves it.
  const text = (info.stdout + '\n' + info.stderr)
    .split('\n')
    .filter((l) => !l.includes("couldn't set RLIMIT_MEMLOCK"))
    .join('\n')
    .trim();
  const parsed = parseInfo(text);
  let version = parsed.version;
  if (version === null) {
    const v = await run(path, ['--version']);
    version = parseVersion(v.stdout);
  }
  if (version === null) {
    const why = info.error ? `: ${info.error.message.split('\n')[0]}` : '';
    return { ok: false, message: `could not read the version of bpftrace at ${path}${why}` };
  }
  // Only a clean run is remembered; the key is re-read so a bpftrace replaced meanwhile is not.
  if (info.error === null && key !== null && infoCacheKey(path) === key) cachePut<CachedInfo>('bpftrace-info', key, { text, version }, env);
  return { ok: true, info: { path, version, text, features: featuresOf(parsed, version, kprobePmu) } };
}

/** Finds bpftrace and reads its version and features: the usual entry point. */
export async function findBpftrace(opts: FindOptions = {}): Promise<FoundInfo> {
  const found = locateBpftrace(opts);
  if (!found.ok) return found;
  return getBpftraceInfo(found.path, opts.env ? { env: opts.env } : {});
}

export function versionString(v: BpftraceVersion): string {
  return `${v.major}.${v.minor}.${v.patch}`;
}

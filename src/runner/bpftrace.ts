// Finding bpftrace and learning what it can do. Errors are values: callers print them.
//
// Search order: --bpftrace PATH, $TRACE_BPFTRACE, $TRACE_PREFIX/bin/bpftrace (default
// /opt/ctrace, where scripts/setup.sh unpacks 0.23), then `bpftrace` on PATH.

import { execFile } from 'node:child_process';
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { featuresOf, parseInfo, parseVersion, type BpftraceFeatures, type BpftraceVersion } from './bpftrace-info.js';

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

/** Runs `bpftrace --info` once per path and modification time (both versions take ~70 ms). */
export function getBpftraceInfo(path: string, opts: { kprobePmu?: boolean } = {}): Promise<FoundInfo> {
  let mtime = 0;
  try {
    mtime = statSync(path).mtimeMs;
  } catch {
    return Promise.resolve({ ok: false, message: `bpftrace at ${path} cannot be read` });
  }
  const id = `${path}\0${mtime}\0${opts.kprobePmu ?? ''}`;
  let p = memo.get(id);
  if (!p) {
    p = probeInfo(path, opts.kprobePmu ?? existsSync(KPROBE_PMU));
    memo.set(id, p);
  }
  return p;
}

async function probeInfo(path: string, kprobePmu: boolean): Promise<FoundInfo> {
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
  return { ok: true, info: { path, version, text, features: featuresOf(parsed, version, kprobePmu) } };
}

/** Finds bpftrace and reads its version and features: the usual entry point. */
export async function findBpftrace(opts: FindOptions = {}): Promise<FoundInfo> {
  const found = locateBpftrace(opts);
  if (!found.ok) return found;
  return getBpftraceInfo(found.path);
}

export function versionString(v: BpftraceVersion): string {
  return `${v.major}.${v.minor}.${v.patch}`;
}

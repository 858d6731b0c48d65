// A small on-disk cache for facts that are slow to learn and change only when a file changes:
// `bpftrace --info` (keyed by the bpftrace executable), a Go binary's facts (keyed by the
// binary) and parsed programs (keyed by their text and the parser's code, parse-cache.ts). Every entry stores its full key and is used only when the stored key equals the
// one asked for; anything unexpected (no directory, a foreign owner, a torn or corrupt file,
// a full disk) is a miss, never an error: the caller computes the value as if there were no
// cache.
//
// Where: $TRACE_CACHE_DIR if set (empty, "0" or "off": no cache), else /var/cache/ctrace for
// root, else $XDG_CACHE_HOME/ctrace (default ~/.cache/ctrace). The directory is created with
// mode 0700 and used only while it is owned by this user and writable by no one else, since
// what is read from it decides what program bpftrace runs.

import { createHash } from 'node:crypto';
import { closeSync, fstatSync, mkdirSync, openSync, readFileSync, readSync, renameSync, statSync, unlinkSync, writeFileSync, type BigIntStats } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** Bumped when an entry's layout changes, so older entries stop matching. */
const FORMAT = 1;

export function cacheDir(env: NodeJS.ProcessEnv = process.env): string | null {
  const given = env['TRACE_CACHE_DIR'];
  if (given !== undefined) return given === '' || given === '0' || given === 'off' ? null : given;
  if (typeof process.getuid === 'function' && process.getuid() === 0) return '/var/cache/ctrace';
  const base = env['XDG_CACHE_HOME'] || join(env['HOME'] || homedir(), '.cache');
  return join(base, 'ctrace');
}

const usable = new Map<string, boolean>();

/** The directory exists (created if needed), is ours and is writable by no one else. */
function dirUsable(dir: string, create: boolean): boolean {
  const known = usable.get(dir);
  if (known !== undefined) return known;
  let ok = false;
  try {
    let st;
    try {
      st = statSync(dir);
    } catch (e) {
      if (!create || (e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      st = statSync(dir);
    }
    const uid = typeof process.getuid === 'function' ? process.getuid() : st.uid;
    ok = st.isDirectory() && st.uid === uid && (st.mode & 0o022) === 0;
  } catch {
    ok = false;
  }
  // A miss is not remembered when we only looked: a later put may create the directory.
  if (ok || create) usable.set(dir, ok);
  return ok;
}

/** A file's identity and version: any change to its content changes ctime at least. */
export function fileStamp(path: string): string | null {
  try {
    const st: BigIntStats = statSync(path, { bigint: true });
    if (!st.isFile()) return null;
    return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
  } catch {
    return null;
  }
}

function entryPath(dir: string, kind: string, key: string): string {
  return join(dir, `${kind}-${createHash('sha256').update(key).digest('hex').slice(0, 32)}.json`);
}

interface Entry<T> {
  readonly format: number;
  readonly key: string;
  readonly value: T;
}

const MAX_ENTRY_BYTES = 8 * 1024 * 1024;

/** The value stored under exactly `key`, or undefined. */
export function cacheGet<T>(kind: string, key: string, env: NodeJS.ProcessEnv = process.env): T | undefined {
  const dir = cacheDir(env);
  if (dir === null || !dirUsable(dir, false)) return undefined;
  let fd: number | null = null;
  try {
    fd = openSync(entryPath(dir, kind, key), 'r');
    const st = fstatSync(fd);
    const uid = typeof process.getuid === 'function' ? process.getuid() : st.uid;
    if (!st.isFile() || st.uid !== uid || (st.mode & 0o022) !== 0 || st.size > MAX_ENTRY_BYTES) return undefined;
    const buf = Buffer.alloc(st.size);
    let off = 0;
    while (off < buf.length) {
      const n = readSync(fd, buf, off, buf.length - off, off);
      if (n <= 0) break;
      off += n;
    }
    const entry = JSON.parse(buf.subarray(0, off).toString('utf8')) as Entry<T>;
    if (entry === null || typeof entry !== 'object' || entry.format !== FORMAT || entry.key !== key) return undefined;
    return entry.value;
  } catch {
    return undefined;
  } finally {
    if (fd !== null) closeSync(fd);
  }
}

/** Stores `value` under `key`; silently does nothing when it cannot. */
export function cachePut<T>(kind: string, key: string, value: T, env: NodeJS.ProcessEnv = process.env): void {
  const dir = cacheDir(env);
  if (dir === null || !dirUsable(dir, true)) return;
  const file = entryPath(dir, kind, key);
  // Written aside and renamed into place: a reader sees the old entry or the new one, whole.
  const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  try {
    writeFileSync(tmp, JSON.stringify({ format: FORMAT, key, value } satisfies Entry<T>), { mode: 0o600, flag: 'wx' });
    renameSync(tmp, file);
  } catch {
    try {
      unlinkSync(tmp);
    } catch {
      // never written
    }
  }
}

/** This boot of the kernel: facts probed from the running kernel are valid until it changes. */
export function bootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return 'unknown';
  }
}

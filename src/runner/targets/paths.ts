// Paths inside a container's root, resolved the way the container itself would see them.
//
// Opening `/proc/PID/root/some/path` lets the kernel follow the container's symlinks, and
// an absolute symlink target is then taken from the HOST's root: a container whose /svc
// points at /usr/bin/bash would have us open the host's bash. So every component is
// resolved here, under `root`, with lstat + readlink: absolute targets restart at the
// container's root, `..` stops at it, and at most 40 links are followed (the kernel's
// limit). The result names only real directories and a final non-symlink, so it cannot
// leave the root (short of the container swapping a directory for a symlink between this
// check and the open: openat2(RESOLVE_IN_ROOT) would close that window, and node has no
// binding for it).

import { lstatSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { basename } from 'node:path';

export const MAX_SYMLINKS = 40;

export type InRootResult =
  | { ok: true; hostPath: string; /** The path as the container sees it, symlinks resolved. */ containerPath: string }
  | { ok: false; message: string };

function errCode(e: unknown): string {
  return (e as NodeJS.ErrnoException | undefined)?.code ?? 'EIO';
}

function components(p: string): string[] {
  return p.split('/').filter((c) => c.length > 0);
}

/**
 * Resolves `path` (absolute in the container; a relative one is taken from its root)
 * under `root` (normally `/proc/PID/root`). The host path returned always starts with
 * `root` and names the container's own file; when that file does not exist, or resolving
 * it would need more than 40 symlinks, the answer is a refusal in one sentence.
 */
export function resolveInRoot(root: string, path: string): InRootResult {
  if (path.length === 0) return { ok: false, message: 'an empty path cannot be resolved in the container' };
  if (path.includes('\0')) return { ok: false, message: `the path ${JSON.stringify(path)} contains a NUL character` };
  const base = root.replace(/\/+$/, ''); // '' for '/'
  const hostOf = (parts: string[]) => (parts.length === 0 ? base || '/' : `${base}/${parts.join('/')}`);
  const containerOf = (parts: string[]) => '/' + parts.join('/');

  const done: string[] = []; // resolved components: each a real (non-symlink) entry
  let todo = components(path);
  let links = 0;
  while (todo.length > 0) {
    const c = todo[0]!;
    todo = todo.slice(1);
    if (c === '.') continue;
    if (c === '..') {
      done.pop(); // clamped at the root: popping [] is a no-op
      continue;
    }
    const candidate = [...done, c];
    const host = hostOf(candidate);
    let st;
    try {
      st = lstatSync(host);
    } catch (e) {
      const code = errCode(e);
      const where = containerOf(candidate);
      const asked = path.startsWith('/') ? path : '/' + path;
      const via = where === asked || links === 0 ? '' : ` (${asked} leads there)`;
      if (code === 'ENOENT') return { ok: false, message: `${where} does not exist in the container${via}` };
      if (code === 'ENOTDIR') return { ok: false, message: `${containerOf(done)} is not a directory in the container${via}` };
      if (code === 'EACCES' || code === 'EPERM') return { ok: false, message: `permission denied reading ${where} in the container (${host})` };
      return { ok: false, message: `cannot read ${where} in the container (${code})` };
    }
    if (st.isSymbolicLink()) {
      if (++links > MAX_SYMLINKS) {
        return { ok: false, message: `${path} needs more than ${MAX_SYMLINKS} symbolic links to resolve in the container (a loop?)` };
      }
      let target: string;
      try {
        target = readlinkSync(host);
      } catch (e) {
        return { ok: false, message: `cannot read the symbolic link ${containerOf(candidate)} in the container (${errCode(e)})` };
      }
      if (target.length === 0) return { ok: false, message: `${containerOf(candidate)} is an empty symbolic link in the container` };
      // Absolute: from the container's root, never the host's. Relative: from the link's directory.
      if (target.startsWith('/')) done.length = 0;
      todo = [...components(target), ...todo];
      continue;
    }
    if (todo.length > 0 && !st.isDirectory()) {
      // Only matters if a real component follows (a trailing '.' or '..' still needs a directory).
      return { ok: false, message: `${containerOf(candidate)} is not a directory in the container` };
    }
    done.push(c);
  }
  return { ok: true, hostPath: hostOf(done), containerPath: containerOf(done) };
}

/**
 * Shared objects and executables mapped by a process: basename -> host path under
 * /proc/PID/root (resolved inside the root), for the pid provider's module names
 * (`pid$target:libc.so.6:malloc:entry`). Mappings of deleted files, and files that do not
 * resolve inside the root, are left out; on a basename clash the first mapping wins.
 */
export function moduleMap(hostPid: number): Record<string, string> {
  const out: Record<string, string> = {};
  let maps: string;
  try {
    maps = readFileSync(`/proc/${hostPid}/maps`, 'utf8');
  } catch {
    return out;
  }
  const root = `/proc/${hostPid}/root`;
  const seen = new Set<string>();
  for (const line of maps.split('\n')) {
    // address perms offset dev inode pathname
    const m = /^[0-9a-f]+-[0-9a-f]+\s+(\S{4})\s+[0-9a-f]+\s+\S+\s+(\d+)\s+(\/.*)$/.exec(line);
    if (!m) continue;
    const [, perms, inode, file] = m as unknown as [string, string, string, string];
    if (inode === '0' || file.endsWith(' (deleted)') || seen.has(file)) continue;
    // Only executable mappings make a module; a library's other segments repeat the path.
    if (perms[2] !== 'x') continue;
    seen.add(file);
    const name = basename(file);
    if (name in out) continue;
    const r = resolveInRoot(root, file);
    if (!r.ok) continue;
    try {
      if (!statSync(r.hostPath).isFile()) continue;
    } catch {
      continue;
    }
    out[name] = r.hostPath;
  }
  return out;
}

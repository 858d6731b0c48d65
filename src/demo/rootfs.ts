// Minimal root file systems for the demo containers. There is no registry to pull images
// from, so each service runs from a directory (`podman run --rootfs DIR`) holding only
// its static binary at /app/<name> and the few files a process expects in /etc.
//
// Containers of one service share the directory, hence the binary's inode, as containers
// of one image share it through overlayfs: a uprobe on it fires in all of them, which is
// what the tracer's per-container filter must cope with.

import { existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cacheDir, type DemoBinaries, type DemoService } from './build.js';

/** Written last: a directory without it is incomplete and is rebuilt. */
const MARKER = '.ctrace-rootfs';

const PASSWD = 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n';
const GROUP = 'root:x:0:\nnogroup:x:65534:\n';
// podman bind-mounts its own /etc/hosts and /etc/resolv.conf over these; they are here so
// the tree is also usable as a plain chroot or with `podman import`.
const HOSTS = '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n';
// Go's pure resolver reads this; "files" first so localhost never needs DNS.
const NSSWITCH = 'hosts: files dns\n';

export interface RootfsOptions {
  /** Where to make it (default: a directory in the demo cache named after binary and key). */
  dir?: string;
  /** Cache key, typically the build hash: a rootfs is reused while the key is unchanged. */
  key?: string;
}

/**
 * Makes (or reuses) a root file system holding `binary` as /app/<name>. Returns its path.
 * Built beside its final place and renamed into it, so concurrent callers never see a
 * partial tree.
 */
export async function makeRootfs(name: string, binary: string, opts: RootfsOptions = {}): Promise<string> {
  if (!/^[a-z0-9][a-z0-9_.-]*$/i.test(name)) throw new Error(`ctrace demo: bad program name ${JSON.stringify(name)}`);
  const root = join(cacheDir(), 'rootfs');
  const dir = opts.dir ?? join(root, `${name}-${opts.key ?? 'current'}`);
  if (opts.key && existsSync(join(dir, MARKER))) return dir;

  const parent = opts.dir ? join(opts.dir, '..') : root;
  await mkdir(parent, { recursive: true });
  const tmp = `${dir}.tmp-${process.pid}-${Date.now().toString(36)}`;
  try {
    for (const d of ['app', 'etc', 'tmp', 'proc', 'sys', 'dev', 'run']) await mkdir(join(tmp, d), { recursive: true });
    await chmod(join(tmp, 'tmp'), 0o1777);
    // A copy, not a link: like an image layer, the container's binary is its own file.
    await copyFile(binary, join(tmp, 'app', name));
    await chmod(join(tmp, 'app', name), 0o755);
    await writeFile(join(tmp, 'etc', 'passwd'), PASSWD);
    await writeFile(join(tmp, 'etc', 'group'), GROUP);
    await writeFile(join(tmp, 'etc', 'hosts'), HOSTS);
    await writeFile(join(tmp, 'etc', 'nsswitch.conf'), NSSWITCH);
    await writeFile(join(tmp, MARKER), `${name} ${opts.key ?? ''}\n`);
    if (existsSync(join(dir, MARKER)) && opts.key) return dir; // another process won the race
    await rm(dir, { recursive: true, force: true });
    await rename(tmp, dir).catch(async (e: NodeJS.ErrnoException) => {
      // Lost a race to a concurrent caller with the same key: theirs is as good.
      if (!(opts.key && existsSync(join(dir, MARKER)))) throw e;
    });
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return dir;
}

/** The rootfs of one demo service for a given build, under the demo cache. */
export async function demoRootfs(bins: DemoBinaries, service: DemoService): Promise<string> {
  return makeRootfs(service, bins.paths[service], { key: bins.hash });
}

/** Removes rootfs directories of builds other than `keepHash` that are older than `minAgeMs`. */
export async function pruneRootfs(keepHash: string, minAgeMs = 60 * 60_000): Promise<void> {
  const root = join(cacheDir(), 'rootfs');
  if (!existsSync(root)) return;
  for (const e of await readdir(root, { withFileTypes: true })) {
    if (!e.isDirectory() || e.name.endsWith(`-${keepHash}`)) continue;
    const p = join(root, e.name);
    const st = await stat(p).catch(() => null);
    if (st && Date.now() - st.mtimeMs > minAgeMs) await rm(p, { recursive: true, force: true });
  }
}

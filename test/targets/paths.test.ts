// resolveInRoot on a fake container root: symlinks are followed inside the root only.

import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_SYMLINKS, moduleMap, resolveInRoot } from '../../src/runner/targets/paths.js';

let base: string;
let root: string;
let outside: string;

function inside(hostPath: string): boolean {
  // Textually and physically (after the kernel resolves it) under the root.
  const real = realpathSync(hostPath);
  const realRoot = realpathSync(root);
  return (hostPath === root || hostPath.startsWith(root + '/')) && (real === realRoot || real.startsWith(realRoot + '/'));
}

function ok(path: string): string {
  const r = resolveInRoot(root, path);
  if (!r.ok) throw new Error(`expected ${path} to resolve, got: ${r.message}`);
  expect(inside(r.hostPath)).toBe(true);
  return r.hostPath;
}

function refused(path: string): string {
  const r = resolveInRoot(root, path);
  if (r.ok) throw new Error(`expected ${path} to be refused, got ${r.hostPath}`);
  expect(r.message).not.toMatch(/\n/);
  return r.message;
}

beforeAll(() => {
  base = mkdtempSync(join(tmpdir(), 'ctrace-paths-'));
  root = join(base, 'root');
  outside = join(base, 'outside');
  mkdirSync(outside);
  writeFileSync(join(outside, 'secret'), 'host secret\n');
  for (const d of ['usr/bin', 'usr/lib', 'app', 'etc', 'deep/a/b/c']) mkdirSync(join(root, d), { recursive: true });
  writeFileSync(join(root, 'usr/bin/bash'), 'container bash\n');
  writeFileSync(join(root, 'usr/lib/libc.so.6'), 'container libc\n');
  writeFileSync(join(root, 'app/frontend'), 'binary\n');
  writeFileSync(join(root, 'etc/passwd'), 'container passwd\n');
  // Absolute and relative symlinks, as images have them.
  symlinkSync('/usr/bin/bash', join(root, 'svc'));
  symlinkSync('usr/bin/bash', join(root, 'rel'));
  symlinkSync('usr/bin', join(root, 'bin'));
  symlinkSync('/usr/lib', join(root, 'lib'));
  symlinkSync('../lib/libc.so.6', join(root, 'usr/bin/libc-link'));
  // Escape attempts.
  symlinkSync('../../../../../../../../etc/passwd', join(root, 'app/up-escape'));
  symlinkSync(join(outside, 'secret'), join(root, 'abs-escape')); // host path that exists on the host
  symlinkSync('/etc/shadow', join(root, 'shadow')); // exists on the host, not in the container
  symlinkSync('/etc/hostname', join(root, 'hostname')); // ditto
  symlinkSync('..', join(root, 'app/parent'));
  symlinkSync('/', join(root, 'app/slash'));
  symlinkSync('../../..', join(root, 'deep/a/b/c/up3'));
  // Loops and chains.
  symlinkSync('loop-b', join(root, 'loop-a'));
  symlinkSync('loop-a', join(root, 'loop-b'));
  symlinkSync('self', join(root, 'self'));
  for (let i = 0; i < MAX_SYMLINKS + 2; i++) symlinkSync(`chain${i + 1}`, join(root, `chain${i}`));
  writeFileSync(join(root, `chain${MAX_SYMLINKS + 2}`), 'end of chain\n');
  for (let i = 0; i < 10; i++) symlinkSync(`short${i + 1}`, join(root, `short${i}`));
  writeFileSync(join(root, 'short10'), 'end\n');
});

afterAll(() => {
  rmSync(base, { recursive: true, force: true });
});

describe('resolveInRoot', () => {
  it('resolves plain paths to the root plus the path', () => {
    expect(ok('/app/frontend')).toBe(join(root, 'app/frontend'));
    expect(ok('app/frontend')).toBe(join(root, 'app/frontend'));
    expect(ok('//app///frontend')).toBe(join(root, 'app/frontend'));
    expect(ok('/app/./frontend')).toBe(join(root, 'app/frontend'));
    expect(ok('/')).toBe(root);
    expect(ok('/app/')).toBe(join(root, 'app'));
  });

  it('accepts a root given with a trailing slash', () => {
    const r = resolveInRoot(root + '/', '/app/frontend');
    expect(r.ok && r.hostPath).toBe(join(root, 'app/frontend'));
  });

  it('takes an absolute symlink target from the container root, not the host root', () => {
    expect(ok('/svc')).toBe(join(root, 'usr/bin/bash'));
    const r = resolveInRoot(root, '/svc');
    expect(r.ok && r.containerPath).toBe('/usr/bin/bash');
    expect(ok('/lib/libc.so.6')).toBe(join(root, 'usr/lib/libc.so.6'));
  });

  it('follows relative symlinks from the link directory', () => {
    expect(ok('/rel')).toBe(join(root, 'usr/bin/bash'));
    expect(ok('/bin/bash')).toBe(join(root, 'usr/bin/bash'));
    expect(ok('/bin/libc-link')).toBe(join(root, 'usr/lib/libc.so.6'));
    expect(ok('/short0')).toBe(join(root, 'short10'));
  });

  it('clamps .. at the container root', () => {
    expect(ok('/../../../etc/passwd')).toBe(join(root, 'etc/passwd'));
    expect(ok('/app/../../../../etc/passwd')).toBe(join(root, 'etc/passwd'));
    expect(ok('/app/up-escape')).toBe(join(root, 'etc/passwd'));
    expect(ok('/app/parent/etc/passwd')).toBe(join(root, 'etc/passwd'));
    expect(ok('/app/slash/etc/passwd')).toBe(join(root, 'etc/passwd'));
    expect(ok('/deep/a/b/c/up3/../../../etc/passwd')).toBe(join(root, 'etc/passwd'));
    expect(ok('/..')).toBe(root);
  });

  it('never resolves to a host file an absolute symlink names', () => {
    // The host file exists; the container has none at that path: refused, not followed.
    expect(refused('/abs-escape')).toMatch(/does not exist in the container/);
    expect(refused('/shadow')).toMatch(/\/etc\/shadow does not exist in the container/);
    expect(refused('/hostname')).toMatch(/does not exist in the container/);
  });

  it('refuses symlink loops and chains longer than the limit', () => {
    expect(refused('/loop-a')).toMatch(/more than 40 symbolic links/);
    expect(refused('/self')).toMatch(/more than 40 symbolic links/);
    expect(refused('/self/x')).toMatch(/more than 40 symbolic links/);
    expect(refused('/chain0')).toMatch(/more than 40 symbolic links/);
    // Exactly at the limit is fine (chain2 -> ... -> chain42 is 40 links).
    expect(ok('/chain2')).toBe(join(root, `chain${MAX_SYMLINKS + 2}`));
  });

  it('refuses missing files with a clear sentence', () => {
    expect(refused('/app/nope')).toBe('/app/nope does not exist in the container');
    expect(refused('/nope/deeper/still')).toBe('/nope does not exist in the container');
    expect(refused('/svc-missing')).toMatch(/does not exist/);
  });

  it('refuses a file used as a directory', () => {
    expect(refused('/app/frontend/x')).toMatch(/is not a directory/);
    expect(refused('/svc/x')).toMatch(/is not a directory/);
    expect(refused('/app/frontend/..')).toMatch(/is not a directory/);
  });

  it('refuses empty paths and NUL bytes', () => {
    expect(refused('')).toMatch(/empty path/);
    expect(refused('/app/front\0end')).toMatch(/NUL/);
  });

  it('every path built from escape pieces stays inside the root', () => {
    const pieces = ['..', '.', 'app', 'up-escape', 'parent', 'slash', 'svc', 'bin', 'lib', 'abs-escape', 'shadow', 'etc', 'passwd', 'loop-a', 'deep', 'a', 'b', 'c', 'up3'];
    let seed = 12345;
    const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) % pieces.length;
    for (let n = 0; n < 2000; n++) {
      const len = 1 + (n % 7);
      const p = '/' + Array.from({ length: len }, () => pieces[rand()]).join('/');
      const r = resolveInRoot(root, p);
      if (r.ok) expect(inside(r.hostPath), p).toBe(true);
      else expect(r.message.length, p).toBeGreaterThan(0);
    }
  });
});

describe('resolveInRoot on a live process root', () => {
  it('resolves under /proc/self/root', () => {
    const r = resolveInRoot(`/proc/${process.pid}/root`, process.execPath);
    expect(r.ok && r.hostPath.startsWith(`/proc/${process.pid}/root/`)).toBe(true);
  });
});

describe('moduleMap', () => {
  it('maps shared-object basenames of a process to host paths under its root', () => {
    const m = moduleMap(process.pid);
    const libc = Object.keys(m).find((k) => /^libc\.so/.test(k));
    expect(libc).toBeDefined();
    expect(m[libc!]).toMatch(new RegExp(`^/proc/${process.pid}/root/.*libc\\.so`));
    // The executable is a module too.
    expect(Object.values(m).some((p) => p.endsWith(realpathSync(process.execPath)))).toBe(true);
  });

  it('is empty for a process that does not exist', () => {
    expect(moduleMap(0x3fffff)).toEqual({});
  });
});

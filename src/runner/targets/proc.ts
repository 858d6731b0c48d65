// What /proc says about a process: namespaces, in-namespace PID, cgroup, executable,
// and the other processes of its container. Read-only; needs root (or ptrace rights over
// the process) for ns/, root/ and exe.

import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { resolveInRoot } from './paths.js';
import type { ResolvedTarget, TargetRuntime } from './types.js';

export type ProcFailure = { ok: false; reason: 'gone' | 'denied' | 'other'; message: string };

function code(e: unknown): string {
  return (e as NodeJS.ErrnoException | undefined)?.code ?? 'EIO';
}

function failure(pid: number, e: unknown, what: string): ProcFailure {
  const c = code(e);
  if (c === 'ENOENT' || c === 'ESRCH') return { ok: false, reason: 'gone', message: `process ${pid} exited` };
  if (c === 'EACCES' || c === 'EPERM') {
    return { ok: false, reason: 'denied', message: `permission denied reading ${what} of PID ${pid}: resolving a target needs root with ptrace rights over it` };
  }
  return { ok: false, reason: 'other', message: `cannot read ${what} of PID ${pid} (${c})` };
}

/** Inode of /proc/PID/ns/KIND (readlink gives "mnt:[4026532177]"). Throws like readlink. */
export function nsInode(pid: number | 'self', kind: 'mnt' | 'pid' | 'cgroup'): number {
  const link = readlinkSync(`/proc/${pid}/ns/${kind}`);
  const m = /\[(\d+)\]$/.exec(link);
  if (!m) throw Object.assign(new Error(`unexpected ns link ${link}`), { code: 'EINVAL' });
  return Number(m[1]);
}

export function nsInodeOrNull(pid: number | 'self', kind: 'mnt' | 'pid'): number | null {
  try {
    return nsInode(pid, kind);
  } catch {
    return null;
  }
}

/** The NSpid: line of /proc/PID/status: host PID first, innermost namespace last. */
export function parseNsPid(status: string): number[] {
  const m = /^NSpid:\s*(.*)$/m.exec(status);
  if (!m) {
    // Kernels before 4.1 have no NSpid: the process is then only known by its own PID.
    const p = /^Pid:\s*(\d+)/m.exec(status);
    return p ? [Number(p[1])] : [];
  }
  return m[1]!.trim().split(/\s+/).map(Number).filter((n) => Number.isInteger(n));
}

/** Start time (clock ticks since boot, field 22 of /proc/PID/stat) and state letter, or null if gone. */
export function procStat(pid: number): { start: string; state: string } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name is in parentheses and may hold spaces or parentheses.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: rest[0] ?? '?', start: rest[19] ?? '0' };
  } catch {
    return null;
  }
}

/** Clock ticks per second of /proc/PID/stat's times: USER_HZ, 100 in Linux's ABI on every architecture we run on. */
const USER_HZ = 100;

/** How long ago a process started (from its start time in clock ticks), in ms; null when /proc/uptime cannot be read. */
export function startedAgoMs(startTicks: number): number | null {
  try {
    const up = Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
    return Number.isFinite(up) ? Math.max(0, Math.round(up * 1000 - (startTicks * 1000) / USER_HZ)) : null;
  } catch {
    return null;
  }
}

export function procComm(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

export interface CgroupLine {
  hierarchy: string;
  /** Controllers of a v1 hierarchy (['pids'], ['name=systemd']); [] for the v2 line. */
  controllers: string[];
  path: string;
}

export function parseCgroupFile(text: string): CgroupLine[] {
  const out: CgroupLine[] = [];
  for (const line of text.split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line.trim());
    if (!m) continue;
    out.push({ hierarchy: m[1]!, controllers: m[2] ? m[2].split(',') : [], path: m[3]! });
  }
  return out;
}

/** The line to show: the v2 one if it says anything, else the v1 pids/memory/systemd one. */
export function pickCgroup(lines: CgroupLine[]): CgroupLine | undefined {
  const v2 = lines.find((l) => l.hierarchy === '0' && l.controllers.length === 0);
  if (v2 && v2.path !== '/') return v2;
  for (const want of ['pids', 'memory', 'name=systemd', 'cpu']) {
    const l = lines.find((x) => x.controllers.includes(want));
    if (l && l.path !== '/') return l;
  }
  return v2 ?? lines[0];
}

interface CgroupMount {
  /** [] for cgroup2. */
  controllers: string[];
  mountPoint: string;
  /** Root of the hierarchy shown at the mount point. */
  root: string;
}

function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

export function cgroupMounts(): CgroupMount[] {
  let text: string;
  try {
    text = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  const out: CgroupMount[] = [];
  for (const line of text.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const pre = line.slice(0, sep).split(' ');
    const post = line.slice(sep + 3).split(' ');
    const fstype = post[0];
    if (fstype !== 'cgroup' && fstype !== 'cgroup2') continue;
    const root = unescapeMount(pre[3] ?? '/');
    const mountPoint = unescapeMount(pre[4] ?? '');
    const superOpts = (post[2] ?? '').split(',');
    const controllers =
      fstype === 'cgroup2'
        ? []
        : superOpts.filter((o) => o.startsWith('name=') || !['rw', 'ro', 'relatime', 'noexec', 'nosuid', 'nodev', 'xattr'].includes(o));
    out.push({ controllers, mountPoint, root });
  }
  return out;
}

/** Host directory of a cgroup line, if its hierarchy is mounted here. */
function cgroupDir(line: CgroupLine, mounts: CgroupMount[]): string | null {
  const v2 = line.hierarchy === '0' && line.controllers.length === 0;
  for (const m of mounts) {
    const match = v2 ? m.controllers.length === 0 : m.controllers.length > 0 && line.controllers.every((c) => m.controllers.includes(c));
    if (!match) continue;
    const rel = m.root === '/' ? line.path : line.path.startsWith(m.root + '/') ? line.path.slice(m.root.length) : null;
    if (rel === null) continue;
    return join(m.mountPoint, rel);
  }
  return null;
}

function readProcsRecursive(dir: string, out: Set<number>, depth = 0): boolean {
  let text: string;
  try {
    text = readFileSync(join(dir, 'cgroup.procs'), 'utf8');
  } catch {
    return false;
  }
  for (const s of text.split('\n')) {
    const n = Number(s);
    if (s && Number.isInteger(n) && n > 0) out.add(n);
  }
  if (depth < 16) {
    try {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        if (e.isDirectory()) readProcsRecursive(join(dir, e.name), out, depth + 1);
      }
    } catch {
      // a sub-cgroup vanished: fine
    }
  }
  return true;
}

/** All process ids in /proc whose namespace of `kind` has inode `ino`. */
export function pidsInNamespace(kind: 'mnt' | 'pid', ino: number): number[] {
  const out: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return out;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    const pid = Number(e);
    if (nsInodeOrNull(pid, kind) === ino) out.push(pid);
  }
  return out;
}

/**
 * Host PIDs of the container whose main process is `pid`: its cgroup's members (and
 * sub-cgroups') when it has a cgroup of its own; else the processes sharing its PID
 * namespace, or its mount namespace, when those are not the host's; else just `pid`.
 */
export function containerPids(pid: number, lines: CgroupLine[], pidns: number, mntns: number): number[] {
  const set = new Set<number>();
  const hostLines = (() => {
    try {
      return parseCgroupFile(readFileSync('/proc/1/cgroup', 'utf8'));
    } catch {
      return [];
    }
  })();
  const selfLines = (() => {
    try {
      return parseCgroupFile(readFileSync('/proc/self/cgroup', 'utf8'));
    } catch {
      return [];
    }
  })();
  const shared = (l: CgroupLine) =>
    l.path === '/' ||
    hostLines.some((h) => h.hierarchy === l.hierarchy && h.path === l.path) ||
    selfLines.some((h) => h.hierarchy === l.hierarchy && h.path === l.path);
  const mounts = cgroupMounts();
  const order = [
    lines.find((l) => l.hierarchy === '0' && l.controllers.length === 0),
    ...['pids', 'memory', 'name=systemd', 'cpu'].map((c) => lines.find((l) => l.controllers.includes(c))),
  ];
  for (const l of order) {
    if (!l || shared(l)) continue;
    const dir = cgroupDir(l, mounts);
    if (dir && readProcsRecursive(dir, set) && set.has(pid)) break;
    set.clear();
  }
  if (set.size === 0) {
    // The host's namespaces: init's, or ours when init's are out of reach.
    const hostNs = (kind: 'mnt' | 'pid') => nsInodeOrNull(1, kind) ?? nsInodeOrNull('self', kind);
    if (pidns !== hostNs('pid')) for (const p of pidsInNamespace('pid', pidns)) set.add(p);
    else if (mntns !== hostNs('mnt')) for (const p of pidsInNamespace('mnt', mntns)) set.add(p);
  }
  set.add(pid);
  return [...set].sort((a, b) => a - b);
}

export interface Identity {
  runtime: TargetRuntime;
  id: string;
  name: string;
  labels: Record<string, string>;
}

/**
 * Builds a ResolvedTarget from the live process `pid`. `allPids`: collect the container's
 * other processes (false for -p, which traces one process).
 */
export function describeProcess(pid: number, who: Identity, allPids: boolean): { ok: true; target: ResolvedTarget } | ProcFailure {
  let mntns: number;
  let pidns: number;
  try {
    mntns = nsInode(pid, 'mnt');
    pidns = nsInode(pid, 'pid');
  } catch (e) {
    return failure(pid, e, 'the namespaces');
  }
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch (e) {
    return failure(pid, e, 'the status');
  }
  const nsPids = parseNsPid(status);
  let lines: CgroupLine[] = [];
  try {
    lines = parseCgroupFile(readFileSync(`/proc/${pid}/cgroup`, 'utf8'));
  } catch (e) {
    if (code(e) === 'ENOENT') return failure(pid, e, 'the cgroup');
  }
  const root = `/proc/${pid}/root`;
  let exe = '';
  let exeHost = '';
  let exeProblem: string | undefined;
  try {
    exe = readlinkSync(`/proc/${pid}/exe`);
  } catch (e) {
    const c = code(e);
    if (c === 'EACCES' || c === 'EPERM') return failure(pid, e, 'the executable');
    // Kernel threads have no executable; a zombie has lost it.
    if (!procStat(pid) || procStat(pid)?.state === 'Z') return { ok: false, reason: 'gone', message: `process ${pid} exited` };
    exeProblem = `PID ${pid} has no executable (a kernel thread?)`;
  }
  if (exe.endsWith(' (deleted)')) {
    exe = exe.slice(0, -' (deleted)'.length);
    exeProblem = `the executable ${exe} of PID ${pid} was deleted or replaced after the process started, so probes on it would not reach the running code`;
  } else if (exe) {
    const r = resolveInRoot(root, exe);
    if (!r.ok) {
      exeProblem = `the executable of PID ${pid} cannot be opened inside its root: ${r.message}`;
    } else {
      // The very file the process runs? (Same device and inode, through the same mount.)
      try {
        const a = statSync(`/proc/${pid}/exe`);
        const b = statSync(r.hostPath);
        if (a.dev === b.dev && a.ino === b.ino) exeHost = r.hostPath;
        else exeProblem = `${exe} in the container is no longer the file PID ${pid} runs (replaced after it started)`;
      } catch (e) {
        const f = failure(pid, e, 'the executable');
        if (f.reason === 'gone' && !procStat(pid)) return f;
        exeProblem = f.message;
      }
    }
  }
  const picked = pickCgroup(lines);
  const st = procStat(pid);
  if (!st || st.state === 'Z') return { ok: false, reason: 'gone', message: `process ${pid} exited` };
  const target: ResolvedTarget = {
    runtime: who.runtime,
    id: who.id,
    name: who.name,
    hostPid: pid,
    startTime: Number(st.start),
    pids: allPids ? containerPids(pid, lines, pidns, mntns) : [pid],
    root,
    exe,
    exeHost,
    ...(exeProblem ? { exeProblem } : {}),
    mntns,
    pidns,
    pidnsLevel: Math.max(0, nsPids.length - 1),
    nspid: nsPids[nsPids.length - 1] ?? pid,
    cgroup: picked ? (picked.controllers.length ? `${picked.controllers.join(',')}:${picked.path}` : picked.path) : '',
    labels: { ...who.labels },
  };
  return { ok: true, target };
}

// -p PID: one process, by its host PID. Same fields as a container target (runtime 'pid',
// id String(pid), name its comm, no labels); `pids` is the process alone.

import { existsSync, readFileSync } from 'node:fs';
import { describeProcess, procComm, procStat } from './proc.js';
import type { ResolvedTarget } from './types.js';

export function isValidPid(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n > 0 && n <= 4_194_304;
}

export function resolvePid(pid: number): { ok: true; target: ResolvedTarget } | { ok: false; message: string } {
  if (!isValidPid(pid)) return { ok: false, message: `${String(pid)} is not a valid PID` };
  const st = procStat(pid);
  if (!existsSync(`/proc/${pid}`) || !st) return { ok: false, message: `no process with PID ${pid}` };
  if (st.state === 'Z') return { ok: false, message: `process ${pid} has exited (it is a zombie waiting for its parent)` };
  // /proc/TID exists for every thread too, though readdir does not list it.
  let tgid = pid;
  try {
    tgid = Number(/^Tgid:\s*(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? pid);
  } catch {
    return { ok: false, message: `no process with PID ${pid}` };
  }
  if (tgid !== pid) return { ok: false, message: `${pid} is a thread of process ${tgid}, not a process: use -p ${tgid}` };
  const r = describeProcess(pid, { runtime: 'pid', id: String(pid), name: procComm(pid), labels: {} }, false);
  if (!r.ok) return { ok: false, message: r.reason === 'gone' ? `no process with PID ${pid}` : r.message };
  return r;
}

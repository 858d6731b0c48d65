// Who owns a test resource (a container, a test host, a containerd instance): pid-starttime of
// the test process that made it, so a later run can tell its own from a dead run's leftovers,
// whatever other test runs share the machine.

import { readFileSync } from 'node:fs';

/** Start time of a process (field 22 of /proc/PID/stat), or null if it is gone. */
export function startTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may hold spaces.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

/** pid-starttime of a process (default this one): survives PID reuse, unlike a bare PID. */
export function ownerId(pid = process.pid): string {
  return `${pid}-${startTime(pid) ?? '0'}`;
}

/** Whether the process an ownerId names still runs. */
export function ownerAlive(owner: string | undefined): boolean {
  const m = /^(\d+)-(\d+)$/.exec((owner ?? '').trim());
  return !!m && startTime(Number(m[1])) === m[2];
}

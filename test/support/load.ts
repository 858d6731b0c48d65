// Load for reliability tests and benchmarks: a child in a tight system-call loop, so a
// tracepoint fires as often as the machine allows (or at a bounded rate), filtered by its PID.

import { spawn, type ChildProcess } from 'node:child_process';

export interface SyscallLoop {
  /** PID of the looping process (perl itself: no shell in between). */
  readonly pid: number;
  readonly child: ChildProcess;
  stop(): void;
}

/**
 * getppid() in a loop (x86_64 syscall 110, through perl's syscall(), which no libc caches):
 * `perBatch` calls, then `sleepMs` of sleep, forever; sleepMs 0 is as fast as it goes (about
 * 700k calls/s on one core here). Stop it with stop() (SIGKILL).
 */
export function syscallLoop(opts: { perBatch?: number; sleepMs?: number } = {}): SyscallLoop {
  const perBatch = Math.max(1, Math.floor(opts.perBatch ?? 1000));
  const sleepS = Math.max(0, opts.sleepMs ?? 0) / 1000;
  const code = `$SIG{PIPE} = sub { exit 0 }; while (1) { syscall(110) for 1..${perBatch}; ${sleepS > 0 ? `select(undef, undef, undef, ${sleepS});` : ''} }`;
  const child = spawn('perl', ['-e', code], { stdio: ['pipe', 'ignore', 'ignore'] });
  if (child.pid === undefined) throw new Error('could not start perl');
  return {
    pid: child.pid,
    child,
    stop: () => {
      try {
        child.kill('SIGKILL');
      } catch {
        // gone
      }
    },
  };
}

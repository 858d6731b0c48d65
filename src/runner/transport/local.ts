// The helper on this machine, for a CLI that is not root: the installed wrapper
// (HELPER_COMMAND) re-executes itself through `sudo -n`, so sudoers and the ctrace policy
// decide what this user may trace.

import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { HELPER_COMMAND, type HelperProcess, type Transport } from './types.js';

export function localTransport(command: string = HELPER_COMMAND, env: NodeJS.ProcessEnv = process.env): Transport {
  const running = new Set<HelperProcess>();
  return {
    label: 'local',
    async start() {
      try {
        accessSync(command, constants.X_OK);
      } catch {
        return { ok: false, message: `tracing needs root: run trace as root, or have an administrator install the helper (sudo trace helper install) so that trace can start it through sudo` };
      }
      const child = spawn(command, [], { stdio: ['pipe', 'pipe', 'pipe'], env });
      const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => {
        child.on('error', () => resolve({ code: null, signal: null }));
        child.on('close', (code, signal) => resolve({ code, signal }));
      });
      child.stdin.on('error', () => {}); // EPIPE when the helper is gone: its exit says why
      const proc: HelperProcess = {
        stdin: child.stdin,
        stdout: child.stdout,
        stderr: child.stderr,
        exited,
        kill() {
          child.stdin.destroy();
          // The helper runs as root: we cannot signal it, but its stdin closing ends it.
        },
      };
      running.add(proc);
      void exited.then(() => running.delete(proc));
      return { ok: true, proc };
    },
    close() {
      for (const p of running) p.kill();
    },
  };
}

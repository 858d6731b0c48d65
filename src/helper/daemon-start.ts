// Starts the persistent helper (daemon.ts) when its socket does not answer: detached, in its
// own session, so that it outlives the SSH session that started it.

import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { HELPER_SOCKET } from '../runner/transport/types.js';

/** Resolves true when something accepts a connection on `path`. */
export function socketAnswers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

/** The environment without the starting session's SSH_* variables: the daemon belongs to no session. */
function sessionless(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([k]) => !k.startsWith('SSH_')));
}

export function ensureDaemon(env: NodeJS.ProcessEnv, socket = HELPER_SOCKET): void {
  void socketAnswers(socket).then((up) => {
    if (up) return;
    try {
      const child = spawn(process.execPath, [fileURLToPath(new URL('./daemon.js', import.meta.url))], { detached: true, stdio: 'ignore', cwd: '/', env: sessionless(env) });
      child.on('error', () => {});
      child.unref();
    } catch {
      // the exec'd helper still serves this run; the next one tries again
    }
  });
}

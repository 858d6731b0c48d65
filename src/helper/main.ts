// The privileged helper's entry point (installed as /usr/local/bin/ctrace-helper, which runs
// `node .../dist/helper/main.js`, through `sudo -n` for a caller who is not root).
// No arguments: one JSON request line on stdin, NDJSON on stdout (see protocol.ts).
// A root login over SSH that came this way found no persistent helper (daemon.ts) on its
// socket: one is started for the next runs.

import { hostname } from 'node:os';
import { callerOf } from './caller.js';
import { converse, helperVersion } from './connection.js';
import { ensureDaemon } from './daemon-start.js';
import type { Message } from './protocol.js';

function main(): Promise<number> {
  const send = (m: Message) => {
    process.stdout.write(JSON.stringify(m) + '\n');
  };
  if (process.getuid?.() !== 0) {
    send({ t: 'error', message: 'the ctrace helper must run as root: install it with `trace helper install` and let the CLI start it through sudo -n', exitCode: 1 });
    return Promise.resolve(1);
  }
  const { caller, via } = callerOf(process.env);
  const c = converse(process.stdin, { caller, via, hostname: hostname(), version: helperVersion(), env: process.env, send });
  // The caller went away (stdin closed, SSH channel dropped, our output unreadable): kill now.
  process.stdout.on('error', c.close);
  for (const sig of ['SIGHUP', 'SIGTERM', 'SIGPIPE'] as const) process.on(sig, c.close);
  process.on('SIGINT', c.stop);
  if (caller.uid === 0 && process.env.SSH_CLIENT) ensureDaemon(process.env);
  return c.done;
}

main().then(
  (code) => {
    // Let stdout drain before exiting; stdin stays open otherwise and would keep us alive.
    process.stdout.write('', () => process.exit(code));
  },
  (e: unknown) => {
    process.stdout.write(JSON.stringify({ t: 'error', message: `helper internal error: ${(e as Error).message}`, exitCode: 1 }) + '\n', () => process.exit(1));
  },
);

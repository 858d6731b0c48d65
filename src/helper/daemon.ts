// The persistent helper: one long-lived root process per host, serving each connection to
// HELPER_SOCKET as the exec'd helper (main.ts) serves its stdin. A fleet attach then costs a
// host no shell, no node start and no module loading: the CLI opens an SSH stream-forwarding
// channel to the socket (OpenSSH's direct-streamlocal), which sshd connects as the login user.
// The socket's directory is root's alone (0700), so whoever connects is root: the caller is
// root, and the policy and audit apply as to any run. Everyone else comes through the exec'd
// helper and sudo, as before. The connection closing (the CLI quit or was killed, the SSH
// session dropped) kills that connection's bpftrace at once.
//
// Started by `trace helper install` (which restarts it with the new code) or by the exec'd
// helper when a root login finds the socket silent. One instance: a second one that finds the
// socket answering exits. SIGTERM: stop listening (which removes the socket), let running
// traces end, then exit.

import { chmodSync, chownSync, mkdirSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import { DAEMON_PID_FILE, HELPER_SOCKET } from '../runner/transport/types.js';
import { converse, helperVersion } from './connection.js';
import { socketAnswers } from './daemon-start.js';
import { ROOT } from './policy.js';
import type { Message } from './protocol.js';

function inodeOf(path: string): number | null {
  try {
    return statSync(path).ino;
  } catch {
    return null;
  }
}

function serveSocket(sock: Socket, version: string): void {
  let open = true;
  const send = (m: Message) => {
    if (open) sock.write(JSON.stringify(m) + '\n');
  };
  const c = converse(sock, { caller: ROOT, via: 'root socket', hostname: hostname(), version, env: process.env, send });
  sock.on('error', () => {
    open = false;
    c.close();
  });
  sock.on('close', () => {
    open = false;
    c.close();
  });
  void c.done
    .catch((e: unknown) => (send({ t: 'error', message: `helper internal error: ${(e as Error).message}`, exitCode: 1 }), 1))
    // No exit status crosses a socket: the code is the last line.
    .then((code) => {
      send({ t: 'done', code });
      sock.end();
    });
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) {
    process.stderr.write('the persistent ctrace helper must run as root\n');
    process.exit(1);
  }
  if (await socketAnswers(HELPER_SOCKET)) process.exit(0); // already running
  const dir = dirname(HELPER_SOCKET);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chownSync(dir, 0, 0);
  chmodSync(dir, 0o700);
  try {
    unlinkSync(HELPER_SOCKET); // a dead daemon's
  } catch {
    // none
  }
  const version = helperVersion();
  let active = 0;
  let stopping = false;
  const server = createServer({ allowHalfOpen: true }, (sock) => {
    active++;
    // Counted until closed, so that an exit when stopping loses no last line.
    sock.on('close', () => {
      if (--active === 0 && stopping) process.exit(0);
    });
    serveSocket(sock, version);
  });
  server.on('error', (e) => {
    process.stderr.write(`ctrace helper: cannot listen on ${HELPER_SOCKET}: ${e.message}\n`);
    process.exit(1);
  });
  server.listen(HELPER_SOCKET, () => {
    chmodSync(HELPER_SOCKET, 0o600);
    writeFileSync(DAEMON_PID_FILE, `${process.pid}\n`, { mode: 0o644 });
    // Two started at once: the later one took the path, so this one can no longer be
    // reached; it ends once idle (exiting, not closing: closing would unlink the other's socket).
    const ino = statSync(HELPER_SOCKET).ino;
    setInterval(() => {
      if (inodeOf(HELPER_SOCKET) === ino) return;
      stopping = true;
      if (active === 0) process.exit(0);
    }, 30_000).unref();
  });
  process.on('SIGTERM', () => {
    stopping = true;
    server.close();
    if (active === 0) process.exit(0);
  });
  for (const sig of ['SIGHUP', 'SIGINT', 'SIGPIPE'] as const) process.on(sig, () => {});
}

void main();

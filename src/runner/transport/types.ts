// How the CLI reaches a helper: in this process's machine (spawned, through sudo when not
// root) or on another host over SSH. Only fixed argv crosses a transport; every user string
// (program, container names, arguments) travels inside the JSON request on the helper's stdin.

import type { Readable, Writable } from 'node:stream';

/** A started helper process, wherever it runs. */
export interface HelperProcess {
  readonly stdin: Writable;
  readonly stdout: Readable;
  readonly stderr: Readable;
  /** Settles when the process ends or its channel closes (code null: killed, or the connection dropped). */
  readonly exited: Promise<{ code: number | null; signal: string | null }>;
  /** Abrupt end: closes stdin and the process or channel. The helper kills bpftrace when its stdin closes. */
  kill(): void;
}

export interface Transport {
  /** What the user calls this host: "local", or the --host spec / ssh config alias. */
  readonly label: string;
  /** Starts one helper (one request per helper process). */
  start(): Promise<{ ok: true; proc: HelperProcess } | { ok: false; message: string }>;
  /** Ends the connection (SSH) and any helper still running on it. */
  close(): void;
}

/** Where `trace helper install` puts the helper; the CLI runs HELPER_COMMAND on every host. */
export const HELPER_COMMAND = '/usr/local/bin/ctrace-helper';
export const HELPER_LIB_DIR = '/usr/local/lib/ctrace/helper';
export const SUDOERS_FILE = '/etc/sudoers.d/ctrace';
/**
 * The persistent helper's socket (src/helper/daemon.ts), in a directory only root may enter:
 * a root login reaches it through SSH stream forwarding, with no shell and no process start.
 */
export const HELPER_SOCKET = '/run/ctrace/helper.sock';
/** Beside the socket: the persistent helper's PID, for `trace helper install` to restart it. */
export const DAEMON_PID_FILE = '/run/ctrace/helper.pid';

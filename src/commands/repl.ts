// `trace repl [-c NAME | -p PID] [-H HOST]...`: the interactive session (src/repl/). As root on
// this machine it runs in this process; with -H, or as another user, through the helpers.

import type { RuntimeChoice } from '../runner/targets/index.js';
import { HelperSession } from '../repl/helper-run.js';
import { runRepl } from '../repl/repl.js';
import { fail, type Streams } from './output.js';
import { helperTransports, needsLocalHelper, type RemoteOptions } from './run.js';

export interface ReplCommandOptions {
  readonly container?: string;
  readonly pid?: string;
  readonly runtime: RuntimeChoice;
  readonly bpftrace?: string;
  readonly hostPids: boolean;
  readonly destructive: boolean;
  readonly hosts?: readonly string[];
  readonly ssh?: RemoteOptions;
}

export async function replCommand(o: ReplCommandOptions, io: Streams, stdin: NodeJS.ReadableStream & { isTTY?: boolean } = process.stdin): Promise<number> {
  if (o.container !== undefined && o.pid !== undefined) {
    fail(io, 'give -c NAME or -p PID, not both (:target switches later)');
    return 2;
  }
  if (o.pid !== undefined && !/^\d+$/.test(o.pid)) {
    fail(io, `bad --pid '${o.pid}': give a process id`);
    return 2;
  }
  const target = { container: o.container ?? null, pid: o.pid !== undefined ? Number(o.pid) : null, runtime: o.runtime };
  let helpers: HelperSession | undefined;
  if (o.hosts?.length || needsLocalHelper()) {
    const transports = await helperTransports({ targets: { containers: target.container !== null ? [target.container] : [], labels: [], pids: target.pid !== null ? [target.pid] : [], runtime: o.runtime, hostPids: o.hostPids }, ...(o.bpftrace !== undefined ? { bpftrace: o.bpftrace } : {}), ...(o.hosts ? { hosts: o.hosts } : {}), ...(o.ssh ? { ssh: o.ssh } : {}) }, io);
    if (!Array.isArray(transports)) return transports.exitCode;
    helpers = new HelperSession(transports, o.hostPids, o.destructive);
  }
  return runRepl(
    { target, hostPids: o.hostPids, destructive: o.destructive, ...(o.bpftrace !== undefined ? { bpftrace: o.bpftrace } : {}), ...(helpers ? { helpers } : {}) },
    { ...io, stdin },
  );
}

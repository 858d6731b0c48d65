// `trace repl [-c NAME|-l KEY=VALUE|-p PID]... [-H HOST]...`: the interactive session
// (src/repl/). As root on this machine it runs in this process; with -H, or as another user,
// through the helpers.

import { selectorProblem, type RuntimeChoice } from '../runner/targets/index.js';
import { HelperSession } from '../repl/helper-run.js';
import { runRepl } from '../repl/repl.js';
import { fail, type Streams } from './output.js';
import { helperTransports, needsLocalHelper, type RemoteOptions } from './run.js';

export interface ReplCommandOptions {
  readonly container: readonly string[];
  readonly label: readonly string[];
  readonly pid: readonly string[];
  readonly runtime: RuntimeChoice;
  readonly bpftrace?: string;
  readonly hostPids: boolean;
  readonly destructive: boolean;
  readonly hosts?: readonly string[];
  readonly ssh?: RemoteOptions;
}

export async function replCommand(o: ReplCommandOptions, io: Streams, stdin: NodeJS.ReadableStream & { isTTY?: boolean } = process.stdin): Promise<number> {
  const badPid = o.pid.find((p) => !/^\d+$/.test(p));
  if (badPid !== undefined) {
    fail(io, `bad --pid '${badPid}': give a process id`);
    return 2;
  }
  const target = { containers: o.container, labels: o.label, pids: o.pid.map(Number), runtime: o.runtime };
  const problem = selectorProblem(target);
  if (problem !== null) {
    fail(io, problem);
    return 2;
  }
  let helpers: HelperSession | undefined;
  if (o.hosts?.length || needsLocalHelper()) {
    const transports = await helperTransports({ ...(o.bpftrace !== undefined ? { bpftrace: o.bpftrace } : {}), ...(o.hosts ? { hosts: o.hosts } : {}), ...(o.ssh ? { ssh: o.ssh } : {}) }, io);
    if (!Array.isArray(transports)) return transports.exitCode;
    helpers = new HelperSession(transports, o.hostPids, o.destructive);
  }
  return runRepl(
    { target, hostPids: o.hostPids, destructive: o.destructive, ...(o.bpftrace !== undefined ? { bpftrace: o.bpftrace } : {}), ...(helpers ? { helpers } : {}) },
    { ...io, stdin },
  );
}

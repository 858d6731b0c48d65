// `trace repl [-c NAME | -p PID]`: the interactive session (src/repl/).

import type { RuntimeChoice } from '../runner/targets/index.js';
import { runRepl } from '../repl/repl.js';
import { fail, type Streams } from './output.js';

export interface ReplCommandOptions {
  readonly container?: string;
  readonly pid?: string;
  readonly runtime: RuntimeChoice;
  readonly bpftrace?: string;
  readonly hostPids: boolean;
  readonly destructive: boolean;
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
  return runRepl(
    { target, hostPids: o.hostPids, destructive: o.destructive, ...(o.bpftrace !== undefined ? { bpftrace: o.bpftrace } : {}) },
    { ...io, stdin },
  );
}

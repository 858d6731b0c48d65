// `trace list [-c NAME | -p PID] [PATTERN]`: the probes that can be named, one per line as a
// program would name them (uprobe:main.handle, usdt:python:gc__start,
// tracepoint:sched:sched_switch), or a JSON array with -o json.
//
// Deliberately imports nothing from the compiler (or run.ts), so listing starts fast.

import { listProbes, type ListedProbe } from '../runner/listing.js';
import { resolveTargets, selectorProblem, type RuntimeChoice } from '../runner/targets/index.js';
import { fail, type Streams } from './output.js';

/** Same shape as run.ts's TargetRequest (its `hostPids` is not needed here). */
export interface ListTargets {
  readonly containers: readonly string[];
  readonly labels: readonly string[];
  readonly pids: readonly number[];
  readonly runtime: RuntimeChoice;
}

export interface ListOptions {
  readonly pattern?: string;
  readonly output?: 'table' | 'json';
  readonly targets?: ListTargets;
}

export async function listCommand(opts: ListOptions, io: Streams): Promise<number> {
  let exeHost: string | undefined;
  let hostPid: number | undefined;
  const t = opts.targets;
  if (t && t.containers.length + t.labels.length + t.pids.length > 0) {
    // A name no runtime should see is a command-line error (exit 2), as for a run.
    const problem = selectorProblem(t);
    if (problem !== null) {
      fail(io, problem);
      return 2;
    }
    const resolved = await resolveTargets({ containers: [...t.containers], labels: [...t.labels], pids: [...t.pids], runtime: t.runtime }, { env: io.env });
    if (!resolved.ok) {
      fail(io, resolved.message);
      return 1;
    }
    // The first target is the main one, as for a run ($target, the implicit binary).
    const main = resolved.targets[0]!;
    if (!main.exeHost) {
      fail(io, main.exeProblem ?? `the executable of ${main.runtime === 'pid' ? `PID ${main.hostPid}` : `container '${main.name}'`} cannot be opened`);
      return 1;
    }
    exeHost = main.exeHost;
    hostPid = main.hostPid;
  }

  const listing = await listProbes({
    ...(exeHost !== undefined ? { exeHost } : {}),
    ...(hostPid !== undefined ? { hostPid } : {}),
    ...(opts.pattern !== undefined ? { pattern: opts.pattern } : {}),
  });
  for (const n of listing.notes) fail(io, n);

  if (opts.output === 'json') {
    io.stdout.write(JSON.stringify(listing.probes.map(jsonOf)) + '\n');
  } else {
    // One write: a listing of thousands of tracepoints should not be thousands of writes.
    if (listing.probes.length) io.stdout.write(listing.probes.map((p) => p.probe).join('\n') + '\n');
  }
  if (listing.probes.length === 0) {
    if (listing.notes.length === 0) fail(io, opts.pattern ? `no probes match '${opts.pattern}'` : 'no probes found');
    return 1;
  }
  return 0;
}

function jsonOf(p: ListedProbe): Record<string, string> {
  return { probe: p.probe, kind: p.kind, name: p.name, ...(p.binary !== undefined ? { binary: p.binary } : {}) };
}

// `trace list [-c NAME | -p PID] [PATTERN]`: the probes that can be named, one per line as a
// program would name them (uprobe:main.handle, usdt:python:gc__start,
// tracepoint:sched:sched_switch), or a JSON array with -o json.
//
// Deliberately imports nothing from the compiler (or run.ts), so listing starts fast. With
// -H, the host's helper lists (under its policy) and the SSH code is loaded only then.

import { listProbes, type ListedProbe, type ProbeListing } from '../runner/listing.js';
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
  /** -H: list on this SSH host, through its helper. */
  readonly host?: string;
  readonly acceptNew?: boolean;
}

export async function listCommand(opts: ListOptions, io: Streams): Promise<number> {
  const t = opts.targets;
  // A name no runtime should see is a command-line error (exit 2), as for a run.
  const problem = t ? selectorProblem(t) : null;
  if (problem !== null) {
    fail(io, problem);
    return 2;
  }
  const got = opts.host !== undefined ? await remoteListing(opts.host, opts, io) : await localListing(opts, io);
  if (typeof got === 'number') return got;
  return printListing(got, opts, io);
}

/** The host's helper lists: its targets, its binaries, its policy. An exit code when it cannot. */
async function remoteListing(host: string, opts: ListOptions, io: Streams): Promise<ProbeListing | number> {
  const { resolveTarget, sshTransport } = await import('../runner/transport/ssh.js');
  const spec = resolveTarget(host, { env: io.env });
  if (!spec.ok) {
    fail(io, spec.message);
    return 2;
  }
  const conn = await sshTransport(host, { acceptNew: opts.acceptNew === true, env: io.env });
  if (!conn.ok) {
    fail(io, conn.message);
    return 1;
  }
  try {
    const { ask } = await import('../runner/helper-client.js');
    const t = opts.targets;
    const r = await ask(conn.transport, { v: 1, op: 'list', ...(opts.pattern !== undefined ? { pattern: opts.pattern } : {}), ...(t ? { targets: { ...t, hostPids: false } } : {}) });
    if (!r.ok) {
      fail(io, r.message);
      return r.exitCode;
    }
    const m = r.messages.find((x) => x.t === 'probes');
    if (!m || m.t !== 'probes') {
      fail(io, `the helper on ${host} sent no listing`);
      return 1;
    }
    return { probes: [...m.probes], notes: [...m.notes] };
  } finally {
    conn.transport.close();
  }
}

async function localListing(opts: ListOptions, io: Streams): Promise<ProbeListing | number> {
  let exeHost: string | undefined;
  let hostPid: number | undefined;
  const t = opts.targets;
  if (t && t.containers.length + t.labels.length + t.pids.length > 0) {
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

  return listProbes({
    ...(exeHost !== undefined ? { exeHost } : {}),
    ...(hostPid !== undefined ? { hostPid } : {}),
    ...(opts.pattern !== undefined ? { pattern: opts.pattern } : {}),
  });
}

function printListing(listing: ProbeListing, opts: ListOptions, io: Streams): number {
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

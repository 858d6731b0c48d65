// The helper's wire protocol, version 1. The CLI writes one JSON request line on the helper's
// stdin, then keeps stdin open: later lines are controls (`{"op":"stop"}`), and stdin closing
// means "kill everything now". The helper answers with NDJSON on stdout, one Message per line.
//
// Over the persistent helper's socket (daemon.ts) the same lines flow, the input ending means
// the same, and a last `done` line carries the exit code that the exec'd helper exits with.
//
// A run request carries the program's source, not bpftrace text: the helper compiles it
// itself, so the container filter a policy relies on is added where the privilege is.

import type { CompiledProgram } from '../compiler/program.js';
import type { Diagnostic } from '../lang/diagnostics.js';
import type { BpftraceInfo } from '../runner/bpftrace.js';
import type { ListedProbe } from '../runner/listing.js';
import type { TargetRequest } from '../runner/request.js';

export const PROTOCOL_VERSION = 1;

export interface RunRequest {
  readonly v: 1;
  readonly op: 'run';
  readonly program: { readonly name: string; readonly text: string };
  readonly args: readonly string[];
  readonly targets?: TargetRequest;
  readonly intervalMs: number | null;
  readonly quiet: boolean;
  readonly destructive: boolean;
  /** Compile only: answer with `compiled` (or diagnostics) and end. */
  readonly emitOnly?: boolean;
  /** The `host` builtin's value (the CLI's name for this host); default the helper's hostname. */
  readonly host?: string;
  /**
   * --follow: a traced container that stops is waited for and traced again (runner/follow.ts),
   * each new bpftrace announced by a `compiled` message after a `detach` of the one it replaces.
   */
  readonly follow?: boolean;
}

export type Request =
  | { readonly v: 1; readonly op: 'hello' }
  | { readonly v: 1; readonly op: 'resolve'; readonly targets: TargetRequest }
  | { readonly v: 1; readonly op: 'list'; readonly pattern?: string; readonly targets?: TargetRequest }
  | RunRequest;

export type Control = { readonly op: 'stop' };

export interface TargetSummary {
  readonly runtime: string;
  readonly id: string;
  readonly name: string;
  readonly hostPid: number;
}

export type Message =
  | { readonly t: 'hello'; readonly v: number; readonly version: string; readonly hostname: string; readonly caller: string; readonly bpftrace: string | null }
  /** The request cannot be served: one sentence. `refused`: the policy said no. */
  | { readonly t: 'error'; readonly message: string; readonly exitCode: number; readonly refused?: boolean }
  /** Compiler diagnostics; spans index the request's program text. */
  | { readonly t: 'diagnostics'; readonly diagnostics: readonly Diagnostic[] }
  | { readonly t: 'targets'; readonly targets: readonly TargetSummary[] }
  | { readonly t: 'probes'; readonly probes: readonly ListedProbe[]; readonly notes: readonly string[] }
  /** The program about to run (or, with emitOnly, the answer). `follow`: the helper follows restarts as asked (older ones do not say). */
  | { readonly t: 'compiled'; readonly program: CompiledProgram; readonly bpftrace: BpftraceInfo | null; readonly follow?: boolean }
  /** --follow: the running bpftrace is being replaced; what it prints from now on is its last (its maps). */
  | { readonly t: 'detach' }
  /** --follow: a detach or reattach, as a local run prints it with -o json (one JSON line). */
  | { readonly t: 'event'; readonly line: string }
  | { readonly t: 'out'; readonly line: string }
  | { readonly t: 'err'; readonly line: string }
  /** Something the user should read, e.g. a traced container stopped. */
  | { readonly t: 'notice'; readonly message: string }
  /** bpftrace ended (`failed`: it never ran). The last message of a run. */
  | { readonly t: 'exit'; readonly code: number | null; readonly signal: string | null; readonly overlong?: number; readonly failed?: string }
  /** The persistent helper's last line on a socket connection, where no exit status crosses: the request's exit code. */
  | { readonly t: 'done'; readonly code: number };

const OPS = new Set(['hello', 'resolve', 'list', 'run']);

/** Checks a request's shape; a string says what is wrong (one sentence). */
export function parseRequest(line: string): Request | string {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return 'the request is not JSON';
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'the request is not a JSON object';
  const r = v as Record<string, unknown>;
  if (r.v !== PROTOCOL_VERSION) return `protocol version ${JSON.stringify(r.v)} is not supported (this helper speaks ${PROTOCOL_VERSION}); install the same ctrace version on both sides`;
  if (typeof r.op !== 'string' || !OPS.has(r.op)) return `unknown request ${JSON.stringify(r.op)}`;
  const targetsOk = (t: unknown): boolean => {
    if (t === undefined) return true;
    if (typeof t !== 'object' || t === null) return false;
    const x = t as Record<string, unknown>;
    const strings = (a: unknown) => Array.isArray(a) && a.every((s) => typeof s === 'string');
    return strings(x.containers) && strings(x.labels) && Array.isArray(x.pids) && x.pids.every((p) => Number.isInteger(p) && (p as number) > 0) && typeof x.runtime === 'string' && ['auto', 'podman', 'docker', 'containerd'].includes(x.runtime) && typeof x.hostPids === 'boolean';
  };
  if (!targetsOk(r.targets)) return 'the request has malformed targets';
  if (r.op === 'resolve' && r.targets === undefined) return 'a resolve request needs targets';
  if (r.op === 'list' && r.pattern !== undefined && typeof r.pattern !== 'string') return 'the list pattern must be a string';
  if (r.op === 'run') {
    const p = r.program as Record<string, unknown> | undefined;
    if (typeof p !== 'object' || p === null || typeof p.name !== 'string' || typeof p.text !== 'string') return 'a run request needs a program {name, text}';
    if (!Array.isArray(r.args) || !r.args.every((a) => typeof a === 'string')) return 'the run request\'s args must be strings';
    if (!(r.intervalMs === null || (typeof r.intervalMs === 'number' && r.intervalMs > 0))) return 'intervalMs must be null or a positive number';
    if (typeof r.quiet !== 'boolean' || typeof r.destructive !== 'boolean') return 'quiet and destructive must be booleans';
    if (r.host !== undefined && typeof r.host !== 'string') return 'host must be a string';
    if (r.follow !== undefined && typeof r.follow !== 'boolean') return 'follow must be a boolean';
  }
  return r as unknown as Request;
}

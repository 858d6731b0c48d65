// `trace [options] PROGRAM|FILE [args...]`: compile a program and run it, or emit it.
//
// Cold start, in order: bpftrace is started first, reading its program from stdin (it loads
// its libraries and the kernel's BTF meanwhile); `bpftrace --info` and the container runtimes
// (other processes) are asked; the program is parsed (from the cache, parse-cache.ts, when it
// was parsed before, without loading the parser), compiled and given to bpftrace; only then is
// the session (decoder, renderers) loaded, while bpftrace compiles and attaches.

import { readFileSync } from 'node:fs';
import { mapPosition } from '../compiler/emitter.js';
import { selectorProblem, watchTargets, type ResolvedTarget } from '../runner/targets/index.js';
import { Codes, error, hasErrors, type Diagnostic } from '../lang/diagnostics.js';
import { COMMAND_LINE, Source } from '../lang/source.js';
import { findBpftrace, locateBpftrace, type BpftraceInfo } from '../runner/bpftrace.js';
import { startEarly, type EarlyBpftrace } from '../runner/bpftrace-process.js';
import { parseCached } from '../runner/parse-cache.js';
import { resolveRequest, type TargetRequest } from '../runner/request.js';
import type { RunResult } from '../runner/session.js';
import type { Transport } from '../runner/transport/types.js';
import type { CompiledProgram } from '../compiler/program.js';
import type { KubeRequest } from '../runner/targets/kube.js';
import { fail, printDiagnostics, type Streams } from './output.js';
import { mark, timed } from '../runner/timing.js';

export type { TargetRequest } from '../runner/request.js';

/** The modules a run needs beyond this one's, loaded once (see the note at the top). */
const loadCompiler = () => import('../helper/prepare.js');
const loadSession = () => import('../runner/session.js');

export interface RunOptions {
  /** Program text given with -e, or undefined to take it from the first positional. */
  readonly expr?: string;
  readonly positionals: readonly string[];
  readonly output: 'table' | 'json';
  readonly intervalMs: number | null;
  readonly durationMs: number | null;
  readonly emit: boolean;
  readonly bpftrace?: string;
  readonly quiet: boolean;
  readonly destructive: boolean;
  readonly targets?: TargetRequest;
  /** --host specs (and --hosts file lines): run through the helper on each, over SSH. */
  readonly hosts?: readonly string[];
  readonly ssh?: RemoteOptions;
  /** Kubernetes pods: the run goes to their nodes' helpers, each with its own containers. */
  readonly kube?: KubeRequest;
  /** --follow: keep tracing a container that restarts (see runner/follow.ts). */
  readonly follow?: boolean;
}

/** How to reach --host hosts. */
export interface RemoteOptions {
  readonly acceptNew: boolean;
  /** Default: the ssh config's ConnectTimeout, else 10 s. */
  readonly connectTimeoutMs?: number;
}

export interface LoadedProgram {
  readonly source: Source;
  readonly args: readonly string[];
}

/** Picks the program: -e text, a file (exists, or ends in .d), or a one-liner. */
export function loadProgram(opts: { expr?: string; positionals: readonly string[] }): LoadedProgram | { error: string } {
  if (opts.expr !== undefined) return { source: new Source(COMMAND_LINE, opts.expr), args: opts.positionals };
  const [first, ...rest] = opts.positionals;
  if (first === undefined) return { error: 'no program given: trace [options] PROGRAM, or trace FILE.d (see trace --help)' };
  const looksLikeFile = /\.d$/.test(first) && !/[{<]/.test(first);
  if (looksLikeFile) {
    try {
      return { source: new Source(first, readFileSync(first, 'utf8')), args: rest };
    } catch (e) {
      return { error: `cannot read ${first}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}` };
    }
  }
  return { source: new Source(COMMAND_LINE, first), args: rest };
}

/** A program compiled against its targets, ready to run. */
export interface Prepared {
  readonly source: Source;
  readonly compiled: CompiledProgram;
  /** Null only when emitting without a bpftrace (compiled against reference facts). */
  readonly bpftrace: BpftraceInfo | null;
  readonly targets: readonly ResolvedTarget[];
  /** Compiles the same program for other targets (--follow, after a restart); an exit code when it cannot (it printed why). */
  readonly recompile: (targets: readonly ResolvedTarget[]) => Promise<CompiledProgram | { exitCode: number }>;
}

/** Loads, resolves targets, gathers facts and compiles; prints diagnostics. An exit code when it cannot. */
export async function prepareRun(opts: RunOptions, io: Streams): Promise<Prepared | { exitCode: number }> {
  const loaded = loadProgram(opts);
  if ('error' in loaded) {
    fail(io, loaded.error);
    return { exitCode: 2 };
  }
  const { source, args } = loaded;

  // A name no runtime should see is a command-line error, refused before anything runs.
  const problem = opts.targets ? selectorProblem(opts.targets) : null;
  // bpftrace --info and the container runtimes are other processes: they run while this one
  // parses (and while they both run). Their results are values, never rejections; the catch
  // only keeps an early return (a syntax error) from leaving a rejection unhandled.
  const foundP = timed('bpftrace --info', () => findBpftrace({ explicit: opts.bpftrace, env: io.env }));
  const resolvedP = problem === null ? timed('targets resolved', () => resolveRequest(opts.targets, io.env)) : null;
  foundP.catch(() => undefined);
  resolvedP?.catch(() => undefined);
  const compilerP = loadCompiler();
  compilerP.catch(() => undefined);

  const parsed = await parseCached(source, io.env);
  mark('parsed');
  if (hasErrors(parsed.diagnostics)) {
    printDiagnostics(parsed.diagnostics, source, io);
    return { exitCode: 2 };
  }
  if (resolvedP === null) {
    fail(io, problem!); // resolvedP is null exactly when there is a problem
    return { exitCode: 2 };
  }

  const found = await foundP;
  if (!found.ok && !opts.emit) {
    fail(io, found.message);
    return { exitCode: 1 };
  }
  const resolved = await resolvedP;
  if (!resolved.ok) {
    fail(io, resolved.message);
    return { exitCode: 1 };
  }
  const { compileFor } = await compilerP;
  const compile = (targets: readonly ResolvedTarget[]) => compileFor({
    source,
    program: parsed.program,
    parseDiagnostics: parsed.diagnostics,
    args,
    targets,
    hostPids: opts.targets?.hostPids ?? false,
    intervalMs: opts.intervalMs,
    quiet: opts.quiet,
    destructive: opts.destructive,
    bpftrace: found.ok ? found.info : null,
  });
  const compiled = await timed('compiled', () => compile(resolved.targets));
  printDiagnostics(compiled.diagnostics, source, io);
  if (!compiled.ok) {
    if (compiled.message !== undefined) fail(io, compiled.message);
    return { exitCode: compiled.message !== undefined ? 1 : 2 };
  }
  // Warnings were shown for the first compilation; a later one shows only why it failed.
  const recompile = async (targets: readonly ResolvedTarget[]) => {
    const again = await compile(targets);
    if (again.ok) return again.compiled;
    printDiagnostics(again.diagnostics, source, io);
    if (again.message !== undefined) fail(io, again.message);
    return { exitCode: again.message !== undefined ? 1 : 2 };
  };
  return { source, compiled: compiled.compiled, bpftrace: found.ok ? found.info : null, targets: resolved.targets, recompile };
}

export interface ExecuteOptions {
  readonly output: 'table' | 'json';
  readonly durationMs: number | null;
  readonly quiet: boolean;
  /** Ends the run early (as Ctrl-C does): final aggregations are still printed. */
  readonly signal?: AbortSignal;
  /** Called once every probe is attached. */
  readonly onAttached?: () => void;
  /** A bpftrace started before compiling (startEarly), used when the program fits its argv. */
  readonly early?: EarlyBpftrace | null;
  /** Where results go (default io.stdout). */
  readonly stdout?: Streams['stdout'];
  /** A traced target stopped (the run then ends); called after the one-line notice. */
  readonly onTargetGone?: (reason: string) => void;
  /** --follow: a stopped container is waited for and traced again (runner/follow.ts). */
  readonly follow?: boolean;
}

/** Runs a prepared program until it ends; a traced target that stops ends it too. */
export async function executeRun(p: Prepared, opts: ExecuteOptions, io: Streams): Promise<{ exitCode: number; result: RunResult | null }> {
  if (!p.bpftrace) {
    opts.early?.discard();
    return { exitCode: 1, result: null };
  }
  if (opts.follow && p.targets.length) {
    const { followProgram } = await import('../runner/follow.js');
    const f = await followProgram(p, {
      bpftrace: p.bpftrace,
      output: opts.output,
      stdout: opts.stdout ?? io.stdout,
      stderr: io.stderr,
      env: io.env,
      durationMs: opts.durationMs,
      quiet: opts.quiet,
      recompile: p.recompile,
      ...(opts.signal ? { signal: opts.signal } : {}),
      ...(opts.onAttached ? { onAttached: opts.onAttached } : {}),
    });
    const mapped = f.result !== null && reportBpftraceErrors(f.result, f.compiled, p.source, io);
    return { exitCode: mapped ? 2 : f.exitCode, result: f.result };
  }
  const { runProgram } = await loadSession();
  const stop = new AbortController();
  const abort = () => stop.abort();
  opts.signal?.addEventListener('abort', abort);
  const unwatch = p.targets.length
    ? watchTargets(p.targets, (_t, reason) => {
        fail(io, `${reason}; ending the trace`);
        opts.onTargetGone?.(reason);
        stop.abort();
      })
    : () => undefined;

  const result = await runProgram(p.compiled, {
    signal: stop.signal,
    bpftrace: p.bpftrace,
    output: opts.output,
    stdout: opts.stdout ?? io.stdout,
    stderr: io.stderr,
    env: io.env,
    ...(opts.durationMs !== null ? { durationMs: opts.durationMs } : {}),
    ...(opts.onAttached ? { onAttached: opts.onAttached } : {}),
    early: opts.early ?? null,
    progress: !opts.quiet,
  }).finally(() => {
    unwatch();
    opts.signal?.removeEventListener('abort', abort);
  });

  return { exitCode: reportBpftraceErrors(result, p.compiled, p.source, io) ? 2 : result.exitCode, result };
}

/** bpftrace's own errors, at the user's line and column where the source map knows it. True when any was mapped. */
export function reportBpftraceErrors(result: RunResult, compiled: CompiledProgram, source: Source, io: Streams): boolean {
  const mapped: Diagnostic[] = [];
  const unmapped: string[] = [];
  for (const e of result.errors) {
    const span = e.line !== undefined ? mapPosition(compiled.sourceMap, e.line, e.colStart ?? 1, e.colEnd ?? (e.colStart ?? 1) + 1) : undefined;
    if (span) mapped.push(error(Codes.BpftraceError, e.message, span));
    else unmapped.push(e.message);
  }
  printDiagnostics(mapped, source, io);
  for (const m of unmapped) fail(io, m);
  return mapped.length > 0;
}

/** A host being connected to: its helper starts once the connection is up, or fails with why it is not. */
function connecting(label: string, conn: Promise<{ ok: true; transport: Transport } | { ok: false; message: string }>): Transport {
  return {
    label,
    start: async () => {
      const c = await conn;
      return c.ok ? c.transport.start() : { ok: false, message: c.message };
    },
    close: () => void conn.then((c) => c.ok && c.transport.close()),
  };
}

/** Not root and not over SSH: the local helper, through sudo, decides what this user may trace. */
export function needsLocalHelper(opts: { emit?: boolean } = {}): boolean {
  return opts.emit !== true && typeof process.getuid === 'function' && process.getuid() !== 0;
}

/** What reaching helpers needs from a command line: the hosts (none: this machine's helper) and how. */
/** A host to run on: its label in the output, and the -H spec (or alias) that reaches it. */
interface Remote {
  readonly label: string;
  readonly spec: string;
}

export interface HelperTargets {
  readonly targets?: TargetRequest;
  readonly bpftrace?: string;
  readonly hosts?: readonly string[];
  readonly ssh?: RemoteOptions;
}

/**
 * The transports of a run through helpers: one per --host (connected in parallel, each
 * host's helper started as soon as its own connection is up, a host that cannot be reached
 * failing alone), or this machine's helper through sudo. Command-line errors (a malformed
 * host or name, --bpftrace with --host) are printed and give exit 2, before any host is contacted.
 */
export async function helperTransports(opts: HelperTargets, io: Streams, remotes: readonly Remote[] = [...new Set(opts.hosts ?? [])].map((spec) => ({ label: spec, spec }))): Promise<Transport[] | { exitCode: number }> {
  // Names no runtime should see are refused here, before any host is contacted.
  const problem = opts.targets ? selectorProblem(opts.targets) : null;
  if (problem !== null) {
    fail(io, problem);
    return { exitCode: 2 };
  }
  if (opts.bpftrace !== undefined && remotes.length) {
    fail(io, '--bpftrace cannot be used with --host: each host\'s helper uses its own bpftrace');
    return { exitCode: 2 };
  }
  if (!remotes.length) return [(await import('../runner/transport/local.js')).localTransport()];
  const { sshTransport, resolveTarget } = await import('../runner/transport/ssh.js');
  // A malformed host (or its ssh config) is a command-line error, refused before any host is contacted.
  for (const { spec } of remotes) {
    const p = resolveTarget(spec, { env: io.env });
    if (!p.ok) {
      fail(io, p.message);
      return { exitCode: 2 };
    }
  }
  const ssh = { acceptNew: opts.ssh?.acceptNew ?? false, ...(opts.ssh?.connectTimeoutMs !== undefined ? { connectTimeoutMs: opts.ssh.connectTimeoutMs } : {}), env: io.env };
  return remotes.map(({ label, spec }) => connecting(label, sshTransport(spec, ssh)));
}

/** The run through helpers: over SSH to each --host, or the local one through sudo. */
async function runViaHelpers(opts: RunOptions, io: Streams): Promise<number> {
  const loaded = loadProgram(opts);
  if ('error' in loaded) {
    fail(io, loaded.error);
    return 2;
  }
  const { source, args } = loaded;
  // Syntax errors are shown before any host is contacted.
  const parsed = await parseCached(source, io.env);
  if (hasErrors(parsed.diagnostics)) {
    printDiagnostics(parsed.diagnostics, source, io);
    return 2;
  }
  // Where to run: each --host (named as given), or each Kubernetes node (named by the node) with its own containers.
  let remotes: Remote[] | undefined;
  let targetsFor: ((label: string) => TargetRequest) | undefined;
  if (opts.kube) {
    const placed = await kubeTargets(opts.kube, opts.targets, io);
    if ('exitCode' in placed) return placed.exitCode;
    remotes = placed.remotes;
    targetsFor = placed.targetsFor;
  }
  const transports = await helperTransports(opts, io, remotes);
  if (!Array.isArray(transports)) return transports.exitCode;

  let compiled: CompiledProgram | null = null;
  const many = transports.length > 1;
  const { runFleet } = await import('../runner/fleet.js');
  const fleet = await runFleet(
    transports,
    {
      program: { name: source.name, text: source.text },
      args,
      ...(opts.targets ? { targets: opts.targets } : {}),
      intervalMs: opts.intervalMs,
      quiet: opts.quiet,
      destructive: opts.destructive,
      ...(opts.follow ? { follow: true } : {}),
    },
    {
      output: opts.output,
      durationMs: opts.durationMs,
      quiet: opts.quiet,
      stdout: io.stdout,
      stderr: io.stderr,
      env: io.env,
      onDiagnostics: (d) => printDiagnostics(d, source, io),
      onHostMessage: (host, m) => fail(io, many ? `${host}: ${m}` : m),
      onCompiled: (c) => (compiled ??= c),
      ...(targetsFor ? { targetsFor } : {}),
    },
  );
  // bpftrace errors are the same on every host: map the first host's to the user's source.
  const firstRun = fleet.hosts.find((h) => h.result && h.result.errors.length);
  if (firstRun?.result && compiled && reportBpftraceErrors(firstRun.result, compiled, source, io) && fleet.hosts.every((h) => h.exitCode !== 0)) return 2;
  return fleet.exitCode;
}

/**
 * The pods' containers, asked of the Kubernetes API, as one remote per node (labelled with the
 * node's name, reached at its mapped host or InternalIP) whose targets are the containers' ids:
 * a full id names one container whichever runtime the node's helper asks.
 */
async function kubeTargets(kube: KubeRequest, base: TargetRequest | undefined, io: Streams): Promise<{ remotes: Remote[]; targetsFor: (label: string) => TargetRequest } | { exitCode: number }> {
  const [{ resolveKube }, { kubectlApi }] = await Promise.all([import('../runner/targets/kube.js'), import('../runner/targets/kubectl.js')]);
  const api = kubectlApi({ ...(kube.kubeconfig !== undefined ? { kubeconfig: kube.kubeconfig } : {}), ...(kube.context !== undefined ? { context: kube.context } : {}), env: io.env });
  const r = await resolveKube(kube, api);
  if (!r.ok) {
    fail(io, r.message);
    return { exitCode: 1 };
  }
  const ids = new Map(r.nodes.map((n) => [n.node, n.placements.map((p) => p.id)]));
  return {
    remotes: r.nodes.map((n) => ({ label: n.node, spec: n.host })),
    targetsFor: (node) => ({ containers: ids.get(node) ?? [], labels: [], pids: [], runtime: base?.runtime ?? 'auto', hostPids: base?.hostPids ?? false }),
  };
}

export async function runCommand(opts: RunOptions, io: Streams): Promise<number> {
  if (opts.kube || opts.hosts?.length || needsLocalHelper(opts)) return runViaHelpers(opts, io);
  // Not for a command line refused before anything runs (a bad container name), nor with
  // --follow, whose every attachment starts a bpftrace of its own.
  const early = opts.emit || opts.follow || (opts.targets && selectorProblem(opts.targets) !== null) ? null : startEarlyBpftrace(opts, io);
  const p = await prepareRun(opts, io);
  if ('exitCode' in p) {
    early?.discard();
    return p.exitCode;
  }
  if (opts.emit) {
    io.stdout.write(p.compiled.text);
    return 0;
  }
  // Given before the session (the decoder and renderers) is loaded: bpftrace compiles and
  // attaches while this process loads what reads its output.
  if (p.bpftrace && early?.give(p.bpftrace.path, p.compiled)) mark('program given to bpftrace');
  return (await executeRun(p, { output: opts.output, durationMs: opts.durationMs, quiet: opts.quiet, follow: opts.follow === true, early }, io)).exitCode;
}

/** bpftrace, started before compiling (see startEarly); null when there is none to start. */
function startEarlyBpftrace(opts: { bpftrace?: string }, io: Streams): EarlyBpftrace | null {
  const found = locateBpftrace({ explicit: opts.bpftrace, env: io.env });
  if (!found.ok) return null;
  const early = startEarly(found.path, io.env);
  mark('bpftrace started, waiting for its program');
  return early;
}

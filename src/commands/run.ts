// `trace [options] PROGRAM|FILE [args...]`: compile a program and run it, or emit it.

import { readFileSync } from 'node:fs';
import { compileAst } from '../compiler/compile.js';
import { REFERENCE_FACTS, type BinaryFacts, type BpftraceFacts, type TargetFacts } from '../compiler/facts.js';
import { mapPosition } from '../compiler/emitter.js';
import { pathsNeeded, probeFunctions, tracepointsNeeded } from '../compiler/probes.js';
import type { ProbeDesc } from '../lang/ast.js';
import { binaryInfo } from '../runner/elf.js';
import { goBinaryFacts } from '../runner/go.js';
import { resolveTargets, watchTargets, type ResolvedTarget, type RuntimeChoice } from '../runner/targets/index.js';
import { targetFacts } from '../runner/targets/facts.js';
import { isValidContainerRef } from '../runner/targets/exec.js';
import { Codes, error, hasErrors, type Diagnostic } from '../lang/diagnostics.js';
import { parse } from '../lang/parse.js';
import { COMMAND_LINE, Source } from '../lang/source.js';
import { findBpftrace, type BpftraceInfo } from '../runner/bpftrace.js';
import { gatherFacts } from '../runner/gather-facts.js';
import { runProgram, type RunResult } from '../runner/session.js';
import type { CompiledProgram } from '../compiler/program.js';
import { fail, printDiagnostics, type Streams } from './output.js';

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
}

/** -c NAME (repeatable), --label k=v, -p PID, --runtime, --host-pids. */
export interface TargetRequest {
  readonly containers: readonly string[];
  readonly labels: readonly string[];
  readonly pids: readonly number[];
  readonly runtime: RuntimeChoice;
  readonly hostPids: boolean;
}

export function wantsTargets(t: TargetRequest | undefined): t is TargetRequest {
  return !!t && t.containers.length + t.labels.length + t.pids.length > 0;
}

/** Does any probe rely on the target's main executable (no binary named)? */
function needsExe(descs: readonly ProbeDesc[]): boolean {
  return descs.some((d) => {
    const p = d.parts.map((x) => x.value);
    const head = p[0] ?? '';
    return (/^(u|uprobe|ur|uretprobe)$/.test(head) && p.length === 2) || /^pid\$target$/.test(head) || (/^(usdt|U)$/.test(head) && p.length === 3 && !p[1]!.startsWith('/'));
  });
}

/** The compiler's view of the resolved targets. */
export function buildTargetFacts(targets: readonly ResolvedTarget[], descs: readonly ProbeDesc[], hostPids: boolean): { ok: true; facts: TargetFacts } | { ok: false; message: string } {
  const main = targets[0]!;
  const base = targetFacts(main, pathsNeeded(descs), needsExe(descs));
  if (!base.ok) return base;
  const containers = targets.filter((t) => t.runtime !== 'pid');
  return {
    ok: true,
    facts: {
      ...base.facts,
      nspid: main.nspid,
      pidnsLevel: main.pidnsLevel,
      hostPids,
      ...(containers.length ? { containers: containers.map((t) => ({ name: t.name, mntns: t.mntns })) } : { pids: targets.map((t) => t.hostPid) }),
    },
  };
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

export function bpftraceFacts(info: BpftraceInfo): BpftraceFacts {
  return {
    version: info.version,
    uprobeOffsets: info.features.uprobeOffsets,
    kprobes: info.features.kprobes,
    kfunc: info.features.kfunc,
    btf: info.features.btf,
  };
}

/** Go binaries get Go's ABI for arguments, goroutine-keyed self->, and RET-site return probes. */
export async function binaryFacts(wanted: Map<string, { all: Set<string>; returns: Set<string> }>, uprobeOffsets: boolean): Promise<Record<string, BinaryFacts>> {
  const out: Record<string, BinaryFacts> = {};
  for (const [bin, fns] of wanted) {
    const info = binaryInfo(bin);
    if ('error' in info) continue; // bpftrace reports a missing binary in its own words
    if (!info.go) {
      out[bin] = { go: null };
      continue;
    }
    // Decoded: functions with return probes (their RETs), and with bpftrace able to attach
    // at offsets, those with entry probes too (to enter past Go's stack-check prologue).
    const facts = await goBinaryFacts(bin, [...fns.all], { decode: [...(uprobeOffsets ? fns.all : fns.returns)] });
    out[bin] = 'error' in facts ? { go: info.go } : facts;
  }
  return out;
}

/** A program compiled against its targets, ready to run. */
export interface Prepared {
  readonly source: Source;
  readonly compiled: CompiledProgram;
  /** Null only when emitting without a bpftrace (compiled against reference facts). */
  readonly bpftrace: BpftraceInfo | null;
  readonly targets: readonly ResolvedTarget[];
}

/** Loads, resolves targets, gathers facts and compiles; prints diagnostics. An exit code when it cannot. */
export async function prepareRun(opts: RunOptions, io: Streams): Promise<Prepared | { exitCode: number }> {
  const loaded = loadProgram(opts);
  if ('error' in loaded) {
    fail(io, loaded.error);
    return { exitCode: 2 };
  }
  const { source, args } = loaded;

  const parsed = parse(source);
  if (hasErrors(parsed.diagnostics)) {
    printDiagnostics(parsed.diagnostics, source, io);
    return { exitCode: 2 };
  }

  // A name that cannot be a container is a command-line error, refused before anything runs.
  const badName = opts.targets?.containers.find((n) => !isValidContainerRef(n));
  if (badName !== undefined) {
    fail(io, `${JSON.stringify(badName)} is not a valid container name (use letters, digits and _ . - only)`);
    return { exitCode: 2 };
  }

  const found = await findBpftrace({ explicit: opts.bpftrace, env: io.env });
  let bpf: BpftraceFacts;
  if (found.ok) bpf = bpftraceFacts(found.info);
  else if (opts.emit) bpf = REFERENCE_FACTS.bpftrace;
  else {
    fail(io, found.message);
    return { exitCode: 1 };
  }

  const descs = parsed.program.items.flatMap((i) => (i.kind === 'Clause' ? i.probes : []));

  let targets: ResolvedTarget[] = [];
  let target: TargetFacts | undefined;
  if (wantsTargets(opts.targets)) {
    const resolved = await resolveTargets({ containers: [...opts.targets.containers], labels: [...opts.targets.labels], pids: [...opts.targets.pids], runtime: opts.targets.runtime }, { env: io.env });
    if (!resolved.ok) {
      fail(io, resolved.message);
      return { exitCode: 1 };
    }
    targets = resolved.targets;
    const tf = buildTargetFacts(targets, descs, opts.targets.hostPids);
    if (!tf.ok) {
      fail(io, tf.message);
      return { exitCode: 1 };
    }
    target = tf.facts;
  }

  const gathered = gatherFacts({
    bpftrace: bpf,
    tracepoints: tracepointsNeeded(descs),
    scriptArgs: args,
    scriptName: source.name,
    destructive: opts.destructive,
    ...(target ? { target } : {}),
  });
  if (!gathered.ok) {
    fail(io, gathered.message);
    return { exitCode: 1 };
  }
  const facts = { ...gathered.facts, binaries: await binaryFacts(probeFunctions(descs, gathered.facts), bpf.uprobeOffsets) };

  const compiled = compileAst(parsed.program, source, facts, { intervalMs: opts.intervalMs, quiet: opts.quiet }, parsed.diagnostics);
  printDiagnostics(compiled.diagnostics, source, io);
  if (!compiled.program) return { exitCode: 2 };
  return { source, compiled: compiled.program, bpftrace: found.ok ? found.info : null, targets };
}

export interface ExecuteOptions {
  readonly output: 'table' | 'json';
  readonly durationMs: number | null;
  readonly quiet: boolean;
  /** Ends the run early (as Ctrl-C does): final aggregations are still printed. */
  readonly signal?: AbortSignal;
  /** Called once every probe is attached. */
  readonly onAttached?: () => void;
  /** Where results go (default io.stdout). */
  readonly stdout?: Streams['stdout'];
  /** A traced target stopped (the run then ends); called after the one-line notice. */
  readonly onTargetGone?: (reason: string) => void;
}

/** Runs a prepared program until it ends; a traced target that stops ends it too. */
export async function executeRun(p: Prepared, opts: ExecuteOptions, io: Streams): Promise<{ exitCode: number; result: RunResult | null }> {
  if (!p.bpftrace) return { exitCode: 1, result: null };
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
    progress: !opts.quiet,
  }).finally(() => {
    unwatch();
    opts.signal?.removeEventListener('abort', abort);
  });

  // bpftrace's own errors, at the user's line and column where the source map knows it.
  const mapped: Diagnostic[] = [];
  const unmapped: string[] = [];
  for (const e of result.errors) {
    const span = e.line !== undefined ? mapPosition(p.compiled.sourceMap, e.line, e.colStart ?? 1, e.colEnd ?? (e.colStart ?? 1) + 1) : undefined;
    if (span) mapped.push(error(Codes.BpftraceError, e.message, span));
    else unmapped.push(e.message);
  }
  printDiagnostics(mapped, p.source, io);
  for (const m of unmapped) fail(io, m);
  return { exitCode: mapped.length > 0 ? 2 : result.exitCode, result };
}

export async function runCommand(opts: RunOptions, io: Streams): Promise<number> {
  const p = await prepareRun(opts, io);
  if ('exitCode' in p) return p.exitCode;
  if (opts.emit) {
    io.stdout.write(p.compiled.text);
    return 0;
  }
  return (await executeRun(p, { output: opts.output, durationMs: opts.durationMs, quiet: opts.quiet }, io)).exitCode;
}

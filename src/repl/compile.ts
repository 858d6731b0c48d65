// Compiling the session's program against its target.
//
// What runs (and what :emit shows) is compiled by run.ts's prepareRun, exactly as
// `trace -c NAME FILE.d` compiles the saved session, with the target resolved afresh.
// Each clause typed is checked at once by compileProgram: the same steps, but against the
// target resolved once per `:target`, and with the diagnostics returned (the REPL shows them
// against the clause typed) rather than printed.

import { compileAst } from '../compiler/compile-ast.js';
import type { BpftraceFacts, Facts } from '../compiler/facts.js';
import { probeFunctions, probeLines, tracepointsNeeded } from '../compiler/probes.js';
import type { CompiledProgram } from '../compiler/program.js';
import { Codes, error, hasErrors, suggest, type Diagnostic } from '../lang/diagnostics.js';
import type { ProbeDesc } from '../lang/ast.js';
import { parse } from '../lang/parse.js';
import type { Source } from '../lang/source.js';
import type { BpftraceInfo } from '../runner/bpftrace.js';
import { gatherFacts } from '../runner/gather-facts.js';
import { listProbes } from '../runner/listing.js';
import { resolveTargets, selectorProblem, type ResolvedTarget, type RuntimeChoice } from '../runner/targets/index.js';
import type { TargetRequest } from '../runner/request.js';
import { Writable } from 'node:stream';
import { prepareRun, type Prepared } from '../commands/run.js';
import { binaryFacts, buildTargetFacts } from '../helper/prepare.js';
import type { Streams } from '../commands/output.js';

/** What the session traces, as -c, -l and -p say it (all empty: the whole host). */
export interface TargetSpec {
  readonly containers: readonly string[];
  readonly labels: readonly string[];
  readonly pids: readonly number[];
  readonly runtime: RuntimeChoice;
}

/** The spec as a run's target request. */
export function targetRequest(spec: TargetSpec, hostPids: boolean): TargetRequest {
  return { containers: spec.containers, labels: spec.labels, pids: spec.pids, runtime: spec.runtime, hostPids };
}

/** `container web`, `containers a, b, label app=web`, `PID 42`. */
export function describeSpec(spec: TargetSpec): string {
  const part = (one: string, many: string, xs: readonly (string | number)[]) => (xs.length ? [`${xs.length === 1 ? one : many} ${xs.join(', ')}`] : []);
  const parts = [...part('container', 'containers', spec.containers), ...part('label', 'labels', spec.labels), ...part('PID', 'PIDs', spec.pids)];
  return parts.length ? parts.join(', ') : 'the whole host';
}

export interface CompileContext {
  /** Null when no bpftrace was found: clauses still compile (against reference facts), nothing runs. */
  readonly bpftrace: BpftraceInfo | null;
  readonly bpf: BpftraceFacts;
  readonly targets: readonly ResolvedTarget[];
  readonly hostPids: boolean;
  readonly destructive: boolean;
}

export type CompileOutcome =
  | { readonly ok: true; readonly program: CompiledProgram; readonly diagnostics: readonly Diagnostic[] }
  /** `message`: a problem of the machine or target, not of the text (no span). */
  | { readonly ok: false; readonly diagnostics: readonly Diagnostic[]; readonly message?: string };

export function hasTarget(spec: TargetSpec | null): spec is TargetSpec {
  return !!spec && spec.containers.length + spec.labels.length + spec.pids.length > 0;
}

export function describeTarget(t: ResolvedTarget): string {
  return t.runtime === 'pid' ? `PID ${t.hostPid} (${t.name})` : `container ${t.name} (${t.runtime}, PID ${t.hostPid})`;
}

export async function resolveSpec(spec: TargetSpec, env: NodeJS.ProcessEnv): Promise<{ ok: true; targets: ResolvedTarget[] } | { ok: false; message: string }> {
  const problem = selectorProblem(spec);
  if (problem !== null) return { ok: false, message: problem };
  const r = await resolveTargets({ containers: [...spec.containers], labels: [...spec.labels], pids: [...spec.pids], runtime: spec.runtime }, { env });
  return r.ok ? { ok: true, targets: r.targets } : r;
}

/** Compiles a whole program text; `intervalMs` adds the interval snapshot probe. */
export async function compileProgram(ctx: CompileContext, source: Source, intervalMs: number | null): Promise<CompileOutcome> {
  const parsed = parse(source);
  if (hasErrors(parsed.diagnostics)) return { ok: false, diagnostics: parsed.diagnostics };
  const descs = parsed.program.items.flatMap((i) => (i.kind === 'Clause' ? i.probes : []));

  let target;
  if (ctx.targets.length > 0) {
    const tf = buildTargetFacts(ctx.targets, descs, ctx.hostPids);
    if (!tf.ok) return { ok: false, diagnostics: [], message: tf.message };
    target = tf.facts;
  }
  const gathered = gatherFacts({
    bpftrace: ctx.bpf,
    tracepoints: tracepointsNeeded(descs),
    scriptArgs: [],
    scriptName: source.name,
    destructive: ctx.destructive,
    ...(target ? { target } : {}),
  });
  if (!gathered.ok) return { ok: false, diagnostics: [], message: gathered.message };
  const facts: Facts = { ...gathered.facts, binaries: await binaryFacts(probeFunctions(descs, gathered.facts), ctx.bpf.uprobeOffsets, probeLines(descs, gathered.facts)) };
  const compiled = compileAst(parsed.program, source, facts, { intervalMs, quiet: false }, parsed.diagnostics);
  if (!compiled.program) return { ok: false, diagnostics: compiled.diagnostics };
  const main = ctx.targets[0];
  const missing = main?.exeHost ? await unknownFunctions(descs, main) : [];
  if (missing.length) return { ok: false, diagnostics: [...compiled.diagnostics, ...missing] };
  return { ok: true, program: compiled.program, diagnostics: compiled.diagnostics };
}

const functionLists = new Map<string, Promise<ReadonlySet<string>>>();

/** Function names of an executable (as `trace list` shows them), read once per host path. */
export function functionsOf(exeHost: string): Promise<ReadonlySet<string>> {
  let p = functionLists.get(exeHost);
  if (!p) {
    p = listProbes({ exeHost, pattern: 'uprobe:*' }).then((l) => new Set(l.probes.filter((x) => x.kind === 'uprobe').map((x) => x.name)));
    functionLists.set(exeHost, p);
  }
  return p;
}

/**
 * Probes on a function of the target's executable that it does not have. The compiler leaves
 * that to bpftrace, which would refuse only at :start; here the clause is refused as typed.
 */
async function unknownFunctions(descs: readonly ProbeDesc[], t: ResolvedTarget): Promise<Diagnostic[]> {
  const out: Diagnostic[] = [];
  for (const d of descs) {
    const p = d.parts.map((x) => x.value);
    const fn = /^(u|uprobe|ur|uretprobe)$/.test(p[0] ?? '') && p.length === 2 ? p[1] : p[0] === 'pid$target' && p[1] === '' ? p[2] : undefined;
    if (fn === undefined || fn === '' || /[*?[]/.test(fn)) continue;
    const fns = await functionsOf(t.exeHost);
    if (fns.size === 0 || fns.has(fn)) continue;
    const near = suggest(fn, fns);
    const where = t.runtime === 'pid' ? `PID ${t.hostPid}` : `container ${t.name}`;
    out.push(
      error(Codes.BadProbeName, `${t.exe} (${where}) has no function ${fn}`, d.span, [
        ...(near ? [`did you mean ${near}?`] : []),
        `trace list ${t.runtime === 'pid' ? `-p ${t.hostPid}` : `-c ${t.name}`} 'uprobe:*' lists them`,
      ]),
    );
  }
  return out;
}

/** Collects what prepareRun prints (its diagnostics), to show only when it fails. */
class Capture extends Writable {
  text = '';
  constructor(readonly isTTY: boolean) {
    super();
  }
  override _write(chunk: Buffer | string, _enc: BufferEncoding, cb: () => void): void {
    this.text += chunk.toString();
    cb();
  }
}

export interface SessionOptions {
  readonly spec: TargetSpec;
  readonly bpftrace?: string;
  readonly hostPids: boolean;
  readonly destructive: boolean;
}

export type PrepareOutcome = { readonly ok: true; readonly prepared: Prepared } | { readonly ok: false; readonly exitCode: number; readonly output: string };

/**
 * The session's program text compiled as trace would compile it from a file (`emit`: without
 * needing bpftrace), with `intervalMs` for the snapshots. `output`: what prepareRun printed.
 */
export async function prepareSession(o: SessionOptions, text: string, intervalMs: number | null, emit: boolean, io: Streams): Promise<PrepareOutcome> {
  const err = new Capture(io.stderr.isTTY === true);
  const out = new Capture(false);
  const p = await prepareRun(
    {
      expr: text,
      positionals: [],
      output: 'table',
      intervalMs,
      durationMs: null,
      emit,
      ...(o.bpftrace !== undefined ? { bpftrace: o.bpftrace } : {}),
      quiet: false,
      destructive: o.destructive,
      targets: targetRequest(o.spec, o.hostPids),
    },
    { stdout: out, stderr: err, env: io.env },
  );
  if ('exitCode' in p) return { ok: false, exitCode: p.exitCode, output: err.text };
  return { ok: true, prepared: p };
}

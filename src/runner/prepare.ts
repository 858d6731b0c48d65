// From a parsed program and a target request to a compiled program: resolve the targets, read
// the facts the compiler needs from them and from this machine, and compile. Used by the CLI
// when it runs bpftrace itself and by the helper, so both compile exactly alike.

import { compileAst } from '../compiler/compile.js';
import { REFERENCE_FACTS, type BinaryFacts, type BpftraceFacts, type TargetFacts } from '../compiler/facts.js';
import { pathsNeeded, probeFunctions, tracepointsNeeded } from '../compiler/probes.js';
import type { CompiledProgram } from '../compiler/program.js';
import type { Program, ProbeDesc } from '../lang/ast.js';
import type { Diagnostic } from '../lang/diagnostics.js';
import type { Source } from '../lang/source.js';
import type { BpftraceInfo } from './bpftrace.js';
import { binaryInfo } from './elf.js';
import { gatherFacts } from './gather-facts.js';
import { goBinaryFacts } from './go.js';
import { resolveTargets, type ResolvedTarget, type RuntimeChoice } from './targets/index.js';
import { targetFacts } from './targets/facts.js';

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

export function probeDescs(program: Program): ProbeDesc[] {
  return program.items.flatMap((i) => (i.kind === 'Clause' ? i.probes : []));
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

export type Resolved = { ok: true; targets: ResolvedTarget[] } | { ok: false; message: string };

/** The request's containers and processes, asked of their runtimes (none: host-wide). */
export async function resolveRequest(t: TargetRequest | undefined, env: NodeJS.ProcessEnv): Promise<Resolved> {
  if (!wantsTargets(t)) return { ok: true, targets: [] };
  return resolveTargets({ containers: [...t.containers], labels: [...t.labels], pids: [...t.pids], runtime: t.runtime }, { env });
}

export interface CompileRequest {
  readonly source: Source;
  readonly program: Program;
  /** Parse diagnostics (warnings), reported with the compiler's. */
  readonly parseDiagnostics: readonly Diagnostic[];
  readonly args: readonly string[];
  readonly targets: readonly ResolvedTarget[];
  readonly hostPids: boolean;
  readonly intervalMs: number | null;
  readonly quiet: boolean;
  readonly destructive: boolean;
  /** Null: compile against reference facts (emitting without a bpftrace). */
  readonly bpftrace: BpftraceInfo | null;
  /** The `host` builtin's value (default: this machine's name). */
  readonly host?: string;
}

export type CompileResult =
  | { ok: true; compiled: CompiledProgram; diagnostics: readonly Diagnostic[] }
  /** `message`: one sentence about the target or machine (exit 1); otherwise diagnostics (exit 2). */
  | { ok: false; diagnostics: readonly Diagnostic[]; message?: string };

/** Reads the facts (targets' binaries, tracepoint formats) and compiles. */
export async function compileFor(req: CompileRequest): Promise<CompileResult> {
  const descs = probeDescs(req.program);
  let target: TargetFacts | undefined;
  if (req.targets.length) {
    const tf = buildTargetFacts(req.targets, descs, req.hostPids);
    if (!tf.ok) return { ok: false, diagnostics: [], message: tf.message };
    target = tf.facts;
  }
  const bpf = req.bpftrace ? bpftraceFacts(req.bpftrace) : REFERENCE_FACTS.bpftrace;
  const gathered = gatherFacts({
    bpftrace: bpf,
    tracepoints: tracepointsNeeded(descs),
    scriptArgs: req.args,
    scriptName: req.source.name,
    destructive: req.destructive,
    ...(target ? { target } : {}),
  });
  if (!gathered.ok) return { ok: false, diagnostics: [], message: gathered.message };
  const facts = {
    ...gathered.facts,
    ...(req.host !== undefined ? { host: req.host } : {}),
    binaries: await binaryFacts(probeFunctions(descs, gathered.facts), bpf.uprobeOffsets),
  };
  const compiled = compileAst(req.program, req.source, facts, { intervalMs: req.intervalMs, quiet: req.quiet }, [...req.parseDiagnostics]);
  if (!compiled.program) return { ok: false, diagnostics: compiled.diagnostics };
  return { ok: true, compiled: compiled.program, diagnostics: compiled.diagnostics };
}

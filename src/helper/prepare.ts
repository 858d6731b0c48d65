// From a parsed program and a target request to a compiled program: resolve the targets, read
// the facts the compiler needs from them and from this machine, and compile. The helper's
// work, which the CLI also does in its own process when it runs as root on the machine
// itself, so both compile exactly alike. (The runner never calls the compiler: this glue
// lives here.)

import { compileAst } from '../compiler/compile-ast.js';
import { REFERENCE_FACTS, type BinaryFacts, type BpftraceFacts, type TargetFacts } from '../compiler/facts.js';
import { expandProbeArgs, pathsNeeded, probeFunctions, probeLines, tracepointsNeeded } from '../compiler/probes.js';
import type { CompiledProgram } from '../compiler/program.js';
import type { Program, ProbeDesc } from '../lang/ast.js';
import type { Diagnostic } from '../lang/diagnostics.js';
import type { Source } from '../lang/source.js';
import type { BpftraceInfo } from '../runner/bpftrace.js';
import { binaryInfo } from '../runner/elf.js';
import { gatherFacts } from '../runner/gather-facts.js';
import { goBinaryFacts } from '../runner/go.js';
import type { ResolvedTarget } from '../runner/targets/index.js';
import { targetFacts } from '../runner/targets/facts.js';
import { mark, timed } from '../runner/timing.js';
import { cacheGet, cachePut, fileStamp } from '../runner/cache.js';
import { fileURLToPath } from 'node:url';

export { resolveRequest, wantsTargets, type Resolved, type TargetRequest } from '../runner/request.js';

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

/** The modules whose code decides a binary's facts: a new build of them invalidates cached facts. */
const FACTS_CODE = ['../runner/go', '../runner/go-lines', '../runner/elf', '../runner/dwarf', '../runner/dwarf-lines', '../runner/dwarf-frame', './prepare'];
let codeStamp: string | undefined;
function factsCodeStamp(): string {
  if (codeStamp === undefined) {
    codeStamp = FACTS_CODE.map((m) => {
      for (const ext of ['.js', '.ts']) {
        try {
          const s = fileStamp(fileURLToPath(new URL(`${m}${ext}`, import.meta.url)));
          if (s !== null) return s;
        } catch {
          // not a file: URL (bundled)
        }
      }
      return '?';
    }).join(',');
  }
  return codeStamp;
}

/** One binary's facts, from the on-disk cache when the binary (device, inode, size, times) and the request are the same. */
async function oneBinaryFacts(bin: string, fns: { all: Set<string>; returns: Set<string> }, uprobeOffsets: boolean, lines: readonly string[]): Promise<BinaryFacts | null> {
  const decode = [...(uprobeOffsets ? fns.all : fns.returns)].sort();
  const stamp = fileStamp(bin);
  const key = stamp === null ? null : JSON.stringify({ bin, stamp, all: [...fns.all].sort(), decode, lines, code: factsCodeStamp() });
  if (key !== null) {
    const hit = cacheGet<BinaryFacts>('go-facts', key);
    if (hit && typeof hit === 'object' && 'go' in hit) return hit;
  }
  const info = binaryInfo(bin);
  if ('error' in info) return null; // bpftrace reports a missing binary in its own words
  let out: BinaryFacts;
  if (!info.go) out = { go: null };
  else {
    // Decoded: functions with return probes (their RETs), and with bpftrace able to attach
    // at offsets, those with entry probes too (to enter past Go's stack-check prologue).
    const facts = await goBinaryFacts(bin, [...fns.all], { decode, lines });
    out = 'error' in facts ? { go: info.go } : facts;
  }
  // Stored only when the binary did not change while it was read.
  if (key !== null && fileStamp(bin) === stamp) cachePut('go-facts', key, out);
  return out;
}

/**
 * Go binaries get Go's ABI for arguments, goroutine-keyed self->, and RET-site return probes.
 * Each binary's facts are cached on disk (see cache.ts), keyed by the file and the request.
 */
export async function binaryFacts(
  wanted: Map<string, { all: Set<string>; returns: Set<string> }>,
  uprobeOffsets: boolean,
  lines: Map<string, Set<string>> = new Map(),
): Promise<Record<string, BinaryFacts>> {
  const out: Record<string, BinaryFacts> = {};
  const bins = new Set([...wanted.keys(), ...lines.keys()]);
  const none = { all: new Set<string>(), returns: new Set<string>() };
  const all = await Promise.all(
    [...bins].map(async (bin) => [bin, await oneBinaryFacts(bin, wanted.get(bin) ?? none, uprobeOffsets, [...(lines.get(bin) ?? [])].sort())] as const),
  );
  for (const [bin, facts] of all) if (facts !== null) out[bin] = facts;
  return out;
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
  // Facts are read for the probes as the compiler will resolve them: `tracepoint:sched:$1`
  // needs the format of the tracepoint its argument names.
  const descs = probeDescs(req.program).map((d) => expandProbeArgs(d, req.args, true).desc);
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
  mark('facts gathered');
  const facts = {
    ...gathered.facts,
    ...(req.host !== undefined ? { host: req.host } : {}),
    binaries: await timed('binary facts', () => binaryFacts(probeFunctions(descs, gathered.facts), bpf.uprobeOffsets, probeLines(descs, gathered.facts))),
  };
  const compiled = compileAst(req.program, req.source, facts, { intervalMs: req.intervalMs, quiet: req.quiet }, [...req.parseDiagnostics]);
  if (!compiled.program) return { ok: false, diagnostics: compiled.diagnostics };
  return { ok: true, compiled: compiled.program, diagnostics: compiled.diagnostics };
}

// `trace [options] PROGRAM|FILE [args...]`: compile a program and run it, or emit it.

import { readFileSync } from 'node:fs';
import { compileAst } from '../compiler/compile.js';
import { REFERENCE_FACTS, type BpftraceFacts, type TargetFacts } from '../compiler/facts.js';
import { mapPosition } from '../compiler/emitter.js';
import { tracepointsNeeded } from '../compiler/probes.js';
import { Codes, error, hasErrors, type Diagnostic } from '../lang/diagnostics.js';
import { parse } from '../lang/parse.js';
import { COMMAND_LINE, Source } from '../lang/source.js';
import { findBpftrace, type BpftraceInfo } from '../runner/bpftrace.js';
import { gatherFacts } from '../runner/gather-facts.js';
import { runProgram } from '../runner/session.js';
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
  readonly target?: TargetFacts;
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

export async function runCommand(opts: RunOptions, io: Streams): Promise<number> {
  const loaded = loadProgram(opts);
  if ('error' in loaded) {
    fail(io, loaded.error);
    return 2;
  }
  const { source, args } = loaded;

  const parsed = parse(source);
  if (hasErrors(parsed.diagnostics)) {
    printDiagnostics(parsed.diagnostics, source, io);
    return 2;
  }

  const found = await findBpftrace({ explicit: opts.bpftrace, env: io.env });
  let bpf: BpftraceFacts;
  if (found.ok) bpf = bpftraceFacts(found.info);
  else if (opts.emit) bpf = REFERENCE_FACTS.bpftrace;
  else {
    fail(io, found.message);
    return 1;
  }

  const descs = parsed.program.items.flatMap((i) => (i.kind === 'Clause' ? i.probes : []));
  const gathered = gatherFacts({
    bpftrace: bpf,
    tracepoints: tracepointsNeeded(descs),
    scriptArgs: args,
    scriptName: source.name,
    destructive: opts.destructive,
    ...(opts.target ? { target: opts.target } : {}),
  });
  if (!gathered.ok) {
    fail(io, gathered.message);
    return 1;
  }

  const compiled = compileAst(parsed.program, source, gathered.facts, { intervalMs: opts.intervalMs, quiet: opts.quiet }, parsed.diagnostics);
  printDiagnostics(compiled.diagnostics, source, io);
  if (!compiled.program) return 2;

  if (opts.emit) {
    io.stdout.write(compiled.program.text);
    return 0;
  }
  if (!found.ok) return 1;

  const result = await runProgram(compiled.program, {
    bpftrace: found.info,
    output: opts.output,
    stdout: io.stdout,
    stderr: io.stderr,
    env: io.env,
    ...(opts.durationMs !== null ? { durationMs: opts.durationMs } : {}),
    progress: !opts.quiet,
  });

  // bpftrace's own errors, at the user's line and column where the source map knows it.
  const mapped: Diagnostic[] = [];
  const unmapped: string[] = [];
  for (const e of result.errors) {
    const span = e.line !== undefined ? mapPosition(compiled.program.sourceMap, e.line, e.colStart ?? 1, e.colEnd ?? (e.colStart ?? 1) + 1) : undefined;
    if (span) mapped.push(error(Codes.BpftraceError, e.message, span));
    else unmapped.push(e.message);
  }
  printDiagnostics(mapped, source, io);
  for (const m of unmapped) fail(io, m);
  if (mapped.length > 0) return 2;
  return result.exitCode;
}

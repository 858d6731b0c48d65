// Source-line probes: `uprobe:main.go:75`, `uprobe:/app/bin:main.go:75` and
// `pid$target::main.go:75:` attach at every copy of the line's code (one address per
// function and inlined copy, from the runner's DWARF facts), and name the parameters and
// locals in scope there as args.NAME and locals.NAME.

import type { ProbeDesc } from '../lang/ast.js';
import type { Span } from '../lang/source.js';
import { Codes, error, suggest, type Diagnostic } from '../lang/diagnostics.js';
import type { Facts, LineVar } from './facts.js';
import type { ProbeResult, ResolvedProbe } from './probes.js';
import { quoteFunc } from './quote.js';

/** A source line named in a probe: FILE:LINE (FILE with an extension, not a path). */
export interface LineSpec {
  /** 'main.go:75', as written: the key of the runner's facts. */
  readonly spec: string;
  readonly file: string;
  readonly line: number;
  /** From the file's first character to the line number's last. */
  readonly span: Span;
}

const FILE = /^[^/:][^:]*\.[A-Za-z0-9]+$/;

/** The parts at `i` and `i+1` as a source line, or null. */
export function lineSpecAt(desc: ProbeDesc, i: number): LineSpec | null {
  const f = desc.parts[i];
  const l = desc.parts[i + 1];
  if (!f || !l || !/^\d+$/.test(l.value) || !FILE.test(f.value)) return null;
  return { spec: `${f.value}:${l.value}`, file: f.value, line: Number(l.value), span: { start: f.span.start, end: l.span.end } };
}

/**
 * The source line a probe names, and the binary part's index when it names one: uprobe:F:L,
 * uprobe:/BIN:F:L, pid$target::F:L: (or :entry), pid$target:MODULE:F:L:.
 */
export function probeLineSpec(desc: ProbeDesc): { line: LineSpec; binaryPart: number | null } | null {
  const parts = desc.parts.map((p) => p.value);
  const head = parts[0] ?? '';
  if (head === 'uprobe' || head === 'u') {
    if (parts.length === 3) {
      const line = lineSpecAt(desc, 1);
      return line ? { line, binaryPart: null } : null;
    }
    if (parts.length === 4 && parts[1]!.startsWith('/')) {
      const line = lineSpecAt(desc, 2);
      return line ? { line, binaryPart: 1 } : null;
    }
    return null;
  }
  if (/^pid(\$target|\d+)$/.test(head) && parts.length === 5 && (parts[4] === '' || parts[4] === 'entry')) {
    const line = lineSpecAt(desc, 2);
    return line ? { line, binaryPart: parts[1] !== '' && parts[1] !== 'a.out' ? 1 : null } : null;
  }
  return null;
}


const shown = (bin: string) => bin.replace(/^\/proc\/\d+\/root/, '');

/** Resolves a source line in `binary` (host path) into attach points at each copy of its code. */
export function resolveLine(desc: ProbeDesc, line: LineSpec, binary: string, facts: Facts, base: Omit<ResolvedProbe, 'attach' | 'args' | 'binary' | 'func' | 'name'>): ProbeResult {
  const fail = (code: Parameters<typeof error>[0], msg: string, span: Span, hints?: string[]): ProbeResult => ({ probe: null, diagnostics: [error(code, msg, span, hints)] });
  const b = facts.binaries?.[binary];
  if (b && !b.go) return fail(Codes.ProbeTypeUnavailable, `source-line probes need a Go binary, and ${shown(binary)} is not one`, line.span);
  const found = b?.lines?.[line.spec];
  const listHint = `list the lines that can be probed with: trace list -c NAME '${line.file.split('/').pop()}:*'`;
  if (!found) return fail(Codes.NoSourceFile, `the source lines of ${shown(binary)} are not known, so ${line.spec} cannot be found`, line.span);
  switch (found.kind) {
    case 'no-dwarf':
      return fail(Codes.NoSourceFile, `${shown(binary)} has no DWARF line table to find ${line.spec} in: ${found.why}`, line.span);
    case 'no-file':
      return fail(Codes.NoSourceFile, `${shown(binary)} was not built from a file ${line.file}`, line.span, found.similar.length ? [`files of that name: ${found.similar.join(', ')}`] : [listHint]);
    case 'ambiguous':
      return fail(Codes.AmbiguousSourceFile, `${line.file} matches ${found.candidates.length} source files of ${shown(binary)}: ${found.candidates.slice(0, 6).join(', ')}${found.candidates.length > 6 ? ', ...' : ''}`, line.span, [`name more of its path, quoted as it holds '/': "${found.candidates[0]}":${line.line}`]);
    case 'no-code':
      return fail(Codes.NoCodeAtLine, `line ${line.line} of ${found.file} has no code to probe`, line.span, [found.near.length ? `the nearest lines with code are ${found.near.join(' and ')}` : listHint]);
    case 'found':
      break;
  }
  if (found.sites.length === 0) return fail(Codes.NoCodeAtLine, `line ${line.line} of ${found.file} has code, but in no function of the symbol table (stripped?)`, line.span);
  const offsets = found.sites.some((s) => s.offset !== 0);
  if (offsets && !facts.bpftrace.uprobeOffsets) {
    const { major, minor, patch } = facts.bpftrace.version;
    return fail(Codes.ProbeTypeUnavailable, `a probe on ${line.spec} attaches inside a function, which bpftrace ${major}.${minor}.${patch} cannot do`, line.span, [
      'install bpftrace 0.20 or newer: scripts/setup.sh puts one in /opt/ctrace/bin/bpftrace (or pass --bpftrace PATH)',
    ]);
  }
  const attach = found.sites.map((s) => `uprobe:${binary}:${quoteFunc(s.func)}${s.offset ? `+${s.offset}` : ''}`).join(',\n');
  const funcs = [...new Set(found.sites.map((s) => s.func))];
  return {
    probe: {
      ...base,
      attach,
      binary,
      func: funcs.length === 1 ? funcs[0]! : null,
      dynamicFunc: funcs.length === 1 ? null : { expr: 'func', transform: 'none' },
      name: String(line.line),
      args: { kind: 'go-line', where: line.spec, vars: mergeVars(found.sites.map((s) => s.vars)) },
    },
    diagnostics: [],
  };
}

/**
 * The variables of a line with several copies: one a program can read is in the same place in
 * every copy (the probe's body is the same for all of them).
 */
function mergeVars(sites: readonly (readonly LineVar[])[]): LineVar[] {
  const [first, ...rest] = sites;
  if (!first) return [];
  return first.map((v) => {
    if (!v.pieces) return v;
    for (const other of rest) {
      const o = other.find((x) => x.name === v.name && x.param === v.param);
      if (!o) return { ...v, pieces: null, why: `it is not in scope in all ${sites.length} copies of the line` };
      if (JSON.stringify(o.pieces) !== JSON.stringify(v.pieces)) return { ...v, pieces: null, why: `it is kept in different places in the ${sites.length} copies of the line` };
    }
    return v;
  });
}

/** The checker's view of `args.NAME` / `locals.NAME` in line probes: a diagnostic or the type. */
export function lineVarType(vars: readonly LineVar[], where: string, param: boolean, name: string, span: Span): { type: 'int' | 'string'; diagnostic?: undefined } | { diagnostic: Diagnostic } {
  const scope = param ? 'args' : 'locals';
  const own = vars.filter((v) => v.param === param);
  const v = own.find((x) => x.name === name);
  if (!v) {
    const names = own.map((x) => x.name);
    const near = suggest(name, names);
    return {
      diagnostic: error(Codes.BadArgument, `${where} has no ${param ? 'parameter' : 'local'} '${name}' in scope${names.length ? ` (it has ${names.join(', ')})` : ''}`, span, near ? [`did you mean ${scope}.${near}?`] : undefined),
    };
  }
  if (!v.pieces) return { diagnostic: error(Codes.VariableUnreadable, `${scope}.${name} (${v.goType}) cannot be read at ${where}: ${v.why ?? 'DWARF gives no location for it there'}`, span) };
  return { type: v.kind === 'string' ? 'string' : 'int' };
}

/** bpftrace for reading a line variable (`pieces` known to be there). */
export function lineVarExpr(v: LineVar): string {
  const read = (p: LineVar['pieces'] extends readonly (infer P)[] | null ? P : never, type: string) =>
    'reg' in p ? `(${type})reg("${p.reg}")` : `*(${type} *)(reg("sp") + ${p.sp})`;
  const p = v.pieces!;
  const bits = v.size * 8;
  switch (v.kind) {
    case 'string':
      // bpftrace's str(p, n) keeps n-1 bytes (room for the NUL): a Go string of length len needs len + 1.
      return `str(${read(p[0]!, 'uint64')}, ${read(p[1]!, 'int64')} + 1)`;
    case 'int':
      return read(p[0]!, `int${bits}`);
    case 'bool':
      return `(${read(p[0]!, 'uint8')} != 0)`;
    default:
      return read(p[0]!, `uint${bits}`);
  }
}

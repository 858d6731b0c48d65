// bpftrace's stderr -> structured diagnostics, and their positions mapped back to the user's
// source through the compiler's SourceMap.
//
// Shapes seen (0.17 and 0.23):
//   stdin:3:8-11: ERROR: Unknown function: foo        then the source line and a ~~~ underline
//   stdin:1:43-86: WARNING:                           message on the following lines (0.23)
//   ERROR: Error attaching probe: 'kprobe:do_sys_open'
//   WARNING: Addrspace is not set
//   No probes to attach                                (0.17, plain)
//   create_probe_event: open(...): No such file or directory   (plain context line)
//   ERROR|WARNING: ... couldn't set RLIMIT_MEMLOCK ...  (always; harmless here, dropped)

import type { SourceMap } from '../compiler/program.js';
import type { Span } from '../lang/source.js';

export type Severity = 'error' | 'warning' | 'info';

/** A position in the emitted bpftrace text, as bpftrace reports it. */
export interface BpftraceLocation {
  /** 'stdin' for -e programs, else the file name. */
  readonly file: string;
  /** 1-based line of the emitted bpftrace text. */
  readonly line: number;
  /** Last line, when bpftrace reports a range over lines. */
  readonly lineEnd?: number;
  /** 1-based columns [colStart, colEnd); 0 when bpftrace gave none. */
  readonly colStart: number;
  readonly colEnd: number;
}

/** One bpftrace message. Positioned ones carry the BpftraceLocation fields. */
export interface BpftraceDiagnostic extends Partial<BpftraceLocation> {
  readonly severity: Severity;
  /** One line: the message without bpftrace's source excerpt. */
  readonly message: string;
  /** The user's span, when the position maps through the source map. */
  readonly span?: Span;
  /** The raw stderr lines, for verbose output. */
  readonly raw: readonly string[];
}

const HEADER = /^(?<file>[^\s:][^:]*?):(?<line>\d+)(?:-(?<lineEnd>\d+))?(?::(?<c1>\d+)(?:-(?<c2>\d+))?)?: (?<sev>ERROR|WARNING): ?(?<msg>.*)$/;
const PLAIN = /^(?<sev>ERROR|WARNING): ?(?<msg>.*)$/;
const UNDERLINE = /^\s*~+\s*$/;

/** Positioned warnings about generated code that carry no meaning for the user. */
const NOISY_WARNINGS = ['Addrspace mismatch'];

/** Lines to drop: bpftrace prints this at every start here, and it is harmless. */
export function isNoise(line: string): boolean {
  return line.includes("couldn't set RLIMIT_MEMLOCK");
}

/**
 * Parses one positioned bpftrace message, `stdin:L:C-C: ERROR: text`. Columns are 1-based,
 * end exclusive (the ~~~ underline covers [colStart, colEnd)). Null for other lines.
 */
export function parseBpftraceError(
  line: string,
): { file: string; line: number; lineEnd?: number; colStart: number; colEnd: number; severity: 'error' | 'warning'; message: string } | null {
  const m = HEADER.exec(line);
  if (!m?.groups) return null;
  const g = m.groups;
  const l = Number(g['line']);
  const c1 = g['c1'] !== undefined ? Number(g['c1']) : 0;
  const c2 = g['c2'] !== undefined ? Number(g['c2']) : c1 > 0 ? c1 + 1 : 0;
  return {
    file: g['file']!,
    line: l,
    ...(g['lineEnd'] !== undefined ? { lineEnd: Number(g['lineEnd']) } : {}),
    colStart: c1,
    colEnd: c2,
    severity: g['sev'] === 'ERROR' ? 'error' : 'warning',
    message: (g['msg'] ?? '').trim(),
  };
}

/**
 * Maps a bpftrace position to the user's span: the narrowest source-map entry on that line
 * that contains the range, else the one overlapping it most, else the nearest on the line.
 */
export function mapToSource(loc: { line: number; colStart: number; colEnd: number }, map: SourceMap): Span | undefined {
  const onLine = map.entries.filter((e) => e.line === loc.line);
  if (onLine.length === 0) return undefined;
  const start = loc.colStart;
  const end = Math.max(loc.colEnd, start + 1);
  const containing = onLine.filter((e) => e.colStart <= start && e.colEnd >= end);
  if (containing.length > 0) return containing.reduce((a, b) => (b.colEnd - b.colStart < a.colEnd - a.colStart ? b : a)).span;
  const overlap = (e: { colStart: number; colEnd: number }) => Math.min(e.colEnd, end) - Math.max(e.colStart, start);
  const best = onLine.reduce((a, b) => (overlap(b) > overlap(a) ? b : a));
  if (overlap(best) > 0) return best.span;
  const dist = (e: { colStart: number; colEnd: number }) => (e.colEnd <= start ? start - e.colEnd : e.colStart - end);
  return onLine.reduce((a, b) => (dist(b) < dist(a) ? b : a)).span;
}

/**
 * Groups stderr lines into diagnostics. A positioned header owns the lines after it (a
 * message continuation, then the source excerpt and underline, which are dropped); plain
 * `ERROR:`/`WARNING:` lines stand alone; other lines become `info` diagnostics.
 */
export class StderrParser {
  private current: { diag: Omit<BpftraceDiagnostic, 'raw' | 'message'>; message: string[]; raw: string[] } | null = null;

  constructor(private readonly sourceMap?: SourceMap) {}

  /** Feeds one line; returns diagnostics completed by it. */
  push(line: string): BpftraceDiagnostic[] {
    if (isNoise(line)) return [];
    const head = parseBpftraceError(line);
    if (head) {
      const done = this.flush();
      const location: BpftraceLocation = {
        file: head.file,
        line: head.line,
        ...(head.lineEnd !== undefined ? { lineEnd: head.lineEnd } : {}),
        colStart: head.colStart,
        colEnd: head.colEnd,
      };
      const span = this.sourceMap ? mapToSource(location, this.sourceMap) : undefined;
      this.current = {
        diag: { severity: head.severity, ...location, ...(span ? { span } : {}) },
        message: head.message ? [head.message] : [],
        raw: [line],
      };
      return done;
    }
    const plain = PLAIN.exec(line);
    if (plain?.groups) {
      const done = this.flush();
      done.push({ severity: plain.groups['sev'] === 'ERROR' ? 'error' : 'warning', message: (plain.groups['msg'] ?? '').trim(), raw: [line] });
      return done;
    }
    if (this.current) {
      this.current.raw.push(line);
      if (UNDERLINE.test(line)) return this.flush();
      this.current.message.push(line);
      return [];
    }
    if (line.trim() === '') return [];
    return [{ severity: 'info', message: line.trim(), raw: [line] }];
  }

  /** The stream ended. */
  end(): BpftraceDiagnostic[] {
    return this.flush();
  }

  private flush(): BpftraceDiagnostic[] {
    const c = this.current;
    if (!c) return [];
    this.current = null;
    // The line before the underline is bpftrace's copy of the source line: not part of the message.
    const underlined = UNDERLINE.test(c.raw[c.raw.length - 1] ?? '');
    const text = underlined ? c.message.slice(0, -1) : c.message;
    const message = text.map((l) => l.trim()).filter((l) => l !== '').join(' ');
    // bpftrace 0.23 warns when `&&` joins a kernel-side value (our container filter) with a
    // user-memory one (e.g. goid): integers either way, so nothing the user can act on.
    if (c.diag.severity === 'warning' && NOISY_WARNINGS.includes(message)) return [];
    return [{ ...c.diag, message, raw: c.raw }];
  }
}

/** Parses a whole stderr text. */
export function parseStderr(text: string, sourceMap?: SourceMap): BpftraceDiagnostic[] {
  const p = new StderrParser(sourceMap);
  const out: BpftraceDiagnostic[] = [];
  for (const line of text.split('\n')) out.push(...p.push(line.replace(/\r$/, '')));
  out.push(...p.end());
  return out;
}

/** One line for the user, e.g. `bpftrace: error: Unknown function: foo (line 3:8)`. */
export function formatBpftraceDiagnostic(d: BpftraceDiagnostic): string {
  const where = d.line !== undefined ? ` (bpftrace program line ${d.line}${d.colStart ? `:${d.colStart}` : ''})` : '';
  return d.severity === 'info' ? `bpftrace: ${d.message}` : `bpftrace: ${d.severity}: ${d.message}${where}`;
}

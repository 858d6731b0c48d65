// Terminal output shared by the commands: colour decisions (NO_COLOR, FORCE_COLOR) and
// diagnostic printing. Results go to stdout, diagnostics to stderr.

import { Chalk, type ChalkInstance } from 'chalk';
import { formatDiagnostic, type Diagnostic, type Painter } from '../lang/diagnostics.js';
import type { Source } from '../lang/source.js';

export interface Streams {
  readonly stdout: NodeJS.WritableStream & { isTTY?: boolean };
  readonly stderr: NodeJS.WritableStream & { isTTY?: boolean };
  readonly env: NodeJS.ProcessEnv;
}

export function useColor(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR !== undefined) return env.FORCE_COLOR !== '0' && env.FORCE_COLOR !== 'false';
  return stream.isTTY === true && env.TERM !== 'dumb';
}

export function chalkFor(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv): ChalkInstance {
  return new Chalk({ level: useColor(stream, env) ? 1 : 0 });
}

export function painter(c: ChalkInstance): Painter {
  return {
    severity: (sev, t) => (sev === 'error' ? c.red.bold(t) : sev === 'warning' ? c.yellow.bold(t) : c.cyan.bold(t)),
    bold: (t) => c.bold(t),
    note: (t) => c.cyan(t),
    caret: (t) => c.green.bold(t),
  };
}

export function printDiagnostics(diags: readonly Diagnostic[], source: Source, io: Streams): void {
  const p = painter(chalkFor(io.stderr, io.env));
  for (const d of diags) io.stderr.write(formatDiagnostic(d, source, p) + '\n');
}

/** One clear sentence on stderr, as `trace: ...`. */
export function fail(io: Streams, message: string): void {
  const c = chalkFor(io.stderr, io.env);
  io.stderr.write(`${c.red.bold('trace:')} ${message}\n`);
}

/** Parses "2s", "500ms", "1m", "1.5s" or a bare number of seconds into milliseconds. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  const scale = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
  const ms = Math.round(n * scale);
  return ms > 0 ? ms : undefined;
}

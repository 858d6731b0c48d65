// Whether to colour, and the few styles the renderers use. Follows Node's own rule:
// FORCE_COLOR wins over NO_COLOR (https://no-color.org), then TERM=dumb, then isatty.

import { Chalk, type ChalkInstance } from 'chalk';

export function colorEnabled(stream: { isTTY?: boolean } | undefined, env: NodeJS.ProcessEnv = process.env): boolean {
  const force = env['FORCE_COLOR'];
  if (force !== undefined) return !(force === '0' || force.toLowerCase() === 'false');
  const no = env['NO_COLOR'];
  if (no !== undefined && no !== '') return false;
  if (env['TERM'] === 'dumb') return false;
  return stream?.isTTY === true;
}

export interface Paint {
  readonly enabled: boolean;
  /** Aggregation names above tables and distributions. */
  title(s: string): string;
  /** Table headers and the distribution header. */
  header(s: string): string;
  /** The @ bars of a distribution. */
  bar(s: string): string;
  dim(s: string): string;
  warn(s: string): string;
  error(s: string): string;
}

export function painter(enabled: boolean, env: NodeJS.ProcessEnv = process.env): Paint {
  const forced = Number(env['FORCE_COLOR']);
  const level = !enabled ? 0 : forced >= 1 && forced <= 3 ? (forced as 1 | 2 | 3) : 1;
  const c: ChalkInstance = new Chalk({ level });
  return {
    enabled,
    title: (s) => c.bold(s),
    header: (s) => c.bold.cyan(s),
    bar: (s) => c.green(s),
    dim: (s) => c.dim(s),
    warn: (s) => c.yellow(s),
    error: (s) => c.red(s),
  };
}

export const plainPaint: Paint = painter(false, {});

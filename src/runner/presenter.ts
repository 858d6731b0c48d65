// Writes a run's outputs to stdout/stderr: printf text as it comes, snapshots redrawn in place
// on a terminal (appended under a time header when piped), printa with its format, the
// exit-time aggregations once, and a transient progress line on a terminal's stderr.
//
// With `batch`, stdout text is gathered and written once per turn of the event loop (at the
// latest; sooner past 64 KiB) instead of one write(2) per event. Anything written to stderr
// first flushes what stdout holds, so the two interleave as they were produced; the owner
// calls flush() when the run ends.

import type { CompiledProgram } from '../compiler/program.js';
import type { Aggregation } from './aggregate.js';
import { formatBpftraceDiagnostic, type BpftraceDiagnostic } from './diagnostics.js';
import { colorEnabled, painter, type Paint } from './render/color.js';
import { aggregationsJson, jsonLine, printfJson, snapshotJson } from './render/json.js';
import { formatPrinta } from './render/printa.js';
import { renderAggregations } from './render/table.js';
import type { Output } from './stream.js';

export interface OutStream {
  write(s: string): unknown;
  readonly isTTY?: boolean;
  readonly columns?: number;
}

export interface PresenterOptions {
  readonly output: 'table' | 'json';
  readonly stdout: OutStream;
  readonly stderr: OutStream;
  readonly env?: NodeJS.ProcessEnv;
  /** Show "attaching N probes..." on a terminal's stderr (default true). */
  readonly progress?: boolean;
  /** Clock for snapshot headers (tests pin it). */
  readonly now?: () => Date;
  /** Coalesce stdout writes within a turn of the event loop (see the note at the top); the owner must flush(). */
  readonly batch?: boolean;
}

/** Buffered stdout past this is written at once. */
const BATCH_BYTES = 64 * 1024;

const ANSI = /\u001b\[[0-9;?]*[A-Za-z]/g;
const CLEAR_LINE = '\r\u001b[K';

/** Terminal rows a text occupies at `columns` width (wrapped lines count more than once). */
export function screenRows(text: string, columns: number | undefined): number {
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const w = columns && columns > 0 ? columns : Infinity;
  return lines.reduce((n, l) => n + Math.max(1, Math.ceil(l.replace(ANSI, '').length / w)), 0);
}

export class Presenter {
  private readonly paint: Paint;
  private readonly json: boolean;
  private readonly live: boolean;
  private readonly now: () => Date;
  /** Rows of the last snapshot still on screen right above the cursor; 0 when anything else was written since. */
  private snapRows = 0;
  private progressShown = false;
  private wroteAny = false;
  /** stdout was closed by its reader (EPIPE): nothing more goes there. */
  private stdoutClosed = false;
  /** stdout text not yet written (batch mode). */
  private pending: string[] = [];
  private pendingBytes = 0;
  private flushScheduled: NodeJS.Immediate | null = null;

  constructor(
    private readonly program: CompiledProgram,
    private readonly opts: PresenterOptions,
  ) {
    const env = opts.env ?? process.env;
    this.json = opts.output === 'json';
    this.paint = painter(!this.json && colorEnabled(opts.stdout, env), env);
    this.live = !this.json && opts.stdout.isTTY === true && env['TERM'] !== 'dumb';
    this.now = opts.now ?? (() => new Date());
  }

  closeStdout(): void {
    this.stdoutClosed = true;
    this.pending = [];
    this.pendingBytes = 0;
  }

  /** Writes what stdout holds (batch mode), in one write. */
  flush(): void {
    if (this.flushScheduled !== null) {
      clearImmediate(this.flushScheduled);
      this.flushScheduled = null;
    }
    if (this.pending.length === 0) return;
    const text = this.pending.length === 1 ? this.pending[0]! : this.pending.join('');
    this.pending = [];
    this.pendingBytes = 0;
    if (!this.stdoutClosed) this.opts.stdout.write(text);
  }

  private writeStdout(s: string): void {
    if (this.opts.batch !== true) {
      this.opts.stdout.write(s);
      return;
    }
    this.pending.push(s);
    this.pendingBytes += s.length;
    if (this.pendingBytes >= BATCH_BYTES) this.flush();
    else if (this.flushScheduled === null) this.flushScheduled = setImmediate(() => this.flush());
  }

  private writeStderr(s: string): void {
    this.flush();
    this.opts.stderr.write(s);
  }

  private out(s: string): void {
    if (s === '' || this.stdoutClosed) return;
    this.clearProgress();
    this.writeStdout(s);
    this.wroteAny = true;
  }

  private err(s: string): void {
    this.clearProgress();
    this.writeStderr(s);
    // Same terminal: what we drew above is no longer right above the cursor.
    if (this.opts.stderr.isTTY) this.snapRows = 0;
  }

  progress(text: string): void {
    if (this.opts.progress === false || this.opts.stderr.isTTY !== true) return;
    this.writeStderr(CLEAR_LINE + text);
    this.progressShown = true;
  }

  clearProgress(): void {
    if (!this.progressShown) return;
    this.progressShown = false;
    this.writeStderr(CLEAR_LINE);
  }

  handle(o: Output): void {
    switch (o.kind) {
      case 'attached':
        this.progress(`attaching ${o.probes} probe${o.probes === 1 ? '' : 's'}...`);
        return;
      case 'ready':
        this.clearProgress();
        return;
      case 'text':
        this.snapRows = 0;
        this.out(this.json ? printfJson(o.text) : o.text);
        return;
      case 'snapshot':
        this.snapshot(o.aggregations);
        return;
      case 'printa':
        this.snapRows = 0;
        if (this.json) this.out(aggregationsJson(o.aggregations, 'printa'));
        else this.out(o.format === null ? renderAggregations(o.aggregations, this.paint) : formatPrinta(o.format, o.aggregations, this.paint));
        return;
      case 'print':
        this.snapRows = 0;
        this.out(this.json ? aggregationsJson(o.aggregations, 'print') : renderAggregations(o.aggregations, this.paint));
        return;
      case 'lost':
        return; // summed and reported once at the end
      case 'diagnostic':
        this.diagnostic(o.diagnostic);
        return;
      case 'notice':
        this.err(`trace: ${o.message}\n`);
        return;
    }
  }

  diagnostic(d: BpftraceDiagnostic): void {
    const line = formatBpftraceDiagnostic(d);
    this.err((d.severity === 'error' ? this.errPaint().error(line) : d.severity === 'warning' ? this.errPaint().warn(line) : line) + '\n');
  }

  private errPaint(): Paint {
    return painter(colorEnabled(this.opts.stderr, this.opts.env ?? process.env), this.opts.env ?? process.env);
  }

  private snapshot(aggs: readonly Aggregation[]): void {
    if (this.json) {
      this.out(snapshotJson(this.now()) + aggregationsJson(aggs, 'snapshot'));
      return;
    }
    const body = renderAggregations(aggs, this.paint);
    if (this.live) {
      // Redraw in place: move up over the previous snapshot and clear to the end of the screen.
      const up = this.snapRows > 0 ? `\u001b[${this.snapRows}A\r\u001b[J` : '';
      this.clearProgress();
      if (this.stdoutClosed) return;
      this.writeStdout(up + body);
      this.wroteAny = true;
      this.snapRows = screenRows(body, this.opts.stdout.columns);
      return;
    }
    const header = this.program.options.quiet ? '' : this.paint.dim(`--- ${this.now().toTimeString().slice(0, 8)} ---`) + '\n';
    this.out(header + body);
  }

  /** bpftrace's exit-time aggregations, shown once. */
  final(aggs: readonly Aggregation[]): void {
    this.snapRows = 0;
    if (aggs.length === 0) return;
    if (this.json) {
      this.out(aggregationsJson(aggs, 'final'));
      return;
    }
    // DTrace separates the exit-time aggregations from earlier output by a blank line.
    this.out((this.wroteAny ? '\n' : '') + renderAggregations(aggs, this.paint));
  }

  lost(total: number): void {
    if (total <= 0) return;
    if (this.json) this.out(jsonLine({ type: 'lost', events: total }));
    this.err(this.errPaint().warn(`${total} event${total === 1 ? '' : 's'} lost`) + '\n');
  }

  message(text: string): void {
    this.err(text + '\n');
  }
}

// `trace repl`: an interactive session. Clauses typed at the prompt are compiled at once
// against the target and accumulate into the session's program; `:start` attaches, and while
// running every change re-attaches with the new program, keeping the aggregations gathered
// (store.ts). On a terminal: prompts, Tab completion, history, Ctrl-C/Ctrl-D. On any other
// stdin: the same commands line by line, without prompts, so that it can be scripted.

import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { createInterface, type Interface } from 'node:readline';
import { REFERENCE_FACTS } from '../compiler/facts.js';
import { mapPosition } from '../compiler/emitter.js';
import type { CompiledProgram } from '../compiler/program.js';
import type { Aggregation } from '../runner/aggregate.js';
import { formatDiagnostic, hasErrors, type Diagnostic } from '../lang/diagnostics.js';
import { parse } from '../lang/parse.js';
import { Source } from '../lang/source.js';
import { findBpftrace } from '../runner/bpftrace.js';
import { listProbes } from '../runner/listing.js';
import type { OutStream } from '../runner/presenter.js';
import { colorEnabled, painter as tablePainter } from '../runner/render/color.js';
import { renderAggregations } from '../runner/render/table.js';
import type { RunResult } from '../runner/session.js';
import { bpftraceFacts } from '../helper/prepare.js';
import { chalkFor, painter as diagPainter, type Streams } from '../commands/output.js';
import { helpText, parseCommand, type Command } from './commands.js';
import { complete, type CompletionSources } from './complete.js';
import { compileProgram, describeSpec, describeTarget, hasTarget, prepareSession, resolveSpec, targetRequest, type CompileContext, type CompileOutcome, type TargetSpec } from './compile.js';
import { historyPath, HISTORY_SIZE, loadHistory, saveHistory } from './history.js';
import { LineAccumulator, oneLine, programText, splitItems, type Item, type SplitItem } from './input.js';
import type { HelperSession } from './helper-run.js';
import { LiveRun, type Attachment } from './live.js';
import { AggregationStore } from './store.js';

export interface ReplOptions {
  /** What to trace; container and pid both null: the whole host. */
  readonly target: TargetSpec;
  readonly bpftrace?: string;
  readonly hostPids: boolean;
  readonly destructive: boolean;
  /** Through helpers (-H, or not root here): they compile and run; nothing is resolved here. */
  readonly helpers?: HelperSession;
}

export interface ReplStreams extends Streams {
  readonly stdin: NodeJS.ReadableStream & { isTTY?: boolean };
}

/** How often a running session takes a snapshot of the aggregations (for :print), unless :interval is shorter. */
export const SNAPSHOT_MS = 1000;
const PROMPT = 'trace> ';
const MORE = '...> ';

/** Where a span of the compiled text came from: an item of the session, shown with its own source. */
interface Piece {
  readonly start: number;
  readonly end: number;
  readonly source: Source;
  /** Offset in `source` of the piece's start. */
  readonly base: number;
}

interface Layout {
  readonly text: string;
  readonly pieces: readonly Piece[];
}

/** The program text of `items` and, for each, where its diagnostics are shown. */
function layoutOf(items: readonly Item[], sourceOf: (i: number) => { source: Source; base: number }): Layout {
  let text = '';
  const pieces: Piece[] = [];
  items.forEach((item, i) => {
    const { source, base } = sourceOf(i);
    pieces.push({ start: text.length, end: text.length + item.text.length, source, base });
    text += item.text + '\n';
  });
  return { text, pieces };
}

const clauseSource = (items: readonly Item[]) => (i: number) => ({ source: new Source(`clause ${i + 1}`, items[i]!.text), base: 0 });

const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });

export class Repl {
  private readonly tty: boolean;
  private rl!: Interface;
  private readonly acc = new LineAccumulator();
  private items: Item[] = [];
  private readonly store = new AggregationStore();
  private live: Attachment | null = null;
  /** Resolves when the run has ended and its aggregations are folded into the store. */
  private liveEnded: Promise<void> | null = null;
  private streamMs: number | null = null;
  private lastStream = 0;
  private listing: Promise<Omit<CompletionSources, 'aggregations'>> | null = null;
  private promptShown = false;
  private opAbort: AbortController | null = null;
  private quitting = false;
  private editing: number | null = null;
  private editText: string | null = null;
  private targetStale = false;
  private status = 0;
  private readonly queue: (string | null)[] = [];
  private wake: (() => void) | null = null;
  private closed = false;
  private readonly histPath: string;

  constructor(
    private readonly io: ReplStreams,
    private ctx: CompileContext,
    private spec: TargetSpec,
    private readonly opts: ReplOptions,
  ) {
    this.tty = io.stdin.isTTY === true && io.stdout.isTTY === true;
    this.histPath = historyPath(io.env);
  }

  // ---- output ----

  /** Writes without tearing the prompt: on a terminal with the prompt shown, it is redrawn below. */
  private write(which: 'out' | 'err', text: string): void {
    if (text === '') return;
    const stream = which === 'out' ? this.io.stdout : this.io.stderr;
    if (this.tty && this.promptShown && !this.closed) {
      this.io.stdout.write('\r\u001b[K');
      stream.write(text.endsWith('\n') ? text : text + '\n');
      this.rl.prompt(true);
    } else stream.write(text);
  }

  private info(message: string): void {
    this.write('err', message + '\n');
  }

  private problem(message: string, code = 2): void {
    const c = chalkFor(this.io.stderr, this.io.env);
    this.write('err', `${c.red.bold('trace:')} ${message}\n`);
    this.fail(code);
  }

  private fail(code: number): void {
    if (code === 1 || this.status === 0) this.status = code;
  }

  private printDiagnostics(diags: readonly Diagnostic[], layout: Layout, fallbackName = '<session>'): void {
    if (diags.length === 0) return;
    const paint = diagPainter(chalkFor(this.io.stderr, this.io.env));
    const pieceAt = (offset: number): Piece | undefined =>
      layout.pieces.find((p) => offset >= p.start && offset < p.end) ?? layout.pieces.find((p) => offset === p.end);
    const out: string[] = [];
    for (const d of diags) {
      const piece = pieceAt(d.span.start);
      if (!piece) {
        out.push(formatDiagnostic(d, new Source(fallbackName, layout.text), paint));
        continue;
      }
      const shift = (s: { start: number; end: number }) => ({ start: s.start - piece.start + piece.base, end: Math.min(s.end, piece.end) - piece.start + piece.base });
      const related = (d.related ?? []).filter((r) => pieceAt(r.span.start) === piece).map((r) => ({ ...r, span: shift(r.span) }));
      out.push(formatDiagnostic({ ...d, span: shift(d.span), related }, piece.source, paint));
      for (const r of d.related ?? []) {
        const other = pieceAt(r.span.start);
        if (!other || other === piece) continue;
        const at = other.source.lineCol(r.span.start - other.start + other.base);
        out.push(`${other.source.name}:${at.line}:${at.col}: ${paint.note('note')}: ${r.message}`);
      }
    }
    this.write('err', out.join('\n') + '\n');
  }

  private render(aggs: ReturnType<AggregationStore['merged']>): string {
    return renderAggregations(aggs, tablePainter(colorEnabled(this.io.stdout, this.io.env), this.io.env));
  }

  // ---- the loop ----

  async run(): Promise<number> {
    const completer = (line: string, cb: (err: null, result: [string[], string]) => void): void => {
      this.completionSources().then(
        (src) => cb(null, complete(line, this.acc.pending, src)),
        () => cb(null, [[], line]),
      );
    };
    this.rl = createInterface({
      input: this.io.stdin,
      output: this.io.stdout,
      terminal: this.tty,
      ...(this.tty ? { completer, history: loadHistory(this.histPath), historySize: HISTORY_SIZE, removeHistoryDuplicates: true } : {}),
      prompt: PROMPT,
    });
    this.rl.on('line', (l) => this.enqueue(l));
    this.rl.on('close', () => {
      this.closed = true;
      this.enqueue(null);
    });
    if (this.tty) {
      this.rl.on('SIGINT', () => this.interrupt());
      this.rl.on('history', (h: string[]) => saveHistory(this.histPath, h));
    }
    const onSigint = () => this.interrupt();
    const onSigterm = () => {
      this.quitting = true;
      this.opAbort?.abort();
      this.enqueue(null);
    };
    process.on('SIGINT', onSigint);
    process.on('SIGTERM', onSigterm);
    this.startListing();
    if (this.tty) this.info(this.banner());
    try {
      for (;;) {
        // A line typed ahead while busy is already on the screen: no prompt before it.
        if (this.queue.length === 0) this.prompt();
        const line = await this.next();
        this.promptShown = false;
        if (line === null) break;
        await this.handleLine(line);
        if (this.quitting) break;
      }
      await this.finish();
    } finally {
      process.off('SIGINT', onSigint);
      process.off('SIGTERM', onSigterm);
      this.closed = true;
      this.rl.close();
      this.opts.helpers?.close();
    }
    return this.tty ? 0 : this.status;
  }

  /** What the session traces, in words. */
  private tracing(): string {
    const h = this.opts.helpers;
    if (h) return `${describeSpec(this.spec)} through ${h.where}`;
    const [t, ...more] = this.ctx.targets;
    return t ? `${describeTarget(t)}${more.length ? ` and ${more.length} more` : ''}` : 'the host';
  }

  private banner(): string {
    const whole = !this.opts.helpers && !this.ctx.targets[0];
    return [
      `trace repl: tracing ${this.tracing()}${whole ? ' (no -c/-p)' : ''}${this.ctx.bpftrace || this.opts.helpers ? '' : ' -- bpftrace not found: clauses are checked, nothing runs'}`,
      'Type a clause to add it, :start to attach, :help for the commands, Ctrl-D to leave.',
    ].join('\n');
  }

  private prompt(): void {
    if (!this.tty || this.closed) return;
    this.rl.setPrompt(this.acc.continuing ? MORE : PROMPT);
    this.rl.prompt(true);
    this.promptShown = true;
    if (this.editText !== null) {
      const t = this.editText;
      this.editText = null;
      this.rl.write(t);
    }
  }

  private enqueue(line: string | null): void {
    this.queue.push(line);
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  private next(): Promise<string | null> {
    if (this.queue.length) return Promise.resolve(this.queue.shift()!);
    return new Promise((resolve) => {
      this.wake = () => resolve(this.queue.length ? this.queue.shift()! : null);
    });
  }

  /** Ctrl-C: stops a running trace or the command in progress; at an idle prompt, clears the line. */
  private interrupt(): void {
    const op = this.opAbort;
    op?.abort();
    if (this.live) {
      if (this.tty && this.promptShown) this.io.stdout.write('^C');
      void this.detach().then(() => this.info('stopped: detached from the target; the clauses and aggregations are kept (:start, :print)'));
      return;
    }
    if (!this.tty) {
      // Not at a terminal (a script): nothing running, so Ctrl-C (SIGINT) ends the session.
      this.quitting = true;
      this.enqueue(null);
      return;
    }
    if (op) return;
    this.acc.reset();
    this.editing = null;
    const rl = this.rl as unknown as { line: string; cursor: number };
    this.io.stdout.write('^C\n');
    rl.line = '';
    rl.cursor = 0;
    this.promptShown = false;
    this.prompt();
  }

  private async handleLine(line: string): Promise<void> {
    const ev = this.acc.push(line);
    switch (ev.kind) {
      case 'nothing':
      case 'more':
        return;
      case 'command':
        // A command typed instead of the edited clause ends the edit.
        if (!this.acc.continuing) this.editing = null;
        return this.withOp(() => this.command(ev.line));
      case 'chunk': {
        const at = this.editing;
        this.editing = null;
        return this.withOp(async () => {
          if ((await this.addText(ev.text, at)) || at === null || !this.tty) return;
          // A failed edit stays an edit: the text goes back in the line to be fixed.
          this.editing = at;
          this.editText = oneLine(ev.text);
          this.info(`still editing clause ${at + 1} (Ctrl-C cancels)`);
        });
      }
    }
  }

  private async withOp(f: () => Promise<void>): Promise<void> {
    this.opAbort = new AbortController();
    try {
      await f();
    } finally {
      this.opAbort = null;
    }
  }

  private async finish(): Promise<void> {
    const pending = this.acc.flush();
    if (pending !== null && !this.quitting) await this.withOp(async () => void (await this.addText(pending, this.editing)));
    if (this.tty) this.io.stdout.write('\n');
    await this.detach();
    const aggs = this.store.merged();
    if (aggs.length) this.io.stdout.write(this.render(aggs));
  }

  // ---- clauses ----

  /** Checks a program (the items of `layout`) against the target: diagnostics at once. */
  private check(layout: Layout, ctx: CompileContext = this.ctx): Promise<CompileOutcome> {
    if (this.opts.helpers) return this.opts.helpers.compile(this.spec, layout.text, this.snapshotMs());
    return compileProgram(ctx, new Source('<session>', layout.text), this.snapshotMs());
  }

  /**
   * The program to run for `items`, compiled as `trace FILE.d` compiles the saved session
   * (run.ts's prepareRun, the target resolved afresh), with the snapshot interval. Null when
   * it cannot be (what prepareRun said is shown).
   */
  private async runnable(items: readonly Item[]): Promise<CompiledProgram | null> {
    if (this.opts.helpers) {
      const c = await this.opts.helpers.compile(this.spec, programText(items), this.snapshotMs());
      if (c.ok) return c.program;
      this.printDiagnostics(c.diagnostics, this.sessionLayout(items));
      if (c.message) this.problem(c.message, 1);
      else this.fail(2);
      return null;
    }
    const r = await prepareSession({ ...this.opts, spec: this.spec }, programText(items), this.snapshotMs(), false, this.io);
    if (!r.ok) {
      this.write('err', r.output);
      this.fail(r.exitCode);
      return null;
    }
    const [was, now] = [this.ctx.targets[0], r.prepared.targets[0]];
    if (was?.hostPid !== now?.hostPid || was?.startTime !== now?.startTime) {
      this.ctx = { ...this.ctx, targets: r.prepared.targets };
      this.startListing();
    }
    return r.prepared.compiled;
  }

  private snapshotMs(): number {
    return Math.min(this.streamMs ?? SNAPSHOT_MS, SNAPSHOT_MS);
  }

  /**
   * Checks `items` as the new program (diagnostics shown per `layout`) and makes it the
   * session's; while running, re-attaches, and if the new program cannot run, goes back.
   */
  private async adopt(items: Item[], layout: Layout, what: string): Promise<boolean> {
    const r = await this.check(layout);
    this.printDiagnostics(r.diagnostics, layout);
    if (!r.ok) {
      if (r.message) this.problem(r.message);
      else this.fail(2);
      return false;
    }
    const before = this.items;
    this.items = items;
    this.info(what);
    if (!this.live) return true;
    if (items.every((i) => i.kind !== 'clause')) {
      await this.detach();
      this.info('no clauses left: detached (the aggregations are kept)');
      return true;
    }
    const program = await this.runnable(items);
    if (!program) {
      this.items = before;
      this.problem('the change is undone; still running the previous program');
      return false;
    }
    if (await this.reattach(program, this.sessionLayout(items))) {
      this.info(`re-attached with ${this.clauseCount()}; the aggregations gathered so far are kept`);
      return true;
    }
    // Ctrl-C while re-attaching: the change stays, detached.
    if (this.opAbort?.signal.aborted) return true;
    this.items = before;
    this.problem('bpftrace could not run the new program: the change is undone');
    if (!this.live && before.some((i) => i.kind === 'clause')) {
      const again = await this.runnable(before);
      if (again && (await this.attach(again, this.sessionLayout(before)))) this.info(`re-attached with the previous ${this.clauseCount()}`);
    }
    return false;
  }

  private clauseCount(): string {
    const n = this.items.filter((i) => i.kind === 'clause').length;
    return `${n} clause${n === 1 ? '' : 's'}`;
  }

  private sessionLayout(items: readonly Item[] = this.items): Layout {
    return layoutOf(items, clauseSource(items));
  }

  /** Typed text: its items are added (or replace item `at`, for :edit). False when refused. */
  private async addText(text: string, at: number | null): Promise<boolean> {
    const input = new Source('<input>', text);
    const parsed = parse(input);
    if (hasErrors(parsed.diagnostics)) {
      this.printDiagnostics(parsed.diagnostics, { text, pieces: [{ start: 0, end: text.length, source: input, base: 0 }] });
      this.fail(2);
      return false;
    }
    const split = splitItems(text);
    if (split.length === 0) return true;
    if (at !== null && at >= this.items.length) {
      this.problem(`there is no clause ${at + 1} any more (:list)`);
      return true;
    }
    const items = at === null ? [...this.items, ...split] : [...this.items.slice(0, at), ...split, ...this.items.slice(at + 1)];
    const first = at ?? this.items.length;
    const layout = layoutOf(items, (i) =>
      i >= first && i < first + split.length ? { source: input, base: split[i - first]!.start } : { source: new Source(`clause ${i + 1}`, items[i]!.text), base: 0 },
    );
    const numbers = split.map((_, k) => first + k + 1).join(', ');
    const what = at === null ? `added as ${split.length === 1 ? 'clause' : 'items'} ${numbers}` : `clause ${at + 1} replaced`;
    return this.adopt(items, layout, what);
  }

  // ---- running ----

  private outStream(which: 'out' | 'err'): OutStream {
    const s = which === 'out' ? this.io.stdout : this.io.stderr;
    return { write: (t: string) => this.write(which, t), isTTY: s.isTTY === true, columns: (s as { columns?: number }).columns };
  }

  /** Starts a run of `program`; true once attached. */
  private async attach(program: CompiledProgram, layout: Layout): Promise<boolean> {
    const bpftrace = this.ctx.bpftrace;
    const helpers = this.opts.helpers;
    if (!bpftrace && !helpers) {
      this.problem('bpftrace was not found, so nothing can run: run scripts/setup.sh, or start trace repl with --bpftrace PATH', 1);
      return false;
    }
    for (const m of this.store.beginRun(program.aggregations)) this.info(m);
    const onSnapshot = (aggs: readonly Aggregation[]) => {
      if (this.live !== live) return;
      this.store.snapshot(aggs);
      this.stream();
    };
    const streams = { env: this.io.env, stdout: this.outStream('out'), stderr: this.outStream('err'), onSnapshot };
    const live: Attachment = helpers
      ? helpers.start(program, this.spec, layout.text, this.snapshotMs(), { ...streams, onHostMessage: (m) => this.problem(m, 1) })
      : new LiveRun(program, {
          ...streams,
          bpftrace: bpftrace!,
          targets: this.ctx.targets,
          onTargetGone: (reason) => {
            this.targetStale = true;
            this.problem(`${reason}; detached (the clauses and aggregations are kept)`, 1);
          },
        });
    this.live = live;
    this.liveEnded = live.done.then((r) => this.ended(live, r, layout));
    const signal = this.opAbort?.signal;
    const aborted = new Promise<'aborted'>((resolve) => {
      if (signal?.aborted) resolve('aborted');
      signal?.addEventListener('abort', () => resolve('aborted'), { once: true });
    });
    const attached = await Promise.race([live.attached, aborted]);
    if (attached === true) {
      this.lastStream = Date.now();
      return true;
    }
    if (attached === 'aborted') await this.detach();
    else await this.liveEnded;
    return false;
  }

  /** A run ended (asked to, or not): its aggregations join the store, its errors are shown. */
  private ended(live: Attachment, result: RunResult, layout: Layout): void {
    this.store.endRun(result.aggregations);
    if (this.live === live) {
      this.live = null;
      this.liveEnded = null;
    }
    const unmapped: string[] = [];
    const mapped: Diagnostic[] = [];
    for (const e of result.errors) {
      const span = e.line !== undefined ? mapPosition(live.program.sourceMap, e.line, e.colStart ?? 1, e.colEnd ?? (e.colStart ?? 1) + 1) : undefined;
      if (span) mapped.push({ code: 'CT4001', severity: 'error', message: e.message, span });
      else unmapped.push(e.message);
    }
    this.printDiagnostics(mapped, layout);
    for (const m of unmapped) this.problem(m, 1);
    if (result.exitCode !== 0 && unmapped.length === 0 && mapped.length === 0 && result.message) this.problem(result.message, 1);
    if (result.exitCode !== 0) this.fail(1);
    else if (!live.stopRequested && result.stoppedBy === 'exit') this.info('the trace ended (the program exited); the aggregations are kept (:print, :start)');
  }

  /** Stops the run, if any, and waits until its aggregations are in the store. */
  private async detach(): Promise<void> {
    const live = this.live;
    if (!live) return;
    const ended = this.liveEnded;
    await live.stop();
    await ended;
  }

  private async reattach(program: CompiledProgram, layout: Layout): Promise<boolean> {
    await this.detach();
    return this.attach(program, layout);
  }

  /** Streams the tables every :interval while running. */
  private stream(): void {
    if (this.streamMs === null) return;
    const now = Date.now();
    if (now - this.lastStream < this.streamMs - 250) return;
    this.lastStream = now;
    const aggs = this.store.merged();
    if (!aggs.length) return;
    const header = this.tty ? '' : `--- ${new Date(now).toTimeString().slice(0, 8)} ---\n`;
    this.write('out', header + this.render(aggs));
  }

  // ---- commands ----

  private async command(line: string): Promise<void> {
    const parsed = parseCommand(line);
    if (!parsed.ok) return this.problem(parsed.message);
    const c: Command = parsed.command;
    switch (c.name) {
      case 'help':
        return this.write('out', helpText());
      case 'quit':
        this.quitting = true;
        return;
      case 'list':
        return this.list();
      case 'start':
        return this.start();
      case 'stop':
        if (!this.live) return this.info('not running');
        await this.detach();
        return this.info('detached; the clauses and aggregations are kept (:print, :start)');
      case 'print':
        return this.print();
      case 'clear':
        return this.clear(c.aggregation);
      case 'del':
        return this.del(c.index);
      case 'edit':
        return this.edit(c.index, c.text);
      case 'emit':
        return this.emit();
      case 'save':
        return this.save(c.file);
      case 'load':
        return this.load(c.file);
      case 'interval':
        return this.interval(c.ms);
      case 'target':
        return this.target({ containers: c.container !== null ? [c.container] : [], labels: [], pids: c.pid !== null ? [c.pid] : [], runtime: this.spec.runtime });
      case 'sleep':
        return sleep(c.ms, this.opAbort?.signal);
    }
  }

  private list(): void {
    if (!this.items.length) return this.info('no clauses yet: type one (e.g. uprobe:main.handle { @[arg0] = count(); })');
    const w = String(this.items.length).length;
    const lines = this.items.map((it, i) => {
      const [first, ...rest] = it.text.split('\n');
      return [`${String(i + 1).padStart(w)}  ${first}`, ...rest.map((r) => `${' '.repeat(w)}  ${r}`)].join('\n');
    });
    this.write('out', lines.join('\n') + '\n');
  }

  private async start(): Promise<void> {
    if (this.live) return this.info('already running (:stop detaches)');
    if (!this.items.some((i) => i.kind === 'clause')) return this.problem('no clauses yet: type one first');
    if (this.targetStale && hasTarget(this.spec)) {
      const r = await resolveSpec(this.spec, this.io.env);
      if (!r.ok) return this.problem(r.message, 1);
      this.ctx = { ...this.ctx, targets: r.targets };
      this.targetStale = false;
      this.startListing();
    }
    const program = await this.runnable(this.items);
    if (!program) return;
    if (await this.attach(program, this.sessionLayout())) {
      this.info(`attached: tracing ${this.tracing()} with ${this.clauseCount()} (:print shows the aggregations, :stop or Ctrl-C detaches)`);
    } else if (!this.opAbort?.signal.aborted) this.info('not attached (:edit N or :del N the clause bpftrace refused, then :start)');
  }

  private async print(): Promise<void> {
    const live = this.live;
    if (live && live.program.aggregations.length > 0) await live.nextSnapshot(this.snapshotMs() + 2500, this.opAbort?.signal);
    const aggs = this.store.merged();
    if (!aggs.length) return this.info(this.live ? 'no aggregations yet (nothing has fired)' : 'no aggregations');
    this.write('out', this.render(aggs));
  }

  private async clear(name: string | null): Promise<void> {
    if (name !== null && !this.store.has(name)) return this.problem(`no aggregation ${name} (yet)`);
    const live = this.live;
    if (!live) {
      this.store.clear(name);
      return this.info(name === null ? 'cleared' : `cleared ${name}`);
    }
    // bpftrace's maps hold the running totals: clearing them means a fresh attachment.
    const program = live.program;
    await this.detach();
    this.store.clear(name);
    if (await this.attach(program, this.sessionLayout())) this.info(`${name === null ? 'cleared' : `cleared ${name}`} (re-attached)`);
  }

  private async del(n: number): Promise<void> {
    if (n > this.items.length) return this.problem(`there is no clause ${n} (:list shows ${this.items.length})`);
    const items = this.items.filter((_, i) => i !== n - 1);
    await this.adopt(items, this.sessionLayout(items), `deleted clause ${n}: ${oneLine(this.items[n - 1]!.text)}`);
  }

  private async edit(n: number, text: string | null): Promise<void> {
    if (n > this.items.length) return this.problem(`there is no clause ${n} (:list shows ${this.items.length})`);
    if (text === null) {
      if (!this.tty) return this.problem(`give the new text: :edit ${n} CLAUSE`);
      this.editing = n - 1;
      this.editText = oneLine(this.items[n - 1]!.text);
      return;
    }
    this.editing = n - 1;
    const ev = this.acc.push(text);
    if (ev.kind === 'chunk') {
      this.editing = null;
      await this.addText(ev.text, n - 1);
    }
  }

  private async emit(): Promise<void> {
    if (!this.items.length) return this.info('no clauses yet');
    if (this.opts.helpers) {
      // What the (first) host's helper compiles: its targets, its bpftrace.
      const c = await this.opts.helpers.compile(this.spec, programText(this.items), null);
      if (c.ok) return this.write('out', c.program.text);
      this.printDiagnostics(c.diagnostics, this.sessionLayout());
      if (c.message) return this.problem(c.message, 1);
      return this.fail(2);
    }
    const r = await prepareSession({ ...this.opts, spec: this.spec }, programText(this.items), null, true, this.io);
    if (!r.ok) {
      this.write('err', r.output);
      return this.fail(r.exitCode);
    }
    this.write('out', r.prepared.compiled.text);
  }

  private expand(file: string): string {
    return file.startsWith('~/') ? homedir() + file.slice(1) : file;
  }

  private save(file: string): void {
    const path = this.expand(file);
    const hosts = this.opts.helpers?.transports.filter((x) => x.label !== 'local').map((x) => `-H ${x.label} `) ?? [];
    const sel = [...this.spec.containers.map((c) => `-c ${c} `), ...this.spec.labels.map((l) => `-l ${l} `), ...this.spec.pids.map((p) => `-p ${p} `)];
    const run = `trace ${[...hosts, ...sel].join('')}${file}`;
    try {
      writeFileSync(path, `// saved by trace repl; run it with: ${run}\n` + programText(this.items));
    } catch (e) {
      return this.problem(`cannot write ${file}: ${(e as Error).message}`, 1);
    }
    this.info(`saved ${this.items.length} item${this.items.length === 1 ? '' : 's'} to ${file}${/\.d$/.test(file) ? '' : " (trace runs a file only when its name ends in .d)"}`);
  }

  private async load(file: string): Promise<void> {
    let text: string;
    try {
      text = readFileSync(this.expand(file), 'utf8');
    } catch (e) {
      return this.problem(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`, 1);
    }
    const source = new Source(file, text);
    const parsed = parse(source);
    if (hasErrors(parsed.diagnostics)) {
      this.printDiagnostics(parsed.diagnostics, { text, pieces: [{ start: 0, end: text.length, source, base: 0 }] });
      return this.fail(2);
    }
    const split: SplitItem[] = splitItems(text);
    const items: Item[] = split.map(({ kind, text: t }) => ({ kind, text: t }));
    const layout = layoutOf(items, (i) => ({ source, base: split[i]!.start }));
    await this.adopt(items, layout, `loaded ${items.length} item${items.length === 1 ? '' : 's'} from ${file} (replacing the session's clauses)`);
  }

  private async interval(ms: number | null | undefined): Promise<void> {
    if (ms === undefined) return this.info(this.streamMs === null ? 'interval: off' : `interval: ${this.streamMs} ms`);
    const before = this.snapshotMs();
    this.streamMs = ms;
    this.info(ms === null ? 'interval off' : `the tables are printed every ${ms >= 1000 && ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`} while running`);
    if (this.live && this.snapshotMs() !== before) {
      const program = await this.runnable(this.items);
      if (program) await this.reattach(program, this.sessionLayout());
    }
  }

  private async target(spec: TargetSpec): Promise<void> {
    if (this.opts.helpers) return this.problem(`:target is not available through helpers yet: leave and start trace repl again with the new -c or -p`);
    const r = await resolveSpec(spec, this.io.env);
    if (!r.ok) return this.problem(r.message, 1);
    const ctx: CompileContext = { ...this.ctx, targets: r.targets };
    if (this.items.length) {
      const layout = this.sessionLayout();
      const c = await this.check(layout, ctx);
      this.printDiagnostics(c.diagnostics, layout);
      if (!c.ok) {
        const still = this.ctx.targets[0] ? describeTarget(this.ctx.targets[0]) : 'the host';
        return this.problem(`${c.message ? c.message + ': ' : ''}the clauses do not compile against the new target; still tracing ${still}`, c.message ? 1 : 2);
      }
    }
    const wasRunning = this.live !== null;
    await this.detach();
    this.ctx = ctx;
    this.spec = spec;
    this.targetStale = false;
    this.startListing();
    this.info(`target: ${describeTarget(r.targets[0]!)}${this.store.names.length ? ' (the aggregations gathered so far are kept: :clear resets them)' : ''}`);
    if (!wasRunning) return;
    const program = await this.runnable(this.items);
    if (program && (await this.attach(program, this.sessionLayout()))) this.info(`re-attached with ${this.clauseCount()}`);
  }

  // ---- completion ----

  private startListing(): void {
    // Through helpers, Tab completes aggregation names only: the target's files are not here.
    if (this.opts.helpers) return;
    const t = this.ctx.targets[0];
    this.listing = listProbes({ ...(t?.exeHost ? { exeHost: t.exeHost, hostPid: t.hostPid } : {}) }).then((l) => ({
      functions: l.probes.filter((p) => p.kind === 'uprobe' && p.binary === undefined).map((p) => p.name),
      usdt: l.probes.filter((p) => p.kind === 'usdt').map((p) => p.probe),
      tracepoints: l.probes.filter((p) => p.kind === 'tracepoint').map((p) => p.name),
    }));
    this.listing.catch(() => undefined);
  }

  private async completionSources(): Promise<CompletionSources> {
    const empty = { functions: [], usdt: [], tracepoints: [] };
    // The listing takes well under a second; a Tab pressed before it is done waits for it a little.
    const late = new AbortController();
    const listed = this.listing ? await Promise.race([this.listing.catch(() => empty), sleep(3000, late.signal).then(() => empty)]) : empty;
    late.abort();
    const names = new Set(this.store.names);
    for (const m of programText(this.items).matchAll(/@[A-Za-z_]\w*/g)) names.add(m[0]);
    return {
      ...listed,
      aggregations: [...names].filter((n) => n !== '@'),
      listDir: (dir: string) => {
        try {
          return readdirSync(this.expand(dir)).map((e) => {
            try {
              return statSync(`${this.expand(dir)}/${e}`).isDirectory() ? `${e}/` : e;
            } catch {
              return e;
            }
          });
        } catch {
          return [];
        }
      },
    };
  }
}

/** Sets up the session (bpftrace, the target) and runs it; the exit code. */
export async function runRepl(opts: ReplOptions, io: ReplStreams): Promise<number> {
  if (opts.helpers) return runThroughHelpers(opts, opts.helpers, io);
  const found = await findBpftrace({ explicit: opts.bpftrace, env: io.env });
  const fail = (m: string) => io.stderr.write(`${chalkFor(io.stderr, io.env).red.bold('trace:')} ${m}\n`);
  if (!found.ok) fail(`${found.message}; clauses can be checked, but nothing can run`);
  let targets: CompileContext['targets'] = [];
  if (hasTarget(opts.target)) {
    const r = await resolveSpec(opts.target, io.env);
    if (!r.ok) {
      fail(r.message);
      return 1;
    }
    targets = r.targets;
  }
  const ctx: CompileContext = {
    bpftrace: found.ok ? found.info : null,
    bpf: found.ok ? bpftraceFacts(found.info) : REFERENCE_FACTS.bpftrace,
    targets,
    hostPids: opts.hostPids,
    destructive: opts.destructive,
  };
  return new Repl(io, ctx, opts.target, opts).run();
}

/**
 * The session through helpers: each host's helper is asked first whether the target exists
 * and its policy lets this caller trace it, so that a missing helper, a refusal or a missing
 * container ends the command at once, in one sentence, as a run would (exit 1; 2 for a bad name).
 */
async function runThroughHelpers(opts: ReplOptions, helpers: HelperSession, io: ReplStreams): Promise<number> {
  const { ask } = await import('../runner/helper-client.js');
  const targets = targetRequest(opts.target, opts.hostPids);
  const many = helpers.transports.length > 1;
  const answers = await Promise.all(helpers.transports.map(async (t) => ({ t, a: await ask(t, { v: 1, op: 'resolve', targets }) })));
  const bad = answers.filter((x) => !x.a.ok);
  if (bad.length) {
    for (const { t, a } of bad) if (!a.ok) io.stderr.write(`${chalkFor(io.stderr, io.env).red.bold('trace:')} ${many ? `${t.label}: ` : ''}${a.message}\n`);
    helpers.close();
    return Math.max(...bad.map((x) => (x.a.ok ? 0 : x.a.exitCode)));
  }
  const ctx: CompileContext = { bpftrace: null, bpf: REFERENCE_FACTS.bpftrace, targets: [], hostPids: opts.hostPids, destructive: opts.destructive };
  return new Repl(io, ctx, opts.target, opts).run();
}

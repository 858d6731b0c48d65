// One program on many hosts: a helper per host, all in parallel, and one set of tables.
// Each host compiles the program against its own targets (and its own `host`), streams its
// bpftrace's lines back, and the aggregations are merged by name: counts and sums add,
// histograms add bucket by bucket, min/max, avg and stddev from their parts. A host that fails
// is named with its reason, and the others go on.

import type { CompiledProgram } from '../compiler/program.js';
import type { RunRequest } from '../helper/protocol.js';
import type { Diagnostic } from '../lang/diagnostics.js';
import { mergeByName, type Aggregation } from './aggregate.js';
import { openRun, type Opened, type Segment } from './helper-client.js';
import type { TargetRequest } from './request.js';
import { Presenter, type OutStream } from './presenter.js';
import { runProgram, type RunResult } from './session.js';
import type { Transport } from './transport/types.js';

export interface FleetOptions {
  readonly output: 'table' | 'json';
  readonly durationMs: number | null;
  readonly quiet: boolean;
  readonly stdout: OutStream;
  readonly stderr: OutStream;
  readonly env: NodeJS.ProcessEnv;
  readonly signal?: AbortSignal;
  /** Called once with the diagnostics of the first host that compiled (all compile alike). */
  readonly onDiagnostics?: (d: readonly Diagnostic[]) => void;
  /** One sentence about one host (failed to attach, refused, lost, its target stopped). */
  readonly onHostMessage?: (host: string, message: string) => void;
  /** The first host's compiled program (bpftrace errors map through its source map). */
  readonly onCompiled?: (program: CompiledProgram) => void;
  /** Called once every host has its probes attached or has failed, with how many attached. */
  readonly onAttached?: (attached: number) => void;
  /** Each host's own targets, instead of the request's (Kubernetes: each node's containers). */
  readonly targetsFor?: (label: string) => TargetRequest;
}

export interface HostOutcome {
  readonly host: string;
  /** Null when the host never ran the program. */
  readonly result: RunResult | null;
  readonly message?: string;
  readonly exitCode: number;
}

export interface FleetResult {
  /** 0 all hosts ran; 1 some host failed (others may have reported); 2 the program is wrong. */
  readonly exitCode: number;
  readonly hosts: readonly HostOutcome[];
  readonly aggregations: readonly Aggregation[];
}

/** The `host` builtin's value: the host as the user named it, without a login name. */
export function hostName(label: string): string {
  return label.replace(/^[^@]*@/, '');
}

/**
 * What one host's program prints, marked with the host so that interleaved lines stay
 * attributable: `[host] ` before each text line, or a "host" field in each JSON line.
 */
export function perHost(out: OutStream, host: string, json: boolean): OutStream {
  let pending = '';
  let atStart = true;
  return {
    isTTY: false,
    write(s: string) {
      let text = '';
      if (json) {
        pending += s;
        const lines = pending.split('\n');
        pending = lines.pop()!;
        for (const line of lines) {
          if (line === '') continue;
          try {
            text += JSON.stringify({ ...(JSON.parse(line) as object), host }) + '\n';
          } catch {
            text += line + '\n';
          }
        }
      } else {
        for (const ch of s.split(/(?<=\n)/)) {
          if (ch === '') continue;
          text += (atStart ? `[${host}] ` : '') + ch;
          atStart = ch.endsWith('\n');
        }
      }
      return text === '' ? true : out.write(text);
    },
  } as OutStream;
}

/** Runs `req` on every host; renders merged tables (one host: exactly as a local run). */
export async function runFleet(transports: readonly Transport[], req: Omit<RunRequest, 'v' | 'op' | 'host'>, opts: FleetOptions): Promise<FleetResult> {
  const many = transports.length > 1;
  const status = new Status(opts.stderr, transports.length, !opts.quiet);
  status.show();
  let diagnosticsShown = false;

  // Ctrl-C, SIGTERM or the caller's signal stop every host, whichever stage it is at.
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  opts.signal?.addEventListener('abort', onSignal);
  const stopped = new Promise<'stopped'>((resolve) => stop.signal.addEventListener('abort', () => resolve('stopped'), { once: true }));

  // The merged tables are drawn with the first host's program (all compile alike).
  const merged: { program?: CompiledProgram; presenter?: Presenter } = {};
  // Interval snapshots: each host sends its own; the merged table is drawn when every host
  // running has sent one since the last drawing.
  const latest = new Map<string, readonly Aggregation[]>();
  const live = new Set<string>();
  const drawSnapshot = () => {
    if (!merged.presenter || ![...live].every((h) => latest.has(h))) return;
    merged.presenter.handle({ kind: 'snapshot', aggregations: mergeByName([...latest.values()]) });
    latest.clear();
  };
  let settledHosts = 0;
  const attachedOrFailed = () => {
    if (++settledHosts !== transports.length) return;
    status.clear();
    opts.onAttached?.(status.attached);
  };
  const failed = (t: Transport, exitCode: number, message?: string): HostOutcome => {
    status.failed++;
    status.clear();
    if (message !== undefined) opts.onHostMessage?.(t.label, message);
    status.show();
    attachedOrFailed();
    t.close();
    return { host: t.label, result: null, exitCode, ...(message !== undefined ? { message } : {}) };
  };

  // Each host runs as soon as its own helper has compiled: one slow or unreachable host
  // delays no other.
  const hosts = await Promise.all(
    transports.map(async (t): Promise<HostOutcome> => {
      // --follow: the helper could not trace a container that came back (refused, or no longer compiles).
      let followFailed = 0;
      const opening = openRun(
        t,
        { ...req, host: hostName(t.label), ...(opts.targetsFor ? { targets: opts.targetsFor(t.label) } : {}) },
        {
          onNotice: (m) => opts.onHostMessage?.(t.label, m),
          onError: (m, code) => ((followFailed = Math.max(followFailed, code)), opts.onHostMessage?.(t.label, m)),
          // --follow's detach and reattach lines, in the JSON output as a local run has them.
          onEvent: (line) => opts.output === 'json' && (many ? perHost(opts.stdout, hostName(t.label), true) : opts.stdout).write(`${line}\n`),
        },
      );
      const got = await Promise.race([opening, stopped]);
      if (got === 'stopped') {
        // Interrupted before this host attached: end its helper whenever it answers.
        void opening.then((o) => (o.ok ? o.process.kill() : undefined));
        return failed(t, 1, 'interrupted before it attached');
      }
      if (!diagnosticsShown && got.diagnostics.length) {
        diagnosticsShown = true;
        status.clear();
        opts.onDiagnostics?.(got.diagnostics);
      }
      if (!got.ok) return failed(t, got.exitCode, got.message);
      // A helper answers a run without a bpftrace only when it cannot run one.
      if (!got.bpftrace) {
        got.process.kill();
        return failed(t, 1, `bpftrace was not found on ${t.label}`);
      }
      if (!merged.program) {
        merged.program = got.program;
        merged.presenter = new Presenter(got.program, { output: opts.output, stdout: opts.stdout, stderr: opts.stderr, env: opts.env, progress: false });
        opts.onCompiled?.(got.program);
      }
      live.add(t.label);
      const deadline = opts.durationMs !== null ? Date.now() + opts.durationMs : null;
      let attachedOnce = false;
      const runSegment = (seg: Segment, carried: readonly Aggregation[]) =>
        runProgram(seg.program, {
          bpftrace: seg.bpftrace ?? got.bpftrace!,
          process: seg.process,
          output: opts.output,
          stdout: many ? perHost(opts.stdout, hostName(t.label), opts.output === 'json') : opts.stdout,
          stderr: opts.stderr,
          env: opts.env,
          signal: stop.signal,
          handleSignals: false,
          progress: !many && !opts.quiet,
          renderFinal: !many,
          carried,
          detach: seg.detached,
          // --duration is wall time, a --follow's gaps included.
          ...(deadline !== null ? { durationMs: Math.max(0, deadline - Date.now()) } : {}),
          ...(many ? { onSnapshot: (aggs: readonly Aggregation[]) => (latest.set(t.label, aggs), drawSnapshot()) } : {}),
          onAttached: () => {
            if (attachedOnce) return;
            attachedOnce = true;
            status.attached++;
            status.show();
            attachedOrFailed();
          },
        });
      const result = req.follow ? await followed(got, runSegment, { stop: stop.signal, deadline, render: !many, opts }) : await runSegment(got, []);
      live.delete(t.label);
      latest.delete(t.label);
      t.close();
      if (result.exitCode !== 0 && result.message) {
        status.clear();
        opts.onHostMessage?.(t.label, result.message);
      }
      const exitCode = result.exitCode || followFailed;
      return { host: t.label, result, exitCode, ...(result.message ? { message: result.message } : {}) };
    }),
  );
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  opts.signal?.removeEventListener('abort', onSignal);
  status.clear();

  const ran = hosts.filter((h): h is HostOutcome & { result: RunResult } => h.result !== null);
  const aggregations = mergeByName(ran.map((h) => h.result.aggregations));
  if (many && merged.presenter && merged.program) merged.presenter.final(shownOf(merged.program, aggregations));
  if (many) status.summary(hosts);
  const exitCode = hosts.every((h) => h.exitCode === 0) ? 0 : ran.length === 0 && hosts.some((h) => h.exitCode === 2) ? 2 : 1;
  return { exitCode, hosts, aggregations };
}

/** What a final print shows: not the aggregations an END clause already printed. */
function shownOf(program: CompiledProgram, aggs: readonly Aggregation[]): Aggregation[] {
  const printed = new Set(program.printedAtEnd);
  return aggs.filter((a) => !printed.has(a.name));
}

/** "hosts: 2/3 attached, 1 failed" on a terminal's stderr while attaching; a summary at the end. */
class Status {
  attached = 0;
  failed = 0;
  private shown = false;
  constructor(
    private readonly err: OutStream,
    private readonly total: number,
    private readonly enabled: boolean,
  ) {}
  show(): void {
    if (!this.enabled || this.err.isTTY !== true || this.total < 2) return;
    this.err.write(`\r\u001b[2Khosts: ${this.attached}/${this.total} attached${this.failed ? `, ${this.failed} failed` : ''}`);
    this.shown = true;
  }
  clear(): void {
    if (!this.shown) return;
    this.shown = false;
    this.err.write('\r\u001b[2K');
  }
  summary(hosts: readonly HostOutcome[]): void {
    const bad = hosts.filter((h) => h.exitCode !== 0);
    this.err.write(`trace: ${hosts.length - bad.length} of ${hosts.length} hosts reported${bad.length ? `; failed: ${bad.map((h) => h.host).join(', ')}` : ''}\n`);
  }
}

/**
 * --follow through a helper: the helper follows the containers and starts a new bpftrace for
 * one that came back (helper/follow.ts); here each of its runs is shown with the maps of the
 * runs before it carried in. Ended between runs (Ctrl-C, --duration), the helper is stopped and
 * what was carried is printed, as by a local --follow.
 */
async function followed(
  first: Extract<Opened, { ok: true }>,
  runSegment: (seg: Segment, carried: readonly Aggregation[]) => Promise<RunResult>,
  o: { stop: AbortSignal; deadline: number | null; render: boolean; opts: FleetOptions },
): Promise<RunResult> {
  let seg: Segment = first;
  let result = await runSegment(seg, []);
  for (;;) {
    // Ended by itself (it printed the final tables), or replaced and failing.
    if (!seg.detached.aborted || result.exitCode !== 0) return result;
    const ending = new AbortController();
    const end = () => ending.abort();
    o.stop.addEventListener('abort', end, { once: true });
    const timer = o.deadline !== null ? setTimeout(end, Math.max(0, o.deadline - Date.now())) : undefined;
    if (result.stoppedBy === 'signal' || o.stop.aborted) end();
    const next = await Promise.race([first.next(), new Promise<null>((r) => (ending.signal.aborted ? r(null) : ending.signal.addEventListener('abort', () => r(null), { once: true })))]);
    clearTimeout(timer);
    o.stop.removeEventListener('abort', end);
    if (next === null) {
      first.stop();
      if (o.render) new Presenter(seg.program, { output: o.opts.output, stdout: o.opts.stdout, stderr: o.opts.stderr, env: o.opts.env, progress: false }).final(result.aggregations);
      return { ...result, stoppedBy: ending.signal.aborted ? 'signal' : 'exit' };
    }
    seg = next;
    result = await runSegment(seg, result.aggregations);
  }
}

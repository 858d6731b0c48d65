// The CLI's side of the helper protocol: send one request over a transport, read the NDJSON
// answer, and, for a run, hand the session a ProgramProcess that relays bpftrace's lines.

import type { CompiledProgram } from '../compiler/program.js';
import type { Diagnostic } from '../lang/diagnostics.js';
import { PROTOCOL_VERSION, type Message, type Request, type RunRequest } from '../helper/protocol.js';
import type { BpftraceInfo } from './bpftrace.js';
import type { ProcessEnd, ProcessHandlers, ProgramProcess } from './bpftrace-process.js';
import { LineSplitter } from './lines.js';
import type { HelperProcess, Transport } from './transport/types.js';

/** One bpftrace run relayed by the helper; with --follow, one per attachment. */
export interface Segment {
  readonly program: CompiledProgram;
  readonly bpftrace: BpftraceInfo | null;
  readonly process: ProgramProcess;
  /** Aborted when the helper replaces this run (--follow: a traced container stopped). */
  readonly detached: AbortSignal;
}

export type Opened =
  | ({ ok: true; diagnostics: readonly Diagnostic[] } & Segment & {
      /** --follow: the next run once the helper reattached; null when the helper ended instead. */
      next(): Promise<Segment | null>;
      /** Ends the helper's follow between runs (it prints nothing more). */
      stop(): void;
    })
  | { ok: false; exitCode: number; message?: string; refused?: boolean; diagnostics: readonly Diagnostic[] };

/** What sudo or a missing helper printed, as one sentence about `label`. */
function startFailure(label: string, stderr: readonly string[], code: number | null): string {
  const text = stderr.filter((l) => l.trim()).slice(-3).join(' ').trim();
  if (/sudo/.test(text)) return `the helper on ${label} could not be started through sudo -n (${text.replace(/\s+/g, ' ')}); ask an administrator to run trace helper install there`;
  if (code === 127 || /not found|No such file/.test(text)) return `the ctrace helper is not installed on ${label}: run trace helper install --host ${label}`;
  if (text) return `the helper on ${label} failed: ${text}`;
  return code === null ? `lost the connection to the helper on ${label}` : `the helper on ${label} exited with status ${code} without answering`;
}

interface Reader {
  onMessage(m: Message): void;
  /** A stdout line that is not a protocol message (an old or foreign helper). */
  onBadLine(line: string): void;
}

/** The helper's exit code: its process's, or over the persistent helper's socket, its `done` line's. */
function readMessages(proc: HelperProcess, r: Reader): { stderr: string[]; exited: Promise<number | null> } {
  const out = new LineSplitter();
  const err = new LineSplitter();
  const stderr: string[] = [];
  let doneCode: number | null = null;
  const onLine = (line: string) => {
    if (line === '') return;
    let m: Message;
    try {
      m = JSON.parse(line) as Message;
    } catch {
      r.onBadLine(line);
      return;
    }
    if (typeof m !== 'object' || m === null || typeof (m as { t?: unknown }).t !== 'string') return r.onBadLine(line);
    if (m.t === 'done') doneCode = m.code;
    else r.onMessage(m);
  };
  proc.stdout.on('data', (c: Buffer) => out.push(c).forEach(onLine));
  proc.stdout.on('end', () => out.end().forEach(onLine));
  proc.stderr.on('data', (c: Buffer) => {
    for (const l of err.push(c)) if (stderr.push(l) > 50) stderr.shift();
  });
  return { stderr, exited: proc.exited.then(({ code }) => doneCode ?? code) };
}

function send(proc: HelperProcess, obj: unknown): void {
  try {
    proc.stdin.write(JSON.stringify(obj) + '\n');
  } catch {
    // the helper is gone; its exit says why
  }
}

/**
 * Starts a run on the helper behind `transport`. Resolves once the helper has compiled the
 * program (the process then relays bpftrace) or has refused or failed.
 */
export async function openRun(transport: Transport, req: Omit<RunRequest, 'v' | 'op'>, hooks: { onNotice?: (message: string) => void; onError?: (message: string, exitCode: number) => void; onEvent?: (line: string) => void } = {}): Promise<Opened> {
  const started = await transport.start();
  if (!started.ok) return { ok: false, exitCode: 1, message: started.message, diagnostics: [] };
  const proc = started.proc;
  const diagnostics: Diagnostic[] = [];
  return new Promise<Opened>((resolve) => {
    let settled = false;
    let badLines = 0;
    let helperEnded = false;
    interface Live extends Segment {
      handlers: ProcessHandlers | null;
      queue: Message[];
      ended: boolean;
      detach: AbortController;
    }
    let current: Live | null = null;
    // --follow: runs the helper started that the caller has not asked for yet, and who waits.
    const ready: Live[] = [];
    let waiting: ((s: Segment | null) => void) | null = null;
    const settle = (o: Opened) => {
      if (settled) return;
      settled = true;
      resolve(o);
    };
    const deliver = (seg: Live, m: Message) => {
      const h = seg.handlers!;
      if (m.t === 'out') h.stdout(m.line);
      else if (m.t === 'err') h.stderr(m.line);
      else if (m.t === 'exit') {
        seg.ended = true;
        const e: ProcessEnd = m.failed !== undefined ? { kind: 'failed', message: m.failed } : { kind: 'exit', code: m.code, signal: m.signal, ...(m.overlong ? { overlong: m.overlong } : {}) };
        h.end(e);
      }
    };
    const push = (seg: Live, m: Message) => (seg.handlers ? deliver(seg, m) : seg.queue.push(m));
    const segment = (m: Extract<Message, { t: 'compiled' }>): Live => {
      const detach = new AbortController();
      const seg: Live = {
        program: m.program,
        bpftrace: m.bpftrace,
        handlers: null,
        queue: [],
        ended: false,
        detach,
        detached: detach.signal,
        process: {
          start(h) {
            seg.handlers = h;
            for (const q of seg.queue.splice(0)) deliver(seg, q);
          },
          // A run being replaced is stopped (then killed if need be) by the helper itself.
          interrupt: () => !detach.signal.aborted && send(proc, { op: 'stop' }),
          kill: () => !detach.signal.aborted && proc.kill(),
        },
      };
      return seg;
    };
    const { stderr, exited } = readMessages(proc, {
      onBadLine: () => void badLines++,
      onMessage(m) {
        if (m.t === 'notice') return hooks.onNotice?.(m.message);
        if (m.t === 'event') return hooks.onEvent?.(m.line);
        if (!settled) {
          if (m.t === 'diagnostics') diagnostics.push(...m.diagnostics);
          else if (m.t === 'error') settle({ ok: false, exitCode: m.exitCode, message: m.message, ...(m.refused ? { refused: true } : {}), diagnostics });
          else if (m.t === 'compiled') {
            if (req.follow && !m.follow) {
              proc.kill();
              return settle({ ok: false, exitCode: 1, message: `the helper on ${transport.label} does not support --follow: install the same ctrace version there`, diagnostics });
            }
            current = segment(m);
            settle({
              ok: true,
              diagnostics,
              ...current,
              next: () => {
                const s = ready.shift();
                if (s) return Promise.resolve(s);
                if (helperEnded) return Promise.resolve(null);
                return new Promise<Segment | null>((r) => (waiting = r));
              },
              stop: () => send(proc, { op: 'stop' }),
            });
          }
          return;
        }
        if (m.t === 'error') return hooks.onError?.(m.message, m.exitCode);
        if (m.t === 'diagnostics') return;
        if (m.t === 'compiled') {
          current = segment(m);
          if (waiting) {
            const w = waiting;
            waiting = null;
            w(current);
          } else ready.push(current);
          return;
        }
        if (!current) return;
        if (m.t === 'detach') current.detach.abort();
        else if (m.t === 'out' || m.t === 'err' || m.t === 'exit') push(current, m);
      },
    });
    void exited.then((code) => {
      helperEnded = true;
      if (!settled) {
        if (diagnostics.length && code === 2) return settle({ ok: false, exitCode: 2, diagnostics });
        return settle({ ok: false, exitCode: 1, message: badLines > 0 && !stderr.length ? `the helper on ${transport.label} does not speak ctrace's protocol ${PROTOCOL_VERSION}: install the same version there` : startFailure(transport.label, stderr, code), diagnostics });
      }
      if (current && !current.ended) {
        current.ended = true;
        push(current, { t: 'exit', code: null, signal: null, failed: `lost the connection to the helper on ${transport.label}` });
      }
      if (waiting) {
        const w = waiting;
        waiting = null;
        w(null);
      }
    });
    send(proc, { v: PROTOCOL_VERSION, op: 'run', ...req });
  });
}

/** A request answered by messages then an end (hello, resolve, list): all its messages. */
export async function ask(transport: Transport, req: Exclude<Request, RunRequest>): Promise<{ ok: true; messages: Message[] } | { ok: false; message: string; exitCode: number }> {
  const started = await transport.start();
  if (!started.ok) return { ok: false, message: started.message, exitCode: 1 };
  const proc = started.proc;
  const messages: Message[] = [];
  const { stderr, exited } = readMessages(proc, { onMessage: (m) => void messages.push(m), onBadLine: () => undefined });
  send(proc, req);
  const code = await exited;
  const err = messages.find((m): m is Extract<Message, { t: 'error' }> => m.t === 'error');
  if (err) return { ok: false, message: err.message, exitCode: err.exitCode };
  if (messages.length === 0) return { ok: false, message: startFailure(transport.label, stderr, code), exitCode: 1 };
  return { ok: true, messages };
}

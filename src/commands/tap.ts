// `trace tap`: every request a Go net/http service completes, one line each (time, container,
// client address, method, status, latency, path), as it happens. The filters are BPF predicates: requests
// that do not match are never sent to user space.

import { httpTapProgram, TAP_SEPARATOR, tapFilterProblem, type TapFilter } from '../compiler/http-programs.js';
import type { TargetRequest } from '../runner/request.js';
import { escapeControl, humanNs } from '../runner/render/format.js';
import { runHttpPrograms } from './http-runs.js';
import { fail, type Streams } from './output.js';

export interface TapOptions {
  readonly targets: TargetRequest;
  readonly filter: TapFilter;
  readonly durationMs: number | null;
  readonly output: 'table' | 'json';
  readonly bpftrace?: string;
}

export interface TapEvent {
  readonly time: Date;
  readonly container: string;
  /** The client's address (ip:port), as the server sees it. */
  readonly client: string;
  readonly method: string;
  readonly status: number;
  readonly latencyNs: number;
  readonly path: string;
}

/** One printf of the tap program -> an event; null for anything else. */
export function parseTapLine(text: string): TapEvent | null {
  const line = text.endsWith('\n') ? text.slice(0, -1) : text;
  const f = line.split(TAP_SEPARATOR);
  if (f.length < 7 || !/^\d+$/.test(f[0]!)) return null;
  return {
    time: new Date(Number(BigInt(f[0]!) / 1_000_000n)),
    container: f[1]!,
    client: f[2]!,
    method: f[3]!,
    status: Number(f[4]),
    latencyNs: Number(f[5]),
    path: f.slice(6).join(TAP_SEPARATOR),
  };
}

const HEADER = `${'TIME'.padEnd(12)} ${'CONTAINER'.padEnd(32)} ${'CLIENT'.padEnd(21)} ${'METHOD'.padEnd(7)} ${'STATUS'.padStart(6)} ${'LATENCY'.padStart(9)}  PATH\n`;

export function formatTapEvent(e: TapEvent): string {
  return `${e.time.toISOString().slice(11, 23).padEnd(12)} ${escapeControl(e.container).padEnd(32)} ${escapeControl(e.client).padEnd(21)} ${escapeControl(e.method).padEnd(7)} ${String(e.status).padStart(6)} ${humanNs(e.latencyNs).padStart(9)}  ${escapeControl(e.path)}\n`;
}

export function tapJson(e: TapEvent): string {
  return JSON.stringify({ type: 'request', time: e.time.toISOString(), container: e.container, client: e.client, method: e.method, path: e.path, status: e.status, latency_ns: e.latencyNs }) + '\n';
}

export async function tapCommand(o: TapOptions, io: Streams): Promise<number> {
  const problem = tapFilterProblem(o.filter);
  if (problem !== null) {
    fail(io, problem);
    return 2;
  }
  // The header once, before the first line (a service's lines can precede the last attach).
  let headed = o.output === 'json';
  const head = () => {
    if (!headed) io.stdout.write(HEADER);
    headed = true;
  };
  const r = await runHttpPrograms(
    {
      command: 'tap',
      targets: o.targets,
      ...(o.bpftrace !== undefined ? { bpftrace: o.bpftrace } : {}),
      program: httpTapProgram(o.filter),
      intervalMs: null,
      // 4 MiB per CPU: seconds of a busy service's requests if the reader falls behind.
      ringPages: 1024,
      durationMs: o.durationMs,
      onAttached: head,
      onText: (_s, text) => {
        const e = parseTapLine(text);
        if (!e) return;
        head();
        io.stdout.write(o.output === 'json' ? tapJson(e) : formatTapEvent(e));
      },
    },
    io,
  );
  return r.exitCode;
}

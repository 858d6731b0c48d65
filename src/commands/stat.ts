// `trace stat`: golden metrics per service (RPS, success rate, latency percentiles), a table
// refreshed every interval (in place on a terminal, appended otherwise), and the whole run's
// rows at the end (Ctrl-C or -d). `trace top` is the same watch by method and path.

import { httpStatProgram, type StatKeys } from '../compiler/http-programs.js';
import type { TargetRequest } from '../runner/request.js';
import { countersOf, pathRows, renderRows, rowJson, serviceRows, subtract, type Counters, type Row, type Service } from '../runner/service-stats.js';
import { runHttpPrograms } from './http-runs.js';
import type { Streams } from './output.js';

export interface StatOptions {
  readonly targets: TargetRequest;
  readonly intervalMs: number;
  readonly durationMs: number | null;
  readonly output: 'table' | 'json';
  readonly bpftrace?: string;
  /** `trace top`: rows shown per interval (the busiest). */
  readonly limit?: number;
}

export function statCommand(o: StatOptions, io: Streams): Promise<number> {
  return watchHttp('stat', o, io);
}

const clock = (d: Date) => d.toISOString().slice(11, 19);

/** The stat/top loop: one row set per interval from the difference of cumulative snapshots. */
export async function watchHttp(command: 'stat' | 'top', o: StatOptions, io: Streams): Promise<number> {
  const keys: StatKeys = command === 'stat' ? 'container' : 'path';
  const rowsOf = (services: readonly Service[], c: ReadonlyMap<string, Counters>, seconds: number): Row[] =>
    command === 'stat' ? serviceRows(services, c, seconds) : pathRows(services, c, seconds).slice(0, o.limit ?? Infinity);
  const inPlace = o.output === 'table' && io.stdout.isTTY === true;
  const latest = new Map<string, Map<string, Counters>>();
  const cumulative = () => new Map([...latest.values()].flatMap((m) => [...m]));
  let previous = new Map<string, Counters>();
  let lastLines = 0;
  let lastTick = 0;
  let timer: NodeJS.Timeout | undefined;

  const show = (rows: readonly Row[], when: Date, final: boolean, seconds: number) => {
    if (o.output === 'json') {
      io.stdout.write(rows.map((r) => rowJson(r, when.toISOString(), final)).join(''));
      return;
    }
    const title = final ? `whole run (${seconds.toFixed(1)}s):` : `${clock(when)}  every ${o.intervalMs / 1000}s`;
    const text = `${title}\n${renderRows(rows, { paths: command === 'top', total: final })}`;
    // In place: back over the previous table, clear to the end of the screen.
    if (inPlace && lastLines > 0 && !final) io.stdout.write(`\x1b[${lastLines}F\x1b[J`);
    // Appended tables get a blank line between them.
    io.stdout.write(inPlace ? text : text + '\n');
    lastLines = text.split('\n').length - 1;
  };

  const r = await runHttpPrograms(
    {
      command,
      targets: o.targets,
      ...(o.bpftrace !== undefined ? { bpftrace: o.bpftrace } : {}),
      program: httpStatProgram(keys),
      intervalMs: o.intervalMs,
      durationMs: o.durationMs,
      onAttached: (services) => {
        lastTick = Date.now();
        timer = setInterval(() => {
          const now = Date.now();
          const all = cumulative();
          show(rowsOf(services, subtract(all, previous), (now - lastTick) / 1000), new Date(now), false, 0);
          previous = all;
          lastTick = now;
        }, o.intervalMs);
      },
      onSnapshot: (service, aggs) => latest.set(service.name, countersOf(aggs)),
    },
    io,
  );
  clearInterval(timer);
  // Not attached (a failure before the first interval): no rows to show.
  if (r.watchedMs === 0) return r.exitCode;
  const seconds = r.watchedMs / 1000;
  const final = new Map([...r.finals.values()].flatMap((aggs) => [...countersOf(aggs)]));
  show(rowsOf(r.services, final, seconds), new Date(), true, seconds);
  return r.exitCode;
}

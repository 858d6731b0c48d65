// What `trace stat`, `trace top` and `trace tap` share: resolve the containers, group them into
// services (one binary each), compile a generated program for each service's binary and run
// them side by side, one bpftrace per binary (a probe without a binary attaches to the main
// executable of the run's first target, so one program cannot probe two images' binaries),
// all stopped together by Ctrl-C, -d, or a target that stops.

import { statSync } from 'node:fs';
import { COMMAND_LINE, Source } from '../lang/source.js';
import { hasErrors } from '../lang/diagnostics.js';
import { findBpftrace } from '../runner/bpftrace.js';
import { resolveRequest, type TargetRequest } from '../runner/request.js';
import type { Aggregation } from '../runner/aggregate.js';
import type { RunResult } from '../runner/session.js';
import { groupServices, type Service } from '../runner/service-stats.js';
import { selectorProblem, watchTargets, type ResolvedTarget } from '../runner/targets/index.js';
import { fail, type Streams } from './output.js';

export interface HttpRunOptions {
  readonly command: string;
  readonly targets: TargetRequest;
  readonly bpftrace?: string;
  /** The generated D program (the same for every binary). */
  readonly program: string;
  /** bpftrace prints cumulative snapshots this often (null: none). */
  readonly intervalMs: number | null;
  readonly durationMs: number | null;
  /** All services' probes are attached. */
  readonly onAttached?: (services: readonly Service[]) => void;
  readonly onSnapshot?: (service: Service, aggs: readonly Aggregation[]) => void;
  readonly onText?: (service: Service, text: string) => void;
  /**
   * Pages per CPU of bpftrace's event ring (its default, 64, overflows within a second of
   * a busy service's per-request printf when the machine is loaded: events are then lost).
   */
  readonly ringPages?: number;
}

export interface HttpRunResult {
  readonly exitCode: number;
  readonly services: readonly Service[];
  /** From the moment every service was watched to the stop (Ctrl-C, -d, a failure); 0 if never watched. */
  readonly watchedMs: number;
  /** Each service's aggregations at exit, by service name. */
  readonly finals: ReadonlyMap<string, readonly Aggregation[]>;
}

const none = (exitCode: number): HttpRunResult => ({ exitCode, services: [], watchedMs: 0, finals: new Map() });

/** Containers of one image share the file (overlayfs): its device and inode. */
function fileIdentity(t: ResolvedTarget): string {
  try {
    const s = statSync(t.exeHost);
    return `${s.dev}:${s.ino}`;
  } catch {
    return `path:${t.exeHost || t.name}`;
  }
}

export async function runHttpPrograms(opts: HttpRunOptions, io: Streams): Promise<HttpRunResult> {
  if (opts.targets.containers.length + opts.targets.labels.length + opts.targets.pids.length === 0) {
    fail(io, `trace ${opts.command} needs the services to watch: -c NAME (repeatable) or -l key=value`);
    return none(2);
  }
  const problem = selectorProblem(opts.targets);
  if (problem !== null) {
    fail(io, problem);
    return none(2);
  }
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    fail(io, `trace ${opts.command} runs bpftrace itself for now: run it as root (the helper and --host come later)`);
    return none(1);
  }
  const [found, resolved] = await Promise.all([findBpftrace({ explicit: opts.bpftrace, env: io.env }), resolveRequest(opts.targets, io.env)]);
  if (!found.ok) return fail(io, found.message), none(1);
  if (!resolved.ok) return fail(io, resolved.message), none(1);
  const groups = groupServices(resolved.targets, fileIdentity);
  const services: Service[] = groups.map(({ name, containers }) => ({ name, containers }));

  const [{ parse }, { compileFor }, { runProgram }] = await Promise.all([import('../lang/parse.js'), import('../helper/prepare.js'), import('../runner/session.js')]);
  const source = new Source(COMMAND_LINE, opts.program);
  const parsed = parse(source);
  if (hasErrors(parsed.diagnostics)) throw new Error(`generated program does not parse: ${parsed.diagnostics[0]!.message}`);
  const compiled = [];
  for (const g of groups) {
    const c = await compileFor({ source, program: parsed.program, parseDiagnostics: [], args: [], targets: g.targets, hostPids: false, intervalMs: opts.intervalMs, quiet: true, destructive: false, bpftrace: found.info });
    if (!c.ok) {
      const why = c.message ?? c.diagnostics.find((d) => d.severity === 'error')?.message ?? 'it cannot be traced';
      fail(io, `cannot watch ${g.name} (${g.containers.join(', ')}) as a Go net/http server: ${why}`);
      return none(1);
    }
    compiled.push(c.compiled);
  }

  const stop = new AbortController();
  let attachedAt = 0;
  let stoppedAt = 0;
  // Each run stops itself on SIGINT/SIGTERM; this only notes when.
  const stopping = () => (stoppedAt ||= Date.now());
  stop.signal.addEventListener('abort', stopping);
  process.on('SIGINT', stopping);
  process.on('SIGTERM', stopping);
  const unwatch = watchTargets(resolved.targets, (_t, reason) => {
    fail(io, `${reason}; ending the trace`);
    stop.abort();
  });
  let attached = 0;
  let timer: NodeJS.Timeout | undefined;
  const results = await Promise.all(
    compiled.map((c, i) => {
      const service = services[i]!;
      return runProgram(c, {
        bpftrace: found.info,
        output: 'table',
        stdout: io.stdout,
        stderr: io.stderr,
        env: opts.ringPages !== undefined ? { ...io.env, BPFTRACE_PERF_RB_PAGES: String(opts.ringPages) } : io.env,
        signal: stop.signal,
        progress: false,
        renderFinal: false,
        // -d counts from the moment every service is watched, so all see the same window.
        onAttached: () => {
          if (++attached !== compiled.length) return;
          attachedAt = Date.now();
          if (opts.durationMs !== null) timer = setTimeout(() => stop.abort(), opts.durationMs);
          opts.onAttached?.(services);
        },
        onSnapshot: (aggs) => opts.onSnapshot?.(service, aggs),
        onText: (text) => opts.onText?.(service, text),
      }).then((r: RunResult) => {
        // One bpftrace that fails ends the others: a partial table would mislead.
        if (r.exitCode !== 0) stop.abort();
        return r;
      });
    }),
  ).finally(() => {
    unwatch();
    clearTimeout(timer);
    process.off('SIGINT', stopping);
    process.off('SIGTERM', stopping);
  });
  const watchedMs = attachedAt === 0 ? 0 : (stoppedAt || Date.now()) - attachedAt;
  const failed = results.find((r) => r.exitCode !== 0);
  if (failed?.message) fail(io, failed.message);
  return { exitCode: failed ? failed.exitCode : 0, services, watchedMs, finals: new Map(results.map((r, i) => [services[i]!.name, r.aggregations])) };
}

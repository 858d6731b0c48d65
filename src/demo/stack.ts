// The demo stack: frontend -> voting, emoji, each in its own podman container on the
// host network (loopback only), plus the load generator run as a host process.
//
//   const demo = await startDemo();
//   const summary = await runLoad(demo, { requests: 200, concurrency: 8, ns: [1, 2, 3] });
//   await demo.stop();

import { request } from 'node:http';
import { execa } from 'execa';
import { buildDemo, DEMO_SERVICES, type BuildOptions, type DemoBinaries, type DemoService } from './build.js';
import { demoRootfs, pruneRootfs } from './rootfs.js';
import {
  containerExists,
  containerLogs,
  containerPid,
  forgetOnExit,
  DEMO_PREFIX,
  removeContainer,
  startContainer,
  stopContainer,
  type StartedContainer,
} from './podman.js';

export interface DemoContainer extends StartedContainer {
  readonly service: DemoService;
  /** Port it listens on, on 127.0.0.1 (host network). */
  readonly port: number;
  /** Base URL, e.g. http://127.0.0.1:43123 */
  readonly url: string;
  readonly rootfs: string;
}

export interface DemoOptions {
  /** Names become `ctrace-demo-<instance>-<service>` (default: `ctrace-demo-<service>`). */
  instance?: string;
  /** Fixed ports; a missing or 0 port lets the service pick a free one (read from its log). */
  ports?: Partial<Record<DemoService, number>>;
  /** voting: fraction of requests answered 500, by sequence number (default 0.1). */
  failRate?: number;
  /** voting: every slowEvery-th request sleeps slowMs (default off). */
  slowEvery?: number;
  slowMs?: number;
  /** emoji: fixed latency added to every lookup, ms (default 0). */
  latencyMs?: number;
  /** More flags per service. */
  extraArgs?: Partial<Record<DemoService, string[]>>;
  /** More labels on every container. */
  labels?: Record<string, string>;
  /** Per-service readiness timeout (default 20 s). */
  readyTimeoutMs?: number;
  /**
   * Leave the containers running when this process exits (for `trace demo`, which starts
   * the stack for later commands); stop them with stopDemo(instance). Default false: they
   * are removed at exit, SIGINT and SIGTERM.
   */
  keep?: boolean;
  log?: (msg: string) => void;
  build?: BuildOptions;
}

export interface ServiceExit {
  /** Requests served, from the service's own log line at SIGTERM; null if it logged none. */
  readonly served: number | null;
  readonly failed: number | null;
}

export interface DemoTimings {
  /** Hashing and, when `built`, compiling. */
  readonly buildMs: number;
  readonly built: boolean;
  /** Rootfs, containers started and answering HTTP. */
  readonly startMs: number;
  readonly totalMs: number;
}

export interface DemoHandle {
  readonly instance: string | undefined;
  readonly containers: Readonly<Record<DemoService, DemoContainer>>;
  readonly urls: Readonly<Record<DemoService, string>>;
  readonly binaries: DemoBinaries;
  readonly timings: DemoTimings;
  /** SIGTERMs every container, then removes it. Safe to call more than once. */
  stop(): Promise<Record<DemoService, ServiceExit>>;
}

export interface StartServiceOptions {
  /** Container name (also passed as the service's -name). */
  name: string;
  /** 0 or missing: the service picks a free port. */
  port?: number;
  /** Flags after -name/-port (e.g. ['-fail-rate', '0.1']). */
  args?: string[];
  labels?: Record<string, string>;
  env?: Record<string, string>;
  readyTimeoutMs?: number;
  /** Remove it when this process exits (default true). */
  cleanupOnExit?: boolean;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Demo container name for a service. */
export function demoContainerName(service: DemoService, instance?: string): string {
  return instance ? `${DEMO_PREFIX}${instance}-${service}` : `${DEMO_PREFIX}${service}`;
}

/** One JSON log event of a demo service (see demo/internal/svc). */
export interface ServiceLogEvent {
  service?: string;
  event?: string;
  addr?: string;
  served?: number;
  failed?: number;
  error?: string;
  [k: string]: unknown;
}

export function parseServiceLog(text: string): ServiceLogEvent[] {
  const out: ServiceLogEvent[] = [];
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (!t.startsWith('{')) continue;
    try {
      const v = JSON.parse(t) as unknown;
      if (v && typeof v === 'object' && !Array.isArray(v)) out.push(v as ServiceLogEvent);
    } catch {
      // Not one of ours: ignore.
    }
  }
  return out;
}

/** Resolves once GET url answers 200, or rejects after timeoutMs. */
export async function waitForHttp(url: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const status = await new Promise<number>((resolve) => {
      // agent: false, so no keep-alive socket outlives the check.
      const req = request(url, { agent: false, timeout: 2_000 }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', (e) => {
        last = e.message;
        resolve(0);
      });
      req.end();
    });
    if (status === 200) return;
    if (status) last = `HTTP ${status}`;
    if (Date.now() > deadline) throw new Error(`${url} not ready after ${timeoutMs} ms (${last})`);
    await sleep(50);
  }
}

/** Waits for the service's "listening" log event and returns its port. */
async function listeningPort(name: string, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const logs = await containerLogs(name);
    for (const ev of parseServiceLog(logs)) {
      if (ev.event === 'listening' && typeof ev.addr === 'string') {
        const port = Number(ev.addr.slice(ev.addr.lastIndexOf(':') + 1));
        if (Number.isInteger(port) && port > 0) return port;
      }
      if (ev.event === 'error') throw new Error(`${name} failed to start: ${ev.error ?? logs}`);
    }
    if ((await containerPid(name)) <= 0) throw new Error(`${name} exited at start:\n${logs}`);
    if (Date.now() > deadline) throw new Error(`${name} did not log its port within ${timeoutMs} ms:\n${logs}`);
    await sleep(40);
  }
}

/**
 * Starts one container of a demo service (replacing a container of the same name) and
 * waits until it answers GET /healthz.
 */
export async function startServiceContainer(
  bins: DemoBinaries,
  service: DemoService,
  o: StartServiceOptions,
): Promise<DemoContainer> {
  const rootfs = await demoRootfs(bins, service);
  const cmd = [`/app/${service}`, '-name', o.name, '-port', String(o.port ?? 0), ...(o.args ?? [])];
  const labels = { 'ctrace.demo': '1', 'ctrace.demo.service': service, ...(o.labels ?? {}) };
  const started = await startContainer({
    name: o.name,
    rootfs,
    cmd,
    labels,
    cleanupOnExit: o.cleanupOnExit !== false,
    ...(o.env ? { env: o.env } : {}),
  });
  try {
    const timeout = o.readyTimeoutMs ?? 20_000;
    const port = o.port ? o.port : await listeningPort(o.name, timeout);
    const url = `http://127.0.0.1:${port}`;
    await waitForHttp(`${url}/healthz`, timeout);
    return { ...started, service, port, url, rootfs };
  } catch (e) {
    const logs = await containerLogs(o.name).catch(() => '');
    await removeContainer(o.name).catch(() => {});
    const msg = e instanceof Error ? e.message : String(e);
    throw new Error(`${msg}${logs && !msg.includes(logs) ? `\n${o.name} log:\n${logs}` : ''}`);
  }
}

/** SIGTERM (so the service logs its served count), read that count, then remove. By name or id. */
export async function stopServiceContainer(name: string, timeoutSec = 5): Promise<ServiceExit> {
  let exit: ServiceExit = { served: null, failed: null };
  try {
    await stopContainer(name, timeoutSec);
    const stopped = parseServiceLog(await containerLogs(name)).find((e) => e.event === 'stopped');
    if (stopped) {
      exit = {
        served: typeof stopped.served === 'number' ? stopped.served : null,
        failed: typeof stopped.failed === 'number' ? stopped.failed : null,
      };
    }
  } catch {
    // Already gone, or not stoppable: removal below still runs.
  }
  await removeContainer(name);
  return exit;
}

/**
 * Builds (if sources changed) and starts the demo: voting and emoji, then frontend wired
 * to them. Idempotent: containers left with the same names are replaced.
 */
export async function startDemo(opts: DemoOptions = {}): Promise<DemoHandle> {
  const t0 = Date.now();
  const log = opts.log ?? (() => {});
  if (opts.instance !== undefined && !/^[a-z0-9][a-z0-9_.-]*$/i.test(opts.instance)) {
    throw new Error(`startDemo: bad instance name ${JSON.stringify(opts.instance)}`);
  }
  const bins = await buildDemo({ log, ...(opts.build ?? {}) });
  await pruneRootfs(bins.hash, 24 * 3600_000).catch(() => {});
  const t1 = Date.now();
  const labels = { 'ctrace.demo.instance': opts.instance ?? 'default', ...(opts.labels ?? {}) };
  const common = (service: DemoService): StartServiceOptions => ({
    name: demoContainerName(service, opts.instance),
    labels,
    cleanupOnExit: !opts.keep,
    ...(opts.ports?.[service] ? { port: opts.ports[service] } : {}),
    ...(opts.readyTimeoutMs ? { readyTimeoutMs: opts.readyTimeoutMs } : {}),
  });

  const votingArgs = ['-fail-rate', String(opts.failRate ?? 0.1)];
  if (opts.slowEvery) votingArgs.push('-slow-every', String(opts.slowEvery), '-slow-ms', String(opts.slowMs ?? 0));
  const emojiArgs = ['-latency-ms', String(opts.latencyMs ?? 0)];

  const started: DemoContainer[] = [];
  const track = async (p: Promise<DemoContainer>) => {
    const c = await p;
    started.push(c);
    return c;
  };
  try {
    // Start voting and emoji together; a failure of one must not leave the other behind.
    const settled = await Promise.allSettled([
      track(startServiceContainer(bins, 'voting', { ...common('voting'), args: [...votingArgs, ...(opts.extraArgs?.voting ?? [])] })),
      track(startServiceContainer(bins, 'emoji', { ...common('emoji'), args: [...emojiArgs, ...(opts.extraArgs?.emoji ?? [])] })),
    ]);
    for (const s of settled) if (s.status === 'rejected') throw s.reason;
    const [voting, emoji] = settled.map((s) => (s as PromiseFulfilledResult<DemoContainer>).value) as [
      DemoContainer,
      DemoContainer,
    ];
    const frontend = await track(
      startServiceContainer(bins, 'frontend', {
        ...common('frontend'),
        args: ['-voting', voting.url, '-emoji', emoji.url, ...(opts.extraArgs?.frontend ?? [])],
      }),
    );
    const containers = { frontend, voting, emoji };
    const urls = { frontend: frontend.url, voting: voting.url, emoji: emoji.url };
    const now = Date.now();
    const timings: DemoTimings = { buildMs: bins.ms, built: bins.built, startMs: now - t1, totalMs: now - t0 };
    log(`demo up in ${timings.totalMs} ms (build ${bins.built ? 'ran' : 'cached'}, ${bins.ms} ms): ${urls.frontend}`);

    let stopping: Promise<Record<DemoService, ServiceExit>> | undefined;
    const stop = () => {
      // frontend first, so it makes no new downstream calls while the others stop.
      // By id, not name: a stale handle must not remove a newer stack that reuses the names.
      const one = async (c: DemoContainer) => {
        const exit = await stopServiceContainer(c.id);
        if (!(await containerExists(c.name))) forgetOnExit(c.name);
        return exit;
      };
      stopping ??= one(frontend).then(async (fe) => {
        const [vo, em] = await Promise.all([one(voting), one(emoji)]);
        return { frontend: fe, voting: vo, emoji: em };
      });
      return stopping;
    };
    return { instance: opts.instance, containers, urls, binaries: bins, timings, stop };
  } catch (e) {
    await Promise.all(started.map((c) => removeContainer(c.name).catch(() => {})));
    // Also those that were started but failed readiness (startServiceContainer removes
    // them itself) or never reported back.
    await Promise.all(DEMO_SERVICES.map((s) => removeContainer(demoContainerName(s, opts.instance)).catch(() => {})));
    throw e;
  }
}

/**
 * Stops and removes the demo containers of an instance by name, whoever started them
 * (e.g. a stack started with `keep`). Missing containers are not an error.
 */
export async function stopDemo(instance?: string): Promise<Record<DemoService, ServiceExit>> {
  // frontend first, so it makes no new downstream calls while the others stop.
  const frontend = await stopServiceContainer(demoContainerName('frontend', instance));
  const [voting, emoji] = await Promise.all([
    stopServiceContainer(demoContainerName('voting', instance)),
    stopServiceContainer(demoContainerName('emoji', instance)),
  ]);
  return { frontend, voting, emoji };
}

// --- load -----------------------------------------------------------------------------

export interface LoadOptions {
  /** Exact number of requests. Give this or durationMs. */
  requests?: number;
  /** Send for this long instead. */
  durationMs?: number;
  /** Total requests per second (default: as fast as concurrency allows). */
  rate?: number;
  /** Concurrent connections (default 4). */
  concurrency?: number;
  /** Values of n (default [1]). */
  ns?: number[];
  /** Values of ms for {ms} in the URL (emoji's sleep). */
  ms?: number[];
  /** 0 (default): values round-robin; otherwise pseudo-random from this seed. */
  seed?: number;
  /** Which service to load (default frontend); the path follows from it unless `path` is given. */
  target?: DemoService;
  /** Path and query pattern with {n} / {ms}, e.g. '/emoji?n={n}&ms={ms}'. */
  path?: string;
  /** Kill the load generator after this long (default: duration or 2 min, plus 60 s). */
  timeoutMs?: number;
  /** Stops the load generator early (its summary is then not available). */
  signal?: AbortSignal;
}

export interface LoadSummary {
  url: string;
  sent: number;
  /** 2xx answers. */
  ok: number;
  /** Non-2xx answers plus transport errors. */
  failed: number;
  /** Transport errors (no HTTP answer). */
  errors: number;
  /** Requests sent per value of n (keys are decimal strings). */
  byN: Record<string, number>;
  okByN: Record<string, number>;
  failedByN: Record<string, number>;
  byMs?: Record<string, number>;
  /** Count per HTTP status ("error" for transport errors). */
  status: Record<string, number>;
  durationMs: number;
  rps: number;
  /** Over answered requests: min, mean, p50, p90, p95, p99, p999, max. */
  latencyMs: Record<string, number>;
  errorSamples?: string[];
}

function defaultPath(target: DemoService, withMs: boolean): string {
  switch (target) {
    case 'frontend':
      return '/vote?n={n}';
    case 'voting':
      return '/vote?n={n}';
    case 'emoji':
      return withMs ? '/emoji?n={n}&ms={ms}' : '/emoji?n={n}';
  }
}

function intList(name: string, xs: number[]): string {
  if (xs.length === 0 || !xs.every(Number.isSafeInteger)) throw new Error(`runLoad: ${name} must be a non-empty list of integers`);
  return xs.join(',');
}

/** Runs the load generator binary against a URL pattern and returns its summary. */
export async function runLoadgen(loadgen: string, urlPattern: string, o: LoadOptions): Promise<LoadSummary> {
  if ((o.requests === undefined) === (o.durationMs === undefined)) {
    throw new Error('runLoad: give exactly one of requests or durationMs');
  }
  const args = ['-url', urlPattern, '-c', String(o.concurrency ?? 4), '-ns', intList('ns', o.ns ?? [1])];
  if (o.requests !== undefined) args.push('-requests', String(o.requests));
  if (o.durationMs !== undefined) args.push('-duration', `${Math.max(1, Math.round(o.durationMs))}ms`);
  if (o.rate) args.push('-rate', String(o.rate));
  if (o.ms) args.push('-ms', intList('ms', o.ms));
  if (o.seed) args.push('-seed', String(o.seed));
  const timeout = o.timeoutMs ?? (o.durationMs ?? 120_000) + 60_000;
  const r = await execa(loadgen, args, { reject: false, timeout, stdin: 'ignore', ...(o.signal ? { cancelSignal: o.signal } : {}) });
  if (r.exitCode !== 0 || r.failed) {
    throw new Error(`loadgen failed${r.timedOut ? ' (timed out)' : ''}: ${String(r.stderr).trim() || `exit ${r.exitCode}`}`);
  }
  return JSON.parse(String(r.stdout)) as LoadSummary;
}

/** Sends load to the demo (default: frontend's /vote) with the demo's load generator. */
export async function runLoad(
  handle: Pick<DemoHandle, 'binaries' | 'urls'>,
  o: LoadOptions,
): Promise<LoadSummary> {
  const target = o.target ?? 'frontend';
  const path = o.path ?? defaultPath(target, o.ms !== undefined);
  return runLoadgen(handle.binaries.paths.loadgen, handle.urls[target] + path, o);
}

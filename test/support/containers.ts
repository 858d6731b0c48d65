// Containers for end-to-end tests: N containers of a demo service with unique names,
// labelled so leftovers of a crashed run can be found and removed.
//
//   const pool = useTestContainers();            // registers afterAll(pool.cleanup)
//   const [a, b] = await pool.start('emoji', 2);
//   ... a.hostPid, a.url ...
//
// Test files run in parallel (vitest forks), so cleanupStale() removes only containers
// whose owning test process is gone, never a sibling's live ones.

import { randomBytes } from 'node:crypto';
import { afterAll } from 'vitest';
import { buildDemo, type DemoBinaries, type DemoService } from '../../src/demo/build.js';
import { listContainers, removeContainer } from '../../src/demo/podman.js';
import {
  runLoadgen,
  startServiceContainer,
  stopServiceContainer,
  type DemoContainer,
  type LoadOptions,
  type LoadSummary,
  type ServiceExit,
} from '../../src/demo/stack.js';
import { ownerAlive, ownerId } from './owner.js';

export const TEST_LABEL = 'ctrace.test';
export const OWNER_LABEL = 'ctrace.test.owner';
export const TEST_PREFIX = 'ctrace-test-';

export type TestContainer = DemoContainer;

export interface StartTestOptions {
  /** Extra service flags, e.g. ['-latency-ms', '15'] for emoji. */
  args?: string[];
  labels?: Record<string, string>;
  env?: Record<string, string>;
  readyTimeoutMs?: number;
  /** Listen on this port (default: one the service picks; a restart then moves it). */
  port?: number;
}

/** A unique container name for a service: ctrace-test-<service>-<8 hex>. */
export function uniqueName(service: string): string {
  return `${TEST_PREFIX}${service}-${randomBytes(4).toString('hex')}`;
}

/**
 * Removes containers labelled ctrace.test=1 whose owning process is dead (or, with
 * `all`, every one). Returns the names removed.
 */
export async function cleanupStale(opts: { all?: boolean } = {}): Promise<string[]> {
  const rows = await listContainers({ labels: { [TEST_LABEL]: '1' } });
  const stale = rows.filter((r) => opts.all || !ownerAlive(r.labels[OWNER_LABEL]));
  await Promise.all(stale.map((r) => removeContainer(r.name).catch(() => {})));
  return stale.map((r) => r.name);
}

export class TestContainers {
  readonly all: TestContainer[] = [];
  private bins: Promise<DemoBinaries> | undefined;

  /** The demo binaries (built once per process, cached across runs). */
  binaries(): Promise<DemoBinaries> {
    this.bins ??= buildDemo();
    return this.bins;
  }

  /** Starts `count` containers of `service` in parallel and waits until each answers HTTP. */
  async start(service: DemoService, count = 1, o: StartTestOptions = {}): Promise<TestContainer[]> {
    const bins = await this.binaries();
    const labels = { [TEST_LABEL]: '1', [OWNER_LABEL]: ownerId(), ...(o.labels ?? {}) };
    const settled = await Promise.allSettled(
      Array.from({ length: count }, () =>
        startServiceContainer(bins, service, {
          name: uniqueName(service),
          labels,
          ...(o.args ? { args: o.args } : {}),
          ...(o.env ? { env: o.env } : {}),
          ...(o.readyTimeoutMs ? { readyTimeoutMs: o.readyTimeoutMs } : {}),
          ...(o.port ? { port: o.port } : {}),
        }),
      ),
    );
    const ok = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    this.all.push(...ok);
    const bad = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (bad) throw bad.reason;
    return ok;
  }

  /**
   * Removes `c` and runs a new container of its service under the same name and port (a new
   * id, a new PID), as `podman rm` + `podman run` do; `whileDown` runs in between.
   */
  async recreate(c: TestContainer, o: Omit<StartTestOptions, 'port'> & { whileDown?: () => Promise<unknown> } = {}): Promise<TestContainer> {
    const bins = await this.binaries();
    await removeContainer(c.name);
    await o.whileDown?.();
    const labels = { [TEST_LABEL]: '1', [OWNER_LABEL]: ownerId(), ...(o.labels ?? {}) };
    const next = await startServiceContainer(bins, c.service, { name: c.name, port: c.port, labels, ...(o.args ? { args: o.args } : {}), ...(o.env ? { env: o.env } : {}) });
    const i = this.all.indexOf(c);
    if (i >= 0) this.all.splice(i, 1, next);
    else this.all.push(next);
    return next;
  }

  /**
   * Runs the load generator against one container (path pattern with {n} / {ms}). With
   * `keysFirst`, each n is first sent once alone: bpftrace's count() can lose an increment when
   * two CPUs create the same new key at once (docs/troubleshooting.md), so an exact-count test
   * makes its keys before the concurrent load. `requests` is then the total.
   */
  async load(c: TestContainer, path: string, o: LoadOptions & { keysFirst?: boolean }): Promise<LoadSummary> {
    const bins = await this.binaries();
    const { keysFirst, ...opts } = o;
    if (!keysFirst || opts.requests === undefined) return runLoadgen(bins.paths.loadgen, c.url + path, opts);
    const ns = opts.ns ?? [1];
    const first = await runLoadgen(bins.paths.loadgen, c.url + path, { ...opts, requests: ns.length, ns, concurrency: 1 });
    const rest = await runLoadgen(bins.paths.loadgen, c.url + path, { ...opts, requests: opts.requests - ns.length, ns });
    return addSummaries(first, rest);
  }

  /** SIGTERMs and removes one container; returns its served count from its log. */
  async stop(c: TestContainer): Promise<ServiceExit> {
    const i = this.all.indexOf(c);
    if (i >= 0) this.all.splice(i, 1);
    return stopServiceContainer(c.name, 2);
  }

  /** Removes every container this pool started. */
  cleanup = async (): Promise<void> => {
    const names = this.all.splice(0).map((c) => c.name);
    await Promise.all(names.map((n) => removeContainer(n).catch(() => {})));
  };
}

/** Two loads of one URL as one: counts add, per key. */
function addSummaries(a: LoadSummary, b: LoadSummary): LoadSummary {
  const add = (x: Record<string, number> = {}, y: Record<string, number> = {}) => {
    const out = { ...x };
    for (const [k, v] of Object.entries(y)) out[k] = (out[k] ?? 0) + v;
    return out;
  };
  // Latency, rate and duration stay the concurrent part's.
  return {
    ...b,
    sent: a.sent + b.sent,
    ok: a.ok + b.ok,
    failed: a.failed + b.failed,
    errors: a.errors + b.errors,
    byN: add(a.byN, b.byN),
    okByN: add(a.okByN, b.okByN),
    failedByN: add(a.failedByN, b.failedByN),
    ...(a.byMs || b.byMs ? { byMs: add(a.byMs, b.byMs) } : {}),
    status: add(a.status, b.status),
  };
}

/** A pool whose containers are removed in afterAll of the calling test file. */
export function useTestContainers(): TestContainers {
  const pool = new TestContainers();
  afterAll(pool.cleanup);
  return pool;
}

// Container names, labels and PIDs -> ResolvedTargets. The runtime is asked first (it
// knows names, ids, labels and the main PID); /proc gives the rest. Every user string is
// validated before any runtime is run, and runtimes get argv arrays, never a shell.

import { containerdClient, CRI_NAMESPACE, CtrClient, isValidNamespace } from './containerd.js';
import { dockerClient } from './docker.js';
import { isValidContainerRef, parseLabelSelector } from './exec.js';
import { isValidPid, resolvePid } from './pid.js';
import { podmanClient } from './podman.js';
import { describeProcess, nsInodeOrNull, procStat } from './proc.js';
import type {
  ContainerRecord,
  ContainerRuntime,
  ResolvedTarget,
  ResolveOptions,
  ResolveRequest,
  ResolveResult,
  RuntimeAnswer,
  RuntimeClient,
} from './types.js';

const RUNTIMES = ['podman', 'docker', 'containerd', 'auto'] as const;

/** The runtime clients in order of preference: podman, docker, containerd (ctr, else crictl). */
export function defaultRuntimes(env: NodeJS.ProcessEnv = process.env): RuntimeClient[] {
  return [podmanClient(env), dockerClient(env), containerdClient(env)];
}

const q = (s: string) => `'${s}'`;

function listWords(xs: string[]): string {
  if (xs.length <= 2) return xs.join(' and ');
  return `${xs.slice(0, -1).join(', ')} and ${xs[xs.length - 1]}`;
}

interface Asked<T> {
  client: RuntimeClient;
  answer: RuntimeAnswer<T>;
}

/** "(looked in podman, docker)", plus the runtimes that could not be asked. */
function lookedIn(asked: Asked<unknown>[]): string {
  const answered = asked.filter((a) => a.answer.status !== 'unavailable').map((a) => a.client.runtime);
  const silent = asked.filter((a) => a.answer.status === 'unavailable').map((a) => a.client.runtime);
  const parts: string[] = [];
  if (answered.length) parts.push(`looked in ${answered.join(', ')}`);
  if (silent.length) parts.push(`${listWords(silent)} ${silent.length > 1 ? 'are' : 'is'} not answering`);
  return parts.length ? ` (${parts.join('; ')})` : '';
}

/** Keeps the first record of each full id: podman's Docker API serves the same containers to docker. */
function dedupeById(records: ContainerRecord[]): ContainerRecord[] {
  const seen = new Set<string>();
  return records.filter((r) => (seen.has(r.id) ? false : (seen.add(r.id), true)));
}

type Step<T> = { ok: true; value: T } | { ok: false; message: string };

/** Picks the runtimes to ask: the one named, or every installed one for auto. */
function chooseClients(runtime: ResolveRequest['runtime'], all: RuntimeClient[]): Step<{ clients: RuntimeClient[]; explicit: boolean }> {
  const choice = runtime ?? 'auto';
  if (!(RUNTIMES as readonly string[]).includes(choice)) {
    return { ok: false, message: `unknown container runtime '${String(choice)}': use podman, docker, containerd or auto` };
  }
  if (choice !== 'auto') {
    const c = all.find((x) => x.runtime === choice);
    if (!c || !c.installed()) {
      return { ok: false, message: `--runtime ${choice} was given, but ${c?.whyNotInstalled?.() ?? `the ${choice} command is not installed`}` };
    }
    return { ok: true, value: { clients: [c], explicit: true } };
  }
  const installed = all.filter((c) => c.installed());
  if (installed.length === 0) {
    const names = [...new Set(all.map((c) => (c.runtime === 'containerd' ? 'containerd (ctr or crictl)' : c.runtime)))];
    return { ok: false, message: `no container runtime is installed (looked for ${names.join(', ')})` };
  }
  return { ok: true, value: { clients: installed, explicit: false } };
}

async function findOne(ref: string, clients: RuntimeClient[], explicit: boolean): Promise<Step<ContainerRecord>> {
  const asked: Asked<ContainerRecord[]>[] = await Promise.all(
    clients.map(async (client) => ({ client, answer: await client.find(ref).catch((e: unknown) => errorAnswer(client, e)) })),
  );
  if (explicit) {
    const a = asked[0]!.answer;
    if (a.status === 'unavailable') return { ok: false, message: `${asked[0]!.client.runtime} is not answering: ${a.reason}` };
    if (a.status === 'error') return { ok: false, message: a.message };
  }
  const found = dedupeById(asked.flatMap((a) => (a.answer.status === 'ok' ? a.answer.value : [])));
  if (found.length === 0) {
    const err = asked.find((a) => a.answer.status === 'error');
    if (err && err.answer.status === 'error') return { ok: false, message: err.answer.message };
    if (asked.every((a) => a.answer.status === 'unavailable')) {
      const why = asked.map((a) => `${a.client.runtime}: ${a.answer.status === 'unavailable' ? a.answer.reason : ''}`).join('; ');
      return { ok: false, message: `no container runtime answered, so '${ref}' cannot be looked up (${why})` };
    }
    return { ok: false, message: `no container named ${q(ref)} was found${lookedIn(asked)}` };
  }
  const runtimes = [...new Set(found.map((r) => r.runtime))];
  if (runtimes.length > 1) {
    const where = runtimes.length === 2 ? `both ${listWords(runtimes)}` : listWords(runtimes);
    return { ok: false, message: `${q(ref)} names containers in ${where}: choose one with --runtime` };
  }
  if (found.length > 1) {
    // Within one runtime only CRI names repeat (one per pod).
    return { ok: false, message: `${q(ref)} matches ${found.length} containers in ${runtimes[0]}: give the container id instead` };
  }
  const rec = found[0]!;
  if (!rec.running) return { ok: false, message: `container ${q(ref)} is not running (state: ${rec.state})` };
  return { ok: true, value: rec };
}

function errorAnswer(client: RuntimeClient, e: unknown): RuntimeAnswer<never> {
  return { status: 'error', message: `${client.runtime} failed: ${e instanceof Error ? e.message : String(e)}` };
}

async function findLabelled(labels: string[], clients: RuntimeClient[], explicit: boolean): Promise<Step<ContainerRecord[]>> {
  const asked: Asked<ContainerRecord[]>[] = await Promise.all(
    clients.map(async (client) => ({ client, answer: await client.withLabels(labels).catch((e: unknown) => errorAnswer(client, e)) })),
  );
  if (explicit) {
    const a = asked[0]!.answer;
    if (a.status === 'unavailable') return { ok: false, message: `${asked[0]!.client.runtime} is not answering: ${a.reason}` };
    if (a.status === 'error') return { ok: false, message: a.message };
  }
  const found = dedupeById(asked.flatMap((a) => (a.answer.status === 'ok' ? a.answer.value : []))).filter((r) => r.running);
  if (found.length === 0) {
    const err = asked.find((a) => a.answer.status === 'error');
    if (err && err.answer.status === 'error') return { ok: false, message: err.answer.message };
    const what = labels.length === 1 ? `the label ${labels[0]}` : `all of the labels ${labels.join(', ')}`;
    return { ok: false, message: `no running container has ${what}${lookedIn(asked)}` };
  }
  return { ok: true, value: found };
}

function toTarget(rec: ContainerRecord, asked: string): Step<ResolvedTarget> {
  const r = describeProcess(rec.pid, { runtime: rec.runtime, id: rec.id, name: rec.name, labels: rec.labels }, true);
  if (r.ok) return { ok: true, value: r.target };
  if (r.reason === 'gone') return { ok: false, message: `container ${q(asked)} stopped while it was being resolved` };
  return { ok: false, message: r.message };
}

/** What is wrong with a selector that no runtime should ever see (one sentence), or null. */
export function selectorProblem(req: { containers?: readonly string[]; labels?: readonly string[]; pids?: readonly number[] }): string | null {
  for (const c of req.containers ?? []) {
    if (!isValidContainerRef(c)) return `${JSON.stringify(c)} is not a valid container name (use letters, digits and _ . - only)`;
  }
  for (const l of req.labels ?? []) {
    if (!parseLabelSelector(l)) return `${JSON.stringify(l)} is not a valid label selector (expected key=value)`;
  }
  for (const p of req.pids ?? []) if (!isValidPid(p)) return `${JSON.stringify(p)} is not a valid PID`;
  return null;
}

/**
 * Resolves containers (by name or id prefix), label selectors and PIDs to targets.
 * Fails with one sentence on the first selector that matches nothing usable.
 */
export async function resolveTargets(req: ResolveRequest, options: ResolveOptions | NodeJS.ProcessEnv = {}): Promise<ResolveResult> {
  const opts = normalizeOptions(options);
  const containers = req.containers ?? [];
  const labels = req.labels ?? [];
  const pids = req.pids ?? [];
  // Validate everything before anything runs.
  const problem = selectorProblem(req);
  if (problem !== null) return { ok: false, message: problem };
  if (containers.length + labels.length + pids.length === 0) {
    return { ok: false, message: 'no target was given: name a container with -c, a label with --label, or a process with -p' };
  }

  const out: ResolvedTarget[] = [];
  if (containers.length > 0 || labels.length > 0) {
    const chosen = chooseClients(req.runtime, opts.runtimes ?? defaultRuntimes(opts.env ?? process.env));
    if (!chosen.ok) return chosen;
    const { clients, explicit } = chosen.value;
    const [named, labelled] = await Promise.all([
      Promise.all(containers.map((c) => findOne(c, clients, explicit))),
      labels.length > 0 ? findLabelled(labels, clients, explicit) : Promise.resolve<Step<ContainerRecord[]>>({ ok: true, value: [] }),
    ]);
    const records: { rec: ContainerRecord; asked: string }[] = [];
    for (const [i, n] of named.entries()) {
      if (!n.ok) return n;
      records.push({ rec: n.value, asked: containers[i]! });
    }
    if (!labelled.ok) return labelled;
    for (const rec of labelled.value) records.push({ rec, asked: rec.name || rec.id.slice(0, 12) });
    for (const { rec, asked } of records) {
      const t = toTarget(rec, asked);
      if (!t.ok) return t;
      out.push(t.value);
    }
  }
  for (const p of pids) {
    const r = resolvePid(p);
    if (!r.ok) return r;
    out.push(r.target);
  }
  // One target per process: `-c x -p <x's PID>` or `-c x --label ...` name it twice.
  const seen = new Set<number>();
  return { ok: true, targets: out.filter((t) => (seen.has(t.hostPid) ? false : (seen.add(t.hostPid), true))) };
}

export interface ContainerdIdOptions {
  /** containerd namespace: k8s.io (the CRI plugin's, Kubernetes' containers) by default; ctr's own is `default`. */
  namespace?: string;
  env?: NodeJS.ProcessEnv;
}

/**
 * One containerd container by its full id, as Kubernetes reports it in a pod's
 * containerStatuses (`containerd://<id>`, the prefix optional), asked through ctr on this
 * host. One sentence when it is not there or not running.
 */
export async function resolveContainerdId(id: string, opts: ContainerdIdOptions = {}): Promise<ResolveResult> {
  const bare = id.replace(/^containerd:\/\//, '');
  const namespace = opts.namespace ?? CRI_NAMESPACE;
  if (!isValidContainerRef(bare)) return { ok: false, message: `${JSON.stringify(id)} is not a valid containerd container id` };
  if (!isValidNamespace(namespace)) return { ok: false, message: `${JSON.stringify(namespace)} is not a valid containerd namespace` };
  const client = new CtrClient(opts.env ?? process.env, { namespaces: [namespace] });
  if (!client.installed()) return { ok: false, message: `containerd container ${bare.slice(0, 12)} cannot be looked up: ${client.whyNotInstalled()}` };
  const a = await client.byId(bare);
  if (a.status === 'unavailable') return { ok: false, message: `containerd is not answering: ${a.reason}` };
  if (a.status === 'error') return { ok: false, message: a.message };
  const rec = a.value[0];
  if (!rec) return { ok: false, message: `no containerd container has the id ${bare} in namespace ${namespace}` };
  if (!rec.running) return { ok: false, message: `container ${q(rec.name)} is not running (state: ${rec.state})` };
  const t = toTarget(rec, rec.name);
  return t.ok ? { ok: true, targets: [t.value] } : t;
}

/** Accepts a bare environment (`resolveTargets(req, process.env)`) as well as ResolveOptions. */
function normalizeOptions(o: ResolveOptions | NodeJS.ProcessEnv): ResolveOptions {
  const keys = Object.keys(o);
  if (keys.includes('env') || keys.includes('runtimes')) return o as ResolveOptions;
  if (keys.length > 0 && Object.values(o).every((v) => typeof v === 'string' || v === undefined)) return { env: o as NodeJS.ProcessEnv };
  return o as ResolveOptions;
}

// --- stopping and restarting --------------------------------------------------------------

export interface WatchOptions {
  /** Poll period, ms (default 500). */
  intervalMs?: number;
}

function goneReason(t: ResolvedTarget, why: 'exited' | 'replaced' | 'moved'): string {
  const what = t.runtime === 'pid' ? `process ${t.hostPid} (${t.name})` : `container '${t.name}'`;
  if (why === 'exited') return `${what} exited`;
  if (why === 'replaced') return `${what} is gone: PID ${t.hostPid} now belongs to another process`;
  return `${what} is gone: its main process left the mount namespace it was traced in`;
}

/**
 * Polls each target's main process (cheap: /proc/PID/stat and the mnt ns link) and calls
 * onGone once per target when it exits, or its PID is reused by another process. Returns
 * a function that stops watching.
 */
export function watchTargets(
  targets: readonly ResolvedTarget[],
  onGone: (t: ResolvedTarget, reason: string) => void,
  opts: WatchOptions = {},
): () => void {
  const live = targets.map((t) => ({ t, start: t.startTime !== undefined ? String(t.startTime) : (procStat(t.hostPid)?.start ?? null), gone: false }));
  const check = () => {
    for (const w of live) {
      if (w.gone) continue;
      const st = procStat(w.t.hostPid);
      let why: 'exited' | 'replaced' | 'moved' | null = null;
      if (!st || st.state === 'Z' || st.state === 'X' || w.start === null) why = 'exited';
      else if (st.start !== w.start) why = 'replaced';
      else {
        const mnt = nsInodeOrNull(w.t.hostPid, 'mnt');
        if (mnt === null) why = 'exited';
        else if (mnt !== w.t.mntns) why = 'moved';
      }
      if (why) {
        w.gone = true;
        try {
          onGone(w.t, goneReason(w.t, why));
        } catch {
          // the callback's problem, not the watcher's
        }
      }
    }
    if (live.every((w) => w.gone)) stop();
  };
  const timer = setInterval(check, opts.intervalMs ?? 500);
  timer.unref();
  // A target already gone is reported at once (but asynchronously, as the others will be).
  const first = setTimeout(check, 0);
  first.unref();
  let stopped = false;
  function stop(): void {
    if (stopped) return;
    stopped = true;
    clearInterval(timer);
    clearTimeout(first);
  }
  return stop;
}

/** How long a restarted container's main process may take to exec its binary. */
const EXEC_GRACE_MS = 2000;

export interface RestartOptions extends ResolveOptions {
  /** Poll period, ms (default 500). */
  intervalMs?: number;
  signal?: AbortSignal;
}

/**
 * For --follow: waits until a container of the same name runs again as a new instance (a
 * new id, or the same id with a new main process) and returns it; null on timeout, abort,
 * or for a -p target (a process does not come back).
 */
export async function waitForRestart(target: ResolvedTarget, timeoutMs: number, opts: RestartOptions = {}): Promise<ResolvedTarget | null> {
  if (target.runtime === 'pid' || !target.name) return null;
  const runtime: ContainerRuntime = target.runtime;
  const deadline = Date.now() + timeoutMs;
  const interval = opts.intervalMs ?? 500;
  let firstSeen: number | null = null;
  for (;;) {
    if (opts.signal?.aborted) return null;
    const r = await resolveTargets({ containers: [target.name], labels: [], pids: [], runtime }, opts);
    if (r.ok) {
      const t = r.targets[0];
      const sameProcess = t && t.hostPid === target.hostPid && (t.startTime === undefined || target.startTime === undefined || t.startTime === target.startTime);
      if (t && (t.id !== target.id || !sameProcess)) {
        // Just started, its main process can still be the runtime's init, not yet exec'd into
        // the container's binary: give it a moment before taking the binary as missing.
        firstSeen ??= Date.now();
        if (t.exeHost !== '' || target.exeHost === '' || Date.now() - firstSeen >= EXEC_GRACE_MS) return t;
      }
    }
    const left = deadline - Date.now();
    if (left <= 0) return null;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, Math.min(interval, left));
      function done() {
        clearTimeout(timer);
        opts.signal?.removeEventListener('abort', done);
        resolve();
      }
      opts.signal?.addEventListener('abort', done, { once: true });
    });
  }
}

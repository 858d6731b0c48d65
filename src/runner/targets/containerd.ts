// containerd, asked through its own CLI `ctr` (Debian's containerd package ships it).
//
// containerd keeps containers in namespaces: `default` for ctr and nerdctl, `k8s.io` for
// Kubernetes (its CRI plugin), `moby` for dockerd. Every namespace is searched unless
// CONTAINERD_NAMESPACE names one; CONTAINERD_ADDRESS names the socket (both read by ctr
// itself, exactly as they are for the user).
//
// A container's name is its CRI name (what crictl shows: the metadata the CRI plugin keeps
// in the container's extension io.cri-containerd.container.metadata, or kubelet's label
// io.kubernetes.container.name), else its nerdctl name (label nerdctl/name), else its id.
// A ref matches a name, or the start of an id. A pod's sandbox (pause) container is known
// by its id only. The PID is the task's: `ctr tasks ls` prints TASK PID STATUS.

import { existsSync } from 'node:fs';
import { findExecutable, firstErrorLine, parseLabelSelector, runCli } from './exec.js';
import { crictlClient } from './crictl.js';
import type { ContainerRecord, RuntimeAnswer, RuntimeClient } from './types.js';

export const CTR_TIMEOUT_MS = 4_000;
export const DEFAULT_CONTAINERD_ADDRESS = '/run/containerd/containerd.sock';
/** Where the CRI plugin keeps Kubernetes' containers. */
export const CRI_NAMESPACE = 'k8s.io';
export const NAME_LABELS = ['io.kubernetes.container.name', 'nerdctl/name'] as const;
const CRI_KIND = 'io.cri-containerd.kind';
const CRI_METADATA = 'io.cri-containerd.container.metadata';

/** containerd's own rule for namespace names (a DNS label, dots allowed). */
const NAMESPACE_RE = /^[a-zA-Z0-9](?:[a-zA-Z0-9._-]{0,74}[a-zA-Z0-9])?$/;

export function isValidNamespace(s: string): boolean {
  return NAMESPACE_RE.test(s);
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => !!v && typeof v === 'object' && !Array.isArray(v);

/** The name a person knows a containerd container by (see the top of this file). */
export function containerdName(id: string, labels: Record<string, string>, criName?: string): string {
  if (labels[CRI_KIND] === 'sandbox') return id;
  if (criName) return criName;
  for (const k of NAME_LABELS) if (labels[k]) return labels[k]!;
  return id;
}

/** The CRI name from `ctr containers info`'s Extensions (base64 JSON: Metadata.Config.metadata.name). */
function criName(extensions: unknown): string | undefined {
  const ext = isObj(extensions) ? extensions[CRI_METADATA] : undefined;
  if (!isObj(ext) || typeof ext.value !== 'string') return undefined;
  try {
    const doc = JSON.parse(Buffer.from(ext.value, 'base64').toString('utf8')) as unknown;
    const meta = isObj(doc) && isObj(doc.Metadata) && isObj(doc.Metadata.Config) ? doc.Metadata.Config.metadata : undefined;
    return isObj(meta) && typeof meta.name === 'string' && meta.name ? meta.name : undefined;
  } catch {
    return undefined;
  }
}

export interface CtrTask {
  pid: number;
  /** running, paused, stopped, created, ... (lower case) */
  status: string;
}

/** Parses `ctr tasks ls`: a header, then `ID PID STATUS` rows. */
export function parseCtrTasks(text: string): Map<string, CtrTask> {
  const out = new Map<string, CtrTask>();
  for (const line of text.split('\n').slice(1)) {
    const [id, pid, status] = line.trim().split(/\s+/);
    if (!id || !pid || !status || !/^\d+$/.test(pid)) continue;
    out.set(id, { pid: Number(pid), status: status.toLowerCase() });
  }
  return out;
}

/** Parses `ctr containers info ID` (one JSON object) with the container's task, if any. */
export function parseCtrInfo(text: string, task: CtrTask | undefined): ContainerRecord | null {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return null;
  }
  if (!isObj(doc) || typeof doc.ID !== 'string' || !doc.ID) return null;
  const labels: Record<string, string> = {};
  if (isObj(doc.Labels)) for (const [k, v] of Object.entries(doc.Labels)) labels[k] = String(v);
  const state = task?.status ?? 'stopped';
  // A paused task still has its processes: it can be traced (they just do nothing).
  const running = !!task && task.pid > 0 && (state === 'running' || state === 'paused');
  return {
    runtime: 'containerd',
    id: doc.ID,
    name: containerdName(doc.ID, labels, criName(doc.Extensions)),
    state,
    running,
    pid: running ? task!.pid : 0,
    labels,
  };
}

const idList = (text: string) => text.split('\n').map((s) => s.trim()).filter((s) => s.length > 0);

export interface CtrOptions {
  /** Only these namespaces (default: CONTAINERD_NAMESPACE if set, else every namespace). */
  namespaces?: string[];
}

export class CtrClient implements RuntimeClient {
  readonly runtime = 'containerd' as const;

  constructor(
    private readonly env: NodeJS.ProcessEnv = process.env,
    private readonly opts: CtrOptions = {},
  ) {}

  program(): string | null {
    return findExecutable(this.env.CTRACE_CTR || 'ctr', this.env);
  }

  /** The socket ctr will dial (`unix://` stripped). */
  address(): string {
    return (this.env.CONTAINERD_ADDRESS || DEFAULT_CONTAINERD_ADDRESS).replace(/^unix:\/\//, '');
  }

  /**
   * ctr is on PATH and containerd's socket exists. Without the socket ctr would wait 10 s
   * to say so, and a host without containerd is the common case, not an error.
   */
  installed(): boolean {
    return this.program() !== null && existsSync(this.address());
  }

  whyNotInstalled(): string {
    if (this.program() === null) return 'the ctr command is not installed';
    return `containerd is not running (no socket at ${this.address()})`;
  }

  private async ctr(namespace: string | null, args: string[]): Promise<{ ok: true; stdout: string } | { ok: false; answer: RuntimeAnswer<never> }> {
    const bin = this.program();
    if (!bin || !existsSync(this.address())) return { ok: false, answer: { status: 'unavailable', reason: this.whyNotInstalled() } };
    const global = ['--connect-timeout', '2s', ...(namespace ? ['--namespace', namespace] : [])];
    const r = await runCli(bin, [...global, ...args], { env: this.env, timeoutMs: CTR_TIMEOUT_MS });
    if (r.spawnError) return { ok: false, answer: { status: 'unavailable', reason: `ctr could not be started (${r.spawnError})` } };
    if (r.timedOut) return { ok: false, answer: { status: 'unavailable', reason: `ctr did not answer within ${CTR_TIMEOUT_MS / 1000} s` } };
    if (r.exitCode !== 0) {
      const line = firstErrorLine(r.stderr.replace(/^ctr: /, '')) || `exit code ${r.exitCode}`;
      const unreachable = /failed to dial|connection refused|permission denied|no such file/i.test(r.stderr);
      const answer: RuntimeAnswer<never> = unreachable ? { status: 'unavailable', reason: line } : { status: 'error', message: `ctr ${args.slice(0, 2).join(' ')} failed: ${line}` };
      return { ok: false, answer };
    }
    return { ok: true, stdout: r.stdout };
  }

  private async namespaces(): Promise<RuntimeAnswer<string[]>> {
    const given = this.opts.namespaces ?? (this.env.CONTAINERD_NAMESPACE ? [this.env.CONTAINERD_NAMESPACE] : null);
    if (given) {
      const bad = given.find((n) => !isValidNamespace(n));
      if (bad !== undefined) return { status: 'error', message: `${JSON.stringify(bad)} is not a valid containerd namespace` };
      return { status: 'ok', value: given };
    }
    const r = await this.ctr(null, ['namespaces', 'list', '--quiet']);
    if (!r.ok) return r.answer;
    return { status: 'ok', value: idList(r.stdout).filter(isValidNamespace) };
  }

  /** Records for the ids (`ctr containers info` each), with their tasks; gone ones are dropped. */
  private async records(namespace: string, ids: string[]): Promise<RuntimeAnswer<ContainerRecord[]>> {
    if (ids.length === 0) return { status: 'ok', value: [] };
    const tasks = await this.ctr(namespace, ['tasks', 'list']);
    if (!tasks.ok) return tasks.answer;
    const byId = parseCtrTasks(tasks.stdout);
    const out = await Promise.all(
      ids.map(async (id) => {
        const r = await this.ctr(namespace, ['containers', 'info', '--', id]);
        // Removed between list and info: it is simply not there.
        return r.ok ? parseCtrInfo(r.stdout, byId.get(id)) : null;
      }),
    );
    return { status: 'ok', value: out.filter((c): c is ContainerRecord => c !== null) };
  }

  /** Every namespace's containers matching any of the ctr filters (ORed), as records. */
  private async matching(filters: string[]): Promise<RuntimeAnswer<ContainerRecord[]>> {
    const nss = await this.namespaces();
    if (nss.status !== 'ok') return nss;
    const per = await Promise.all(
      nss.value.map(async (ns): Promise<RuntimeAnswer<ContainerRecord[]>> => {
        const ls = await this.ctr(ns, ['containers', 'list', '--quiet', ...filters]);
        if (!ls.ok) return ls.answer;
        return this.records(ns, idList(ls.stdout));
      }),
    );
    const bad = per.find((a) => a.status !== 'ok');
    if (bad) return bad;
    return { status: 'ok', value: per.flatMap((a) => (a.status === 'ok' ? a.value : [])) };
  }

  async find(ref: string): Promise<RuntimeAnswer<ContainerRecord[]>> {
    // ref is validated ([a-zA-Z0-9][a-zA-Z0-9_.-]*): quoted, it is a plain filter value;
    // in the id regexp its dots are escaped.
    const filters = [`id~=^${ref.replace(/\./g, '\\.')}`, ...NAME_LABELS.map((k) => `labels."${k}"=="${ref}"`)];
    let all = await this.matching(filters);
    // A CRI container made by another client than kubelet has its name only in its CRI
    // metadata, which ctr cannot filter on: then every CRI container is looked at.
    if (all.status === 'ok' && all.value.length === 0) all = await this.matching([`labels."${CRI_KIND}"==container`]);
    if (all.status !== 'ok') return all;
    const byName = all.value.filter((c) => c.name === ref || c.id === ref);
    let hits = byName.length > 0 ? byName : all.value.filter((c) => c.id.startsWith(ref));
    // Kubernetes keeps the exited attempts of a restarted container: the running one wins.
    const running = hits.filter((c) => c.running);
    if (running.length > 0) hits = running;
    else if (byName.length > 1) hits = hits.slice(0, 1);
    return { status: 'ok', value: hits };
  }

  async withLabels(labels: string[]): Promise<RuntimeAnswer<ContainerRecord[]>> {
    const sel = labels.map((l) => parseLabelSelector(l)).filter((s): s is NonNullable<typeof s> => s !== null);
    // ctr narrows by the keys (validated, so safe inside quotes); values are compared here,
    // byte for byte, rather than trusting them to ctr's filter syntax.
    const all = await this.matching([sel.map((s) => `labels."${s.key}"`).join(',')]);
    if (all.status !== 'ok') return all;
    return { status: 'ok', value: all.value.filter((c) => c.running && sel.every((s) => (s.value === undefined ? s.key in c.labels : c.labels[s.key] === s.value))) };
  }

  /** The container with exactly this id (in the client's namespaces), or [] . */
  async byId(id: string): Promise<RuntimeAnswer<ContainerRecord[]>> {
    const nss = await this.namespaces();
    if (nss.status !== 'ok') return nss;
    const per = await Promise.all(nss.value.map((ns) => this.records(ns, [id])));
    const bad = per.find((a) => a.status !== 'ok');
    if (bad) return bad;
    return { status: 'ok', value: per.flatMap((a) => (a.status === 'ok' ? a.value : [])) };
  }
}


/**
 * The containerd runtime: ctr where containerd's socket is on this host, else crictl (which
 * may be pointed at a CRI endpoint elsewhere). One client, so --runtime containerd asks one.
 */
export function containerdClient(env: NodeJS.ProcessEnv = process.env): RuntimeClient {
  const ctr = new CtrClient(env);
  const cri = crictlClient(env);
  const pick = (): RuntimeClient => (ctr.installed() || !cri.installed() ? ctr : cri);
  return {
    runtime: 'containerd',
    installed: () => ctr.installed() || cri.installed(),
    whyNotInstalled: () => (ctr.program() === null ? 'neither ctr nor crictl is installed' : `${ctr.whyNotInstalled()} and crictl is not installed`),
    find: (ref) => pick().find(ref),
    withLabels: (labels) => pick().withLabels(labels),
  };
}

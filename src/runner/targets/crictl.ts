// containerd (and other CRI runtimes) through crictl, used only when crictl is installed.
//
// `crictl ps -a -o json` lists containers: {"containers": [{id, metadata: {name, attempt},
// state: "CONTAINER_RUNNING", labels, ...}]}; it has no PID, so each running match is then
// `crictl inspect -o json ID`: {"status": {id, metadata, state, labels, ...}, "info": {pid, ...}}.
// Names are the Kubernetes container names (metadata.name), unique only within a pod, so a
// name can match several containers: that is reported, and an id settles it.

import { findExecutable, firstErrorLine, runCli } from './exec.js';
import type { ContainerRecord, RuntimeAnswer, RuntimeClient } from './types.js';

export const CRICTL_TIMEOUT_MS = 4_000;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => !!v && typeof v === 'object' && !Array.isArray(v);

function stringMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (isObj(v)) for (const [k, x] of Object.entries(v)) out[k] = String(x);
  return out;
}

/** CRI state enum name -> short word: CONTAINER_RUNNING -> running, CONTAINER_EXITED -> exited. */
function stateWord(v: unknown): string {
  if (typeof v === 'number') return ['created', 'running', 'exited', 'unknown'][v] ?? 'unknown';
  if (typeof v !== 'string' || !v) return 'unknown';
  return v.replace(/^CONTAINER_/, '').toLowerCase();
}

function containerFrom(c: Obj, pid: number): ContainerRecord | null {
  const id = typeof c.id === 'string' ? c.id : '';
  if (!id) return null;
  const meta = isObj(c.metadata) ? c.metadata : {};
  const state = stateWord(c.state);
  const running = state === 'running';
  return {
    runtime: 'containerd',
    id,
    name: typeof meta.name === 'string' ? meta.name : '',
    state,
    running: running && (pid > 0 || pid === -1),
    pid: running && pid > 0 ? pid : 0,
    labels: stringMap(c.labels),
  };
}

/** Parses `crictl ps -o json`. PIDs are not in it: records have pid 0 (running still reflects the state). */
export function parseCrictlPs(text: string): ContainerRecord[] | null {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return null;
  }
  if (!isObj(doc)) return null;
  const list = doc.containers ?? [];
  if (!Array.isArray(list)) return null;
  const out: ContainerRecord[] = [];
  for (const c of list) {
    if (!isObj(c)) continue;
    const rec = containerFrom(c, -1);
    if (rec) out.push(rec);
  }
  return out;
}

/** Parses `crictl inspect -o json ID` (one container). */
export function parseCrictlInspect(text: string): ContainerRecord | null {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return null;
  }
  if (!isObj(doc) || !isObj(doc.status)) return null;
  const info = isObj(doc.info) ? doc.info : {};
  const raw = info.pid;
  const pid = typeof raw === 'number' && Number.isSafeInteger(raw) && raw > 0 ? raw : 0;
  return containerFrom(doc.status, pid);
}

export class CrictlClient implements RuntimeClient {
  readonly runtime = 'containerd' as const;

  constructor(private readonly env: NodeJS.ProcessEnv = process.env) {}

  private program(): string | null {
    return findExecutable(this.env.CTRACE_CRICTL || 'crictl', this.env);
  }

  installed(): boolean {
    return this.program() !== null;
  }

  private async list(all: boolean): Promise<RuntimeAnswer<ContainerRecord[]>> {
    const bin = this.program();
    if (!bin) return { status: 'unavailable', reason: 'the crictl command is not installed' };
    const r = await runCli(bin, ['ps', ...(all ? ['--all'] : []), '--output', 'json'], { env: this.env, timeoutMs: CRICTL_TIMEOUT_MS });
    if (r.spawnError) return { status: 'unavailable', reason: `crictl could not be started (${r.spawnError})` };
    if (r.timedOut) return { status: 'unavailable', reason: `crictl did not answer within ${CRICTL_TIMEOUT_MS / 1000} s` };
    // Any failure to list is the runtime endpoint not answering (no socket, wrong endpoint).
    if (r.exitCode !== 0) return { status: 'unavailable', reason: firstErrorLine(r.stderr) || `crictl ps exited with code ${r.exitCode}` };
    const rows = parseCrictlPs(r.stdout);
    if (!rows) return { status: 'error', message: 'crictl ps printed something that is not its JSON container list' };
    return { status: 'ok', value: rows };
  }

  /** Fills in the PID of running containers (crictl inspect); others are returned as they are. */
  private async withPids(rows: ContainerRecord[]): Promise<RuntimeAnswer<ContainerRecord[]>> {
    const bin = this.program();
    if (!bin) return { status: 'unavailable', reason: 'the crictl command is not installed' };
    const out = await Promise.all(
      rows.map(async (c): Promise<ContainerRecord> => {
        if (!c.running) return { ...c, pid: 0 };
        const r = await runCli(bin, ['inspect', '--output', 'json', c.id], { env: this.env, timeoutMs: CRICTL_TIMEOUT_MS });
        const rec = r.exitCode === 0 ? parseCrictlInspect(r.stdout) : null;
        // Gone between ps and inspect: report it as exited rather than failing everything.
        return rec ?? { ...c, state: 'exited', running: false, pid: 0 };
      }),
    );
    return { status: 'ok', value: out };
  }

  async find(ref: string): Promise<RuntimeAnswer<ContainerRecord[]>> {
    const all = await this.list(true);
    if (all.status !== 'ok') return all;
    const byName = all.value.filter((c) => c.name === ref);
    const byId = byName.length > 0 ? [] : all.value.filter((c) => c.id.startsWith(ref));
    let hits = byName.length > 0 ? byName : byId;
    // Kubernetes keeps exited attempts of a restarted container: prefer the running ones.
    const running = hits.filter((c) => c.running);
    if (running.length > 0) hits = running;
    else if (byName.length > 1) hits = hits.slice(0, 1);
    return this.withPids(hits);
  }

  async withLabels(labels: string[]): Promise<RuntimeAnswer<ContainerRecord[]>> {
    const running = await this.list(false);
    if (running.status !== 'ok') return running;
    const sel = labels.map((l) => {
      const eq = l.indexOf('=');
      return eq < 0 ? { key: l, value: undefined } : { key: l.slice(0, eq), value: l.slice(eq + 1) };
    });
    const hits = running.value.filter((c) => c.running && sel.every((s) => (s.value === undefined ? s.key in c.labels : c.labels[s.key] === s.value)));
    const withPid = await this.withPids(hits);
    if (withPid.status !== 'ok') return withPid;
    return { status: 'ok', value: withPid.value.filter((c) => c.running) };
  }
}

export function crictlClient(env: NodeJS.ProcessEnv = process.env): CrictlClient {
  return new CrictlClient(env);
}

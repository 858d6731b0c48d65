// Shared client for the two Docker-compatible CLIs (podman and docker): same inspect JSON,
// same `ps` filters, different ways of saying "no such container" or "no daemon".

import { findExecutable, firstErrorLine, runCli, type CliResult } from './exec.js';
import type { ContainerRecord, ContainerRuntime, RuntimeAnswer, RuntimeClient } from './types.js';

export interface EngineSpec {
  runtime: 'podman' | 'docker';
  /** Default program name, looked up on PATH. */
  program: string;
  /** Environment variable that overrides the program (a path or a name). */
  overrideVar: string;
  timeoutMs: number;
  /** stderr of a failed command that means the engine cannot be reached at all. */
  unreachable: RegExp;
}

const NO_SUCH = /no such (container|object)|no container with name or id/i;
const AMBIGUOUS = /more than one result|multiple ids found|multiple containers found|ambiguous/i;

/** Parses `podman inspect` / `docker inspect` output: a JSON array of container objects. */
export function parseInspect(text: string, runtime: ContainerRuntime): ContainerRecord[] | null {
  const t = text.trim();
  if (!t.startsWith('[')) return null;
  let rows: unknown;
  try {
    rows = JSON.parse(t);
  } catch {
    return null;
  }
  if (!Array.isArray(rows)) return null;
  const out: ContainerRecord[] = [];
  for (const row of rows) {
    if (!row || typeof row !== 'object') continue;
    const r = row as Record<string, unknown>;
    const id = typeof r.Id === 'string' ? r.Id : '';
    if (!id) continue;
    const state = (r.State && typeof r.State === 'object' ? r.State : {}) as Record<string, unknown>;
    const config = (r.Config && typeof r.Config === 'object' ? r.Config : {}) as Record<string, unknown>;
    const status = typeof state.Status === 'string' ? state.Status.toLowerCase() : 'unknown';
    const pid = typeof state.Pid === 'number' && Number.isSafeInteger(state.Pid) ? state.Pid : 0;
    // Docker keeps Running true while paused; podman says status "paused". A paused
    // container still has its processes, so it can be traced (they just do nothing).
    const running = pid > 0 && (state.Running === true || status === 'running' || status === 'paused');
    const labels: Record<string, string> = {};
    if (config.Labels && typeof config.Labels === 'object') {
      for (const [k, v] of Object.entries(config.Labels as Record<string, unknown>)) labels[k] = String(v);
    }
    const rawName = typeof r.Name === 'string' ? r.Name : '';
    out.push({
      runtime,
      id,
      // docker (and podman's Docker API) prefix names with '/'.
      name: rawName.replace(/^\//, ''),
      state: status,
      running,
      pid: running ? pid : 0,
      labels,
    });
  }
  return out;
}

export class EngineClient implements RuntimeClient {
  readonly runtime: 'podman' | 'docker';

  constructor(
    private readonly spec: EngineSpec,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {
    this.runtime = spec.runtime;
  }

  private program(): string | null {
    return findExecutable(this.env[this.spec.overrideVar] || this.spec.program, this.env);
  }

  installed(): boolean {
    return this.program() !== null;
  }

  private async run(args: string[]): Promise<CliResult | { unavailable: string }> {
    const bin = this.program();
    if (!bin) return { unavailable: `the ${this.spec.program} command is not installed` };
    const r = await runCli(bin, args, { env: this.env, timeoutMs: this.spec.timeoutMs });
    if (r.spawnError) return { unavailable: `${this.spec.program} could not be started (${r.spawnError})` };
    if (r.timedOut) return { unavailable: `${this.spec.program} did not answer within ${this.spec.timeoutMs / 1000} s` };
    if (r.exitCode !== 0 && this.spec.unreachable.test(r.stderr)) {
      return { unavailable: firstErrorLine(r.stderr) || `${this.spec.program} is not answering` };
    }
    return r;
  }

  async find(ref: string): Promise<RuntimeAnswer<ContainerRecord[]>> {
    // `--` ends options; ref is validated anyway and cannot start with '-'.
    const r = await this.run(['inspect', '--type', 'container', '--', ref]);
    if ('unavailable' in r) return { status: 'unavailable', reason: r.unavailable };
    const rows = parseInspect(r.stdout, this.runtime);
    if (rows && rows.length > 0) return { status: 'ok', value: rows };
    if (r.exitCode === 0 && rows) return { status: 'ok', value: [] };
    if (AMBIGUOUS.test(r.stderr)) {
      return { status: 'error', message: `'${ref}' is the start of more than one container id in ${this.runtime}: give more of the id, or the name` };
    }
    if (NO_SUCH.test(r.stderr)) return { status: 'ok', value: [] };
    return { status: 'error', message: `${this.runtime} inspect failed: ${firstErrorLine(r.stderr) || `exit code ${r.exitCode}`}` };
  }

  async withLabels(labels: string[]): Promise<RuntimeAnswer<ContainerRecord[]>> {
    const args = ['ps', '--quiet', '--no-trunc'];
    for (const l of labels) args.push('--filter', `label=${l}`);
    const ps = await this.run(args);
    if ('unavailable' in ps) return { status: 'unavailable', reason: ps.unavailable };
    if (ps.exitCode !== 0) {
      return { status: 'error', message: `${this.runtime} ps failed: ${firstErrorLine(ps.stderr) || `exit code ${ps.exitCode}`}` };
    }
    const ids = [...new Set(ps.stdout.split('\n').map((s) => s.trim()).filter((s) => /^[0-9a-f]{12,64}$/.test(s)))];
    if (ids.length === 0) return { status: 'ok', value: [] };
    const r = await this.run(['inspect', '--type', 'container', '--', ...ids]);
    if ('unavailable' in r) return { status: 'unavailable', reason: r.unavailable };
    // A container that stopped between ps and inspect makes inspect fail for it alone.
    const rows = parseInspect(r.stdout, this.runtime);
    if (!rows) return { status: 'error', message: `${this.runtime} inspect failed: ${firstErrorLine(r.stderr) || `exit code ${r.exitCode}`}` };
    return { status: 'ok', value: rows.filter((c) => c.running) };
  }
}

// Starts, stops and inspects the demo's podman containers. Every command is an argv array
// (execa, never a shell). On this kind of host podman works only with the runc runtime and
// explicit ulimits (crun, and podman's default ulimits, fail with "setrlimit: Operation
// not permitted"), and there is no registry: containers run from a rootfs directory.

import { execa, execaSync } from 'execa';

/** Global podman flags, before the subcommand. */
export const PODMAN_GLOBAL = ['--runtime', 'runc'] as const;
/** `podman run` flags this host needs. */
export const PODMAN_RUN_FLAGS = ['--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024'] as const;
/** Name prefix of every demo container. */
export const DEMO_PREFIX = 'ctrace-demo-';

export interface StartContainerOptions {
  /** Container name: letters, digits, `_.-`, not starting with `-`. */
  name: string;
  /** Root file system directory (see rootfs.ts). */
  rootfs: string;
  /** Command and arguments, run inside the container. */
  cmd: string[];
  env?: Record<string, string>;
  labels?: Record<string, string>;
  /** podman network mode; default `host` (services listen on 127.0.0.1 only). */
  network?: string;
  /** Remove a container of the same name first (default true): makes starts idempotent. */
  replace?: boolean;
  /** Remove it automatically at process exit / SIGINT / SIGTERM (default true). */
  cleanupOnExit?: boolean;
}

export interface StartedContainer {
  readonly name: string;
  /** Full container id. */
  readonly id: string;
  /** PID of the container's init process (our service) in the host's PID namespace. */
  readonly hostPid: number;
}

export interface ContainerInfo {
  readonly id: string;
  readonly name: string;
  readonly state: string;
  readonly labels: Record<string, string>;
}

export class PodmanError extends Error {
  constructor(
    message: string,
    readonly args: readonly string[],
    readonly stderr: string,
  ) {
    super(message);
    this.name = 'PodmanError';
  }
}

const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

function checkName(name: string): void {
  if (!NAME_RE.test(name)) throw new Error(`invalid container name ${JSON.stringify(name)}`);
}

function podmanBin(): string {
  return process.env.CTRACE_PODMAN || 'podman';
}

interface Run {
  stdout: string;
  stderr: string;
  exitCode: number;
}

async function podman(args: string[], opts: { timeoutMs?: number; check?: boolean } = {}): Promise<Run> {
  const full = [...PODMAN_GLOBAL, ...args];
  const r = await execa(podmanBin(), full, { reject: false, timeout: opts.timeoutMs ?? 60_000, stdin: 'ignore' });
  const out: Run = { stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? ''), exitCode: r.exitCode ?? -1 };
  if (opts.check !== false && (out.exitCode !== 0 || r.failed)) {
    const why = r.timedOut ? 'timed out' : out.stderr.trim() || `exit code ${out.exitCode}`;
    throw new PodmanError(`podman ${args[0] ?? ''} failed: ${why}`, full, out.stderr);
  }
  return out;
}

// --- cleanup at exit -------------------------------------------------------------------

const live = new Set<string>();
let hooked = false;

function removeLiveSync(): void {
  if (live.size === 0) return;
  const names = [...live];
  live.clear();
  try {
    // Synchronous: an 'exit' handler cannot wait for a promise.
    execaSync(podmanBin(), [...PODMAN_GLOBAL, 'rm', '--force', '--ignore', '--time', '1', ...names], {
      reject: false,
      timeout: 30_000,
      stdin: 'ignore',
    });
  } catch {
    // Nothing more can be done while exiting.
  }
}

function onSignal(sig: NodeJS.Signals): void {
  removeLiveSync();
  unhook();
  // If nobody else handles the signal, re-raise it for the default action (exit with it).
  if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
}
const onSigint = () => onSignal('SIGINT');
const onSigterm = () => onSignal('SIGTERM');
const onSighup = () => onSignal('SIGHUP');

function hook(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', removeLiveSync);
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigterm);
  process.on('SIGHUP', onSighup);
}

function unhook(): void {
  if (!hooked) return;
  hooked = false;
  process.off('exit', removeLiveSync);
  process.off('SIGINT', onSigint);
  process.off('SIGTERM', onSigterm);
  process.off('SIGHUP', onSighup);
}

/** Registers a container to be force-removed if this process exits or is interrupted first. */
export function removeOnExit(name: string): void {
  checkName(name);
  live.add(name);
  hook();
}

/** Forgets a container registered with removeOnExit (it was removed, or is no longer ours). */
export function forgetOnExit(name: string): void {
  live.delete(name);
  if (live.size === 0) unhook();
}

// --- containers -----------------------------------------------------------------------

/**
 * Runs a detached container from a rootfs and returns its id and host PID. Throws, with
 * the container's log, if it exits at once (bad flags, port in use).
 */
export async function startContainer(o: StartContainerOptions): Promise<StartedContainer> {
  checkName(o.name);
  if (o.cmd.length === 0) throw new Error('startContainer: empty cmd');
  // Absolute, so podman can never read it as an option.
  if (!o.rootfs.startsWith('/')) throw new Error(`startContainer: rootfs must be an absolute path: ${o.rootfs}`);
  if (o.replace !== false) await removeContainer(o.name);
  const args = ['run', '--detach', '--name', o.name, ...PODMAN_RUN_FLAGS];
  args.push('--network', o.network ?? 'host');
  // k8s-file whatever containers.conf says: `podman logs` must work (ports chosen with
  // -port 0 are read from the log).
  args.push('--log-driver', 'k8s-file');
  for (const [k, v] of Object.entries(o.labels ?? {})) args.push('--label', `${k}=${v}`);
  for (const [k, v] of Object.entries(o.env ?? {})) args.push('--env', `${k}=${v}`);
  // After --rootfs DIR, podman takes everything as the command, so cmd cannot add flags.
  args.push('--rootfs', o.rootfs, ...o.cmd);
  if (o.cleanupOnExit !== false) removeOnExit(o.name);
  let id: string;
  try {
    id = (await podman(args)).stdout.trim().split('\n').pop() ?? '';
  } catch (e) {
    await removeContainer(o.name).catch(() => {});
    throw e;
  }
  const hostPid = await containerPid(o.name);
  if (hostPid <= 0) {
    const logs = await containerLogs(o.name).catch(() => '');
    await removeContainer(o.name).catch(() => {});
    throw new PodmanError(`container ${o.name} exited at start:\n${logs}`, args, logs);
  }
  return { name: o.name, id, hostPid };
}

/** Host PID of a container's init process; 0 when it is not running. Throws if it does not exist. */
export async function containerPid(name: string): Promise<number> {
  checkName(name);
  const r = await podman(['inspect', '--type', 'container', '--format', '{{.State.Pid}}', name]);
  const pid = Number(r.stdout.trim());
  return Number.isInteger(pid) ? pid : 0;
}

export async function containerExists(name: string): Promise<boolean> {
  checkName(name);
  const r = await podman(['container', 'exists', name], { check: false });
  return r.exitCode === 0;
}

/** SIGTERM, then SIGKILL after timeoutSec. A missing container is not an error. */
export async function stopContainer(name: string, timeoutSec = 5): Promise<void> {
  checkName(name);
  await podman(['stop', '--ignore', '--time', String(timeoutSec), name], { timeoutMs: (timeoutSec + 30) * 1000 });
}

/** Removes a container, stopping it first (SIGKILL after timeoutSec). Missing is not an error. */
export async function removeContainer(name: string, timeoutSec = 1): Promise<void> {
  checkName(name);
  await podman(['rm', '--force', '--ignore', '--time', String(timeoutSec), name], {
    timeoutMs: (timeoutSec + 30) * 1000,
  });
  forgetOnExit(name);
}

/** stdout and stderr the container wrote (podman merges them in its log). */
export async function containerLogs(name: string): Promise<string> {
  checkName(name);
  const r = await podman(['logs', name]);
  return r.stdout + (r.stderr ? (r.stdout ? '\n' : '') + r.stderr : '');
}

/** Containers (running or not) having every given label, and the name prefix if given. */
export async function listContainers(filter: { labels?: Record<string, string>; namePrefix?: string } = {}): Promise<ContainerInfo[]> {
  const args = ['ps', '--all', '--format', 'json'];
  for (const [k, v] of Object.entries(filter.labels ?? {})) args.push('--filter', `label=${k}=${v}`);
  const r = await podman(args);
  const text = r.stdout.trim();
  if (!text) return [];
  const rows = JSON.parse(text) as unknown;
  if (!Array.isArray(rows)) return [];
  const out: ContainerInfo[] = [];
  for (const row of rows as Record<string, unknown>[]) {
    const names = Array.isArray(row.Names) ? (row.Names as unknown[]).map(String) : [];
    const name = names[0] ?? '';
    if (filter.namePrefix && !name.startsWith(filter.namePrefix)) continue;
    const labels: Record<string, string> = {};
    if (row.Labels && typeof row.Labels === 'object') {
      for (const [k, v] of Object.entries(row.Labels as Record<string, unknown>)) labels[k] = String(v);
    }
    out.push({ id: String(row.Id ?? ''), name, state: String(row.State ?? ''), labels });
  }
  return out;
}

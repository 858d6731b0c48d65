// Target resolution: what a container name, label or PID resolves to on this host.

export type TargetRuntime = 'podman' | 'docker' | 'containerd' | 'pid';
export type ContainerRuntime = Exclude<TargetRuntime, 'pid'>;
export type RuntimeChoice = ContainerRuntime | 'auto';

export interface ResolvedTarget {
  runtime: TargetRuntime;
  /** Container id (full), or String(pid) for -p. */
  id: string;
  /** Container name, or the process comm for -p. */
  name: string;
  /** Main process, in the host PID namespace. */
  hostPid: number;
  /**
   * Start time of the main process (clock ticks since boot, /proc/PID/stat field 22):
   * with hostPid, the process's identity (PIDs and namespace inodes are both reused).
   */
  startTime?: number;
  /** All host PIDs currently in the container (from its cgroup, or by namespace over /proc). */
  pids: number[];
  /** `/proc/${hostPid}/root`. */
  root: string;
  /** Main executable as the container sees it (readlink /proc/PID/exe), e.g. /app/frontend. */
  exe: string;
  /**
   * Host-side path to open it: root + exe, resolved inside the root and checked to be the
   * very file the process runs. '' when that is impossible; `exeProblem` then says why.
   */
  exeHost: string;
  /** Why `exeHost` is '' (binary deleted or replaced since start, or missing from the root). */
  exeProblem?: string;
  /** Inode of /proc/PID/ns/mnt. */
  mntns: number;
  /** Inode of /proc/PID/ns/pid. */
  pidns: number;
  /** Depth of the PID namespace (NSpid entries in /proc/PID/status minus 1). */
  pidnsLevel: number;
  /** The main process's PID inside its own namespace (last NSpid field). */
  nspid: number;
  /** cgroup path (v2 unified line, else a v1 line), informational. */
  cgroup: string;
  labels: Record<string, string>;
}

/** `message` is one clear sentence. */
export type ResolveResult = { ok: true; targets: ResolvedTarget[] } | { ok: false; message: string };

export interface ResolveRequest {
  /** Container names or ids (an id prefix is enough). */
  containers: string[];
  /** `key=value` (or just `key`): every running container with that label; several are ANDed. */
  labels: string[];
  pids: number[];
  runtime?: RuntimeChoice;
}

/** What a container runtime says about one container. */
export interface ContainerRecord {
  runtime: ContainerRuntime;
  id: string;
  name: string;
  /** Runtime's own state word (running, exited, created, CONTAINER_EXITED...), lower case. */
  state: string;
  running: boolean;
  /** Host PID of the main process; 0 when not running. */
  pid: number;
  labels: Record<string, string>;
}

/**
 * One runtime's answer: `unavailable` means it could not be asked at all (CLI missing,
 * daemon not running, timed out): in auto mode that is not an error.
 */
export type RuntimeAnswer<T> =
  | { status: 'ok'; value: T }
  | { status: 'unavailable'; reason: string }
  | { status: 'error'; message: string };

export interface RuntimeClient {
  readonly runtime: ContainerRuntime;
  /** Is its CLI installed (found on PATH)? Cheap, no process is run. */
  installed(): boolean;
  /** Why installed() is false, for --runtime NAME (default: "the NAME command is not installed"). */
  whyNotInstalled?(): string;
  /**
   * Containers, running or not, whose name is `ref` or whose id starts with `ref`.
   * `ref` has been validated as a plausible name. [] when none.
   */
  find(ref: string): Promise<RuntimeAnswer<ContainerRecord[]>>;
  /** Running containers having every one of the labels (`key=value` or `key`). */
  withLabels(labels: string[]): Promise<RuntimeAnswer<ContainerRecord[]>>;
}

export interface ResolveOptions {
  /** Environment for the runtime CLIs (PATH, DOCKER_HOST, CONTAINER_HOST...); default process.env. */
  env?: NodeJS.ProcessEnv;
  /** The runtimes to ask, in order of preference (default: podman, docker, containerd clients). */
  runtimes?: RuntimeClient[];
}

// The run options, shared by `trace [options] PROGRAM` and `trace run NAME`: same names,
// same meanings, parsed in one place.

import { readFileSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { parseDuration } from './output.js';
import { addKubeOptions, kubeFrom } from './kube-options.js';
import type { RemoteOptions, RunOptions } from './run.js';

export type RunFlags = Record<string, string | boolean | string[] | undefined>;

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** What to trace: -c, -l, -p, --runtime, --host-pids (for runs and `trace check`). */
export function addTargetOptions(cmd: Command): Command {
  return cmd
    .option('-c, --container <name>', 'trace a container (name or id); repeat for several', collect, [] as string[])
    .option('-l, --label <key=value>', 'trace every running container with this label; repeatable', collect, [] as string[])
    .option('-p, --pid <pid>', 'trace a process; repeatable', collect, [] as string[])
    .addOption(new Option('--runtime <runtime>', 'container runtime to ask (containerd: through ctr, else crictl)').choices(['auto', 'podman', 'docker', 'containerd']).default('auto'))
    .option('--host-pids', "show host PIDs for pid/tid/$target instead of the container's", false);
}

export function addRunOptions(cmd: Command): Command {
  addKubeOptions(addTargetOptions(cmd))
    .addOption(new Option('-o, --output <format>', 'output format').choices(['table', 'json']).default('table'))
    .option('-i, --interval <duration>', 'reprint aggregations every interval (e.g. 1s)')
    .option('-d, --duration <duration>', 'stop after this long (e.g. 10s, 2m), printing the final aggregations')
    .addOption(new Option('--emit <what>', 'print the compiled program and exit').choices(['bpftrace']))
    .option('--bpftrace <path>', 'bpftrace binary to use')
    .option('-q, --quiet', 'only what the program prints (as #pragma D option quiet)', false)
    .option('-w, --destructive', 'allow destructive actions (system, raise)', false);
  return addHostOptions(cmd);
}

/** Where to trace: -H, --hosts, --accept-new, --connect-timeout (runs, `trace check`, `trace repl`). */
export function addHostOptions(cmd: Command): Command {
  return cmd
    .option('-H, --host <[user@]host[:port]>', 'run on this host over SSH (or an ~/.ssh/config alias); repeat for a fleet', collect, [] as string[])
    .option('--hosts <file>', 'run on every host listed in FILE (one per line, # comments)')
    .option('--accept-new', 'record the key of an SSH host not yet in known_hosts (a changed key is always refused)', false)
    .option('--connect-timeout <duration>', "SSH connection timeout per attempt (default: the ssh config's ConnectTimeout, else 10s)")
    .option('--follow', 'keep tracing a container that restarts or is replaced under the same name, aggregations kept', false);
}

/** --hosts FILE: one host per line; blank lines and # comments are skipped. */
function readHostsFile(path: string): { hosts: string[] } | { error: string } {
  try {
    const hosts = readFileSync(path, 'utf8')
      .split('\n')
      .map((l) => l.replace(/#.*/, '').trim())
      .filter((l) => l !== '');
    return hosts.length ? { hosts } : { error: `--hosts ${path} lists no hosts` };
  } catch (e) {
    return { error: `cannot read --hosts ${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}` };
  }
}

/** Flags -> RunOptions for `positionals`, or the usage error to print (exit 2). */
export function runOptionsFrom(o: RunFlags, positionals: string[]): RunOptions | { error: string } {
  const pidFlags = (o.pid as string[] | undefined) ?? [];
  const badPid = pidFlags.find((p) => !/^\d+$/.test(p));
  if (badPid !== undefined) return { error: `bad --pid '${badPid}': give a process id` };
  const intervalMs = o.interval !== undefined ? parseDuration(String(o.interval)) : null;
  const durationMs = o.duration !== undefined ? parseDuration(String(o.duration)) : null;
  if (intervalMs === undefined) return { error: `bad --interval '${o.interval}': use a duration like 1s or 500ms` };
  if (durationMs === undefined) return { error: `bad --duration '${o.duration}': use a duration like 10s or 2m` };
  const remote = hostOptionsFrom(o);
  if ('error' in remote) return remote;
  const kube = kubeFrom(o);
  if ('error' in kube) return kube;
  const follow = followProblem(o, Boolean(kube.kube));
  if (follow !== null) return { error: follow };
  return {
    ...(typeof o.expr === 'string' ? { expr: o.expr } : {}),
    positionals,
    output: (o.output as 'table' | 'json' | undefined) ?? 'table',
    intervalMs,
    durationMs,
    emit: o.emit === 'bpftrace',
    ...(typeof o.bpftrace === 'string' ? { bpftrace: o.bpftrace } : {}),
    quiet: o.quiet === true,
    destructive: o.destructive === true,
    targets: {
      // Kubernetes selectors are resolved to each node's own targets (see run.ts).
      containers: kube.kube ? [] : ((o.container as string[] | undefined) ?? []),
      labels: kube.kube ? [] : ((o.label as string[] | undefined) ?? []),
      pids: pidFlags.map(Number),
      runtime: (o.runtime as 'auto' | 'podman' | 'docker' | 'containerd' | undefined) ?? 'auto',
      hostPids: o.hostPids === true,
    },
    ...remote,
    ...(kube.kube ? { kube: kube.kube } : {}),
    follow: o.follow === true,
  };
}

/** The flags of addHostOptions: the hosts (-H, then --hosts FILE's) and how to reach them. */
export function hostOptionsFrom(o: RunFlags): { hosts: string[]; ssh: RemoteOptions } | { error: string } {
  const connectTimeoutMs = o.connectTimeout === undefined ? null : parseDuration(String(o.connectTimeout));
  if (connectTimeoutMs === undefined) return { error: `bad --connect-timeout '${o.connectTimeout}': use a duration like 5s` };
  const hosts = [...((o.host as string[] | undefined) ?? [])];
  if (typeof o.hosts === 'string') {
    const listed = readHostsFile(o.hosts);
    if ('error' in listed) return listed;
    hosts.push(...listed.hosts);
  }
  return { hosts, ssh: { acceptNew: o.acceptNew === true, ...(connectTimeoutMs !== null ? { connectTimeoutMs } : {}) } };
}

/** --follow follows containers, on this host or a --host; not Kubernetes pods (a pod rescheduled to another node is not followed). */
function followProblem(o: RunFlags, kube: boolean): string | null {
  if (o.follow !== true) return null;
  if (((o.container as string[] | undefined) ?? []).length + ((o.label as string[] | undefined) ?? []).length === 0) return '--follow needs a container to follow: name it with -c or --label';
  if (kube) return '--follow cannot be used with Kubernetes pods yet (a restarted pod may come back on another node): follow a container with -c on this host or a --host';
  return null;
}

// Wiring of `trace stat`, `trace top` and `trace tap` (Go net/http services): their options,
// parsed here, each command's module imported when it runs.

import { Option, type Command } from 'commander';
import type { TargetRequest } from '../runner/request.js';
import { fail, parseDuration, type Streams } from './output.js';

interface Flags {
  container: string[];
  label: string[];
  runtime: 'auto' | 'podman' | 'docker' | 'containerd';
  output: 'table' | 'json';
  interval?: string;
  duration?: string;
  bpftrace?: string;
  limit?: string;
  path?: string;
  status?: string;
  method?: string;
}

const collect = (value: string, previous: string[]) => [...previous, value];

function common(cmd: Command, interval: boolean): Command {
  cmd
    .option('-c, --container <name>', 'a container to watch (name or id); repeat for several services or replicas', collect, [] as string[])
    .option('-l, --label <key=value>', 'watch every running container with this label; repeatable', collect, [] as string[])
    .addOption(new Option('--runtime <runtime>', 'container runtime to ask').choices(['auto', 'podman', 'docker', 'containerd']).default('auto'))
    .addOption(new Option('-o, --output <format>', 'a table, or one JSON object per line').choices(['table', 'json']).default('table'));
  if (interval) cmd.option('-i, --interval <duration>', 'refresh every interval', '1s');
  return cmd.option('-d, --duration <duration>', 'stop after this long (e.g. 30s); Ctrl-C stops too').option('--bpftrace <path>', 'bpftrace binary to use');
}

/** The flags every one of the three shares, or the usage error. */
function parsed(o: Flags): { targets: TargetRequest; durationMs: number | null; intervalMs: number } | { error: string } {
  const durationMs = o.duration !== undefined ? parseDuration(o.duration) : null;
  if (durationMs === undefined) return { error: `bad --duration '${o.duration}': use a duration like 10s or 2m` };
  const intervalMs = parseDuration(o.interval ?? '1s');
  if (intervalMs === undefined) return { error: `bad --interval '${o.interval}': use a duration like 1s or 500ms` };
  return { targets: { containers: o.container, labels: o.label, pids: [], runtime: o.runtime, hostPids: false }, durationMs, intervalMs };
}

const STAT_HELP = `
Go net/http (HTTP/1.x) servers: one row per service (the containers that run one binary,
e.g. one image's replicas), requests per second, the share answered below 500, and the
server's latency percentiles, every interval; the whole run's rows at Ctrl-C or -d.

Examples:
  trace stat -c frontend -c voting -c emoji
  trace stat -l app=shop -i 5s
  trace stat -c voting -d 30s -o json

Exit codes: 0 ok, 1 the run failed (a container is not a Go net/http server, bpftrace), 2 bad command line.
Docs: docs/stat.md`;

const TOP_HELP = `
The busiest paths (method and path, per service) of Go net/http servers, by requests,
with success rate and latency percentiles, refreshed in place on a terminal.

Examples:
  trace top -c frontend
  trace top -c frontend -c voting --limit 5 -d 10s

Docs: docs/stat.md`;

const TAP_HELP = `
Every request of Go net/http servers as it completes: time (UTC), container, client address,
method, status, the server's latency and the path. Filters run in the kernel: requests that do not match
are never copied out.

Examples:
  trace tap -c voting --status 5xx
  trace tap -c frontend --path /vote --method GET -o json

Docs: docs/stat.md`;

export function addHttpCommands(program: Command, io: Streams, setCode: (code: number) => void): void {
  const usage = (m: string) => (fail(io, m), setCode(2));
  common(program.command('stat').description('golden metrics per service (RPS, success, p50/p95/p99) of Go net/http servers, refreshed every interval'), true)
    .addHelpText('after', STAT_HELP)
    .action(async (o: Flags) => {
      const p = parsed(o);
      if ('error' in p) return usage(p.error);
      const { statCommand } = await import('./stat.js');
      setCode(await statCommand({ ...p, output: o.output, ...(o.bpftrace !== undefined ? { bpftrace: o.bpftrace } : {}) }, io));
    });
  common(program.command('top').description('the busiest paths of Go net/http servers by RPS and latency, refreshed in place'), true)
    .option('--limit <n>', 'rows shown per interval', '20')
    .addHelpText('after', TOP_HELP)
    .action(async (o: Flags) => {
      const p = parsed(o);
      if ('error' in p) return usage(p.error);
      const limit = Number(o.limit);
      if (!Number.isInteger(limit) || limit < 1) return usage(`bad --limit '${o.limit}': give a number of rows`);
      const { topCommand } = await import('./top.js');
      setCode(await topCommand({ ...p, output: o.output, limit, ...(o.bpftrace !== undefined ? { bpftrace: o.bpftrace } : {}) }, io));
    });
  common(program.command('tap').description('a live stream of the requests of Go net/http servers, filtered in the kernel'), false)
    .option('--path <prefix>', 'only paths starting with this (e.g. /vote)')
    .option('--status <code>', 'only this status (404) or class (5xx)')
    .option('--method <method>', 'only this method (GET)')
    .addHelpText('after', TAP_HELP)
    .action(async (o: Flags) => {
      const p = parsed(o);
      if ('error' in p) return usage(p.error);
      const { tapCommand } = await import('./tap.js');
      const filter = { ...(o.path !== undefined ? { path: o.path } : {}), ...(o.status !== undefined ? { status: o.status } : {}), ...(o.method !== undefined ? { method: o.method } : {}) };
      setCode(await tapCommand({ targets: p.targets, filter, durationMs: p.durationMs, output: o.output, ...(o.bpftrace !== undefined ? { bpftrace: o.bpftrace } : {}) }, io));
    });
}

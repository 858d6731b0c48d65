// Command-line wiring only: each subcommand parses its flags and calls one function. Subcommands
// other than the run itself are imported when they run: a cold start loads only what it uses.
// Commands return exit codes; only bin/trace.js sets the process's exit code.
//
// Exit codes: 0 success; 1 the run failed (bpftrace, target, machine); 2 the program or the
// command line is wrong (syntax, semantics, usage). `trace check`: 1 when an expectation fails.

import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { fail, parseDuration, type Streams } from './commands/output.js';
import { runCommand } from './commands/run.js';
import { addHostOptions, addRunOptions, addTargetOptions, hostOptionsFrom, runOptionsFrom, type RunFlags } from './commands/run-options.js';
import { addProbeCommands } from './commands/probes.js';
import { addHttpCommands } from './commands/http-cli.js';
import { mark } from './runner/timing.js';

const EXAMPLES = `
Examples:
  # count system calls that open files, by process, for 2 seconds
  trace 'tracepoint:syscalls:sys_enter_openat { @[execname] = count(); }' --duration 2s

  # D style: a power-of-two distribution of bytes read by cat
  trace 'syscall::read:return /execname == "cat"/ { @bytes = quantize(arg1); }'

  # the one-liner block form, reprinting the table every second
  trace -i 1s 'syscall:::entry < @[probefunc] = count() >'

  # a script file with arguments ($1, $2, ...)
  trace probes/syscall-latency.d 10

  # count calls of a Go function in a container, keyed by its first argument
  trace -c checkout 'uprobe:main.handle < @[arg0] = count() >'

  # file opens in two containers, split per container
  trace -c web -c api 'tracepoint:syscalls:sys_enter_openat { @[container, execname] = count(); }'

  # a containerd container (ctr's, nerdctl's or Kubernetes'), by its CRI or nerdctl name or its id
  trace --runtime containerd -c web 'uprobe:main.handle < @[arg0] = count() >'

  # keep counting across restarts of the container (same name, new PID or id)
  trace --follow -c checkout 'uprobe:main.handle < @[arg0] = count() >'

  # one program on three hosts over SSH, merged, split by host
  trace -H web1 -H web2 -H db@10.0.0.7:2222 -c checkout 'uprobe:main.handle < @[host] = count() >'

  # every pod labelled app=web in namespace shop, on its node over SSH, split by node
  trace -l app=web --kube -n shop 'uprobe:main.handle < @[host] = count() >'

  # show the bpftrace program instead of running it
  trace --emit bpftrace 'syscall::read:entry { @[pid] = count(); }'

Exit codes: 0 ok, 1 the run failed, 2 the program or command line is wrong.
Environment: TRACE_BPFTRACE (bpftrace to use), TRACE_CACHE_DIR (cache of bpftrace and Go binary facts and parsed programs; off: none), NO_COLOR, FORCE_COLOR,
  CONTAINERD_ADDRESS (containerd's socket), CONTAINERD_NAMESPACE (only this containerd namespace; default: all), DOCKER_HOST, CONTAINER_HOST.
Docs: docs/README.md`;

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    return pkg.version;
  } catch {
    return 'unknown';
  }
}

/** `kubectl ctrace` (bin/kubectl-ctrace.js): the same CLI, in which -l selects Kubernetes pods. */
export interface CliMode {
  readonly kubectlPlugin?: boolean;
}

export async function main(argv: readonly string[], io: Streams = { stdout: process.stdout, stderr: process.stderr, env: process.env }, mode: CliMode = {}): Promise<number> {
  mark('cli loaded');
  let code = 0;
  const program = new Command();
  program
    .name(mode.kubectlPlugin ? 'kubectl ctrace' : 'trace')
    .description('DTrace for containerized microservices: D-like probes compiled to bpftrace, results as tables.')
    .version(`trace ${version()}`, '-V, --version')
    .argument('[program]', 'a one-liner, or a .d file')
    .argument('[args...]', 'script arguments ($1, $2, ...)')
    .option('-e, --expr <program>', 'program text (all positionals become script arguments)')
    .addHelpText('after', EXAMPLES)
    .showHelpAfterError('(run trace --help for usage)')
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
      outputError: (s, write) => write(s),
    })
    .exitOverride()
    .action(async (first: string | undefined, rest: string[], o: RunFlags) => {
      const asKube = mode.kubectlPlugin && ((o.label as string[] | undefined) ?? []).length > 0;
      const opts = runOptionsFrom(asKube ? { ...o, kube: true } : o, first === undefined ? [] : [first, ...rest]);
      if ('error' in opts) return void ((code = 2), fail(io, opts.error));
      code = await runCommand(opts, io);
    });
  addRunOptions(program);

  // Subcommands own the options after their name (trace list -c NAME), not the root.
  program.enablePositionalOptions();
  program
    .command('list')
    .description('list probes: functions, source lines and USDT probes of a target (-c/-p), and tracepoints')
    .argument('[pattern]', "glob: 'main.*', '*handle*', 'tracepoint:sched:*', 'usdt:*'; FILE:LINES lists a source file's lines with code: 'main.go:*'")
    .addOption(new Option('-o, --output <format>', 'output format').choices(['table', 'json']).default('table'))
    .option('-c, --container <name>', 'list probes of a container', collect, [] as string[])
    .option('-l, --label <key=value>', 'containers with this label', collect, [] as string[])
    .option('-p, --pid <pid>', 'list probes of a process', collect, [] as string[])
    .addOption(new Option('--runtime <runtime>', 'container runtime to ask').choices(['auto', 'podman', 'docker', 'containerd']).default('auto'))
    .option('-H, --host <[user@]host[:port]>', 'list on this host over SSH, through its helper')
    .option('--accept-new', "record the SSH host's key if known_hosts lacks it", false)
    .action(async (pattern: string | undefined, o: { output: 'table' | 'json'; container: string[]; label: string[]; pid: string[]; runtime: 'auto' | 'podman' | 'docker' | 'containerd'; host?: string; acceptNew: boolean }) => {
      const badPid = o.pid.find((p) => !/^\d+$/.test(p));
      if (badPid !== undefined) return void ((code = 2), fail(io, `bad --pid '${badPid}': give a process id`));
      const { listCommand } = await import('./commands/list.js');
      code = await listCommand({ ...(pattern !== undefined ? { pattern } : {}), output: o.output, targets: { containers: o.container, labels: o.label, pids: o.pid.map(Number), runtime: o.runtime }, ...(o.host !== undefined ? { host: o.host } : {}), acceptNew: o.acceptNew }, io);
    });
  program
    .command('demo')
    .description('start a demo microservice app (3 Go services in podman containers), load it, and trace it live')
    .option('--step <duration>', 'how long each traced step runs', '8s')
    .option('--keep', 'leave the demo containers running afterwards', false)
    .option('--bpftrace <path>', 'bpftrace binary to use')
    .action(async (o: { step: string; keep: boolean; bpftrace?: string }) => {
      const stepMs = parseDuration(o.step);
      if (stepMs === undefined) return void ((code = 2), fail(io, `bad --step '${o.step}': use a duration like 8s`));
      const { demoCommand } = await import('./commands/demo.js');
      code = await demoCommand({ stepMs, keep: o.keep, ...(o.bpftrace ? { bpftrace: o.bpftrace } : {}) }, io);
    });
  // `trace probes [NAME]` and `trace run NAME [args...]`: the scripts in probes/.
  addProbeCommands(program, io, (c) => (code = c));
  // `trace stat`, `trace top`, `trace tap`: golden metrics and requests of Go HTTP services.
  addHttpCommands(program, io, (c) => (code = c));
  const repl = addTargetOptions(program
    .command('repl'))
    .description('interactive session: type clauses (compiled at once), :start to attach, :print, :help')
    .option('-w, --destructive', 'allow destructive actions (system, raise)', false)
    .option('--bpftrace <path>', 'bpftrace binary to use');
  addHostOptions(repl)
    .addHelpText('after', `\nExamples:\n  trace repl -c checkout\n  trace repl -H web1 -H web2 -c checkout`)
    .action(async (o: RunFlags & { container: string[]; label: string[]; pid: string[]; runtime: 'auto' | 'podman' | 'docker' | 'containerd'; hostPids: boolean; destructive: boolean; bpftrace?: string }) => {
      const remote = hostOptionsFrom(o);
      if ('error' in remote) return void ((code = 2), fail(io, remote.error));
      const { replCommand } = await import('./commands/repl.js');
      code = await replCommand({ ...o, ...remote }, io);
    });

  const check = addTargetOptions(program
    .command('check'))
    .description('trace while a command runs (a load test) or for a while, then judge expectations on the aggregations: exit 0 pass, 1 fail, 2 error')
    .argument('[program]', 'a one-liner, or a .d file (its #pragma ctrace expect lines are checked too)')
    .argument('[args...]', 'script arguments ($1, $2, ...)')
    .option('-e, --expr <program>', 'program text (all positionals become script arguments)')
    .option('--expect <expr>', "an expectation, e.g. 'p99(@lat) < 20ms'; repeatable", collect, [] as string[])
    .option('--run <command>', 'shell command line to run once the probes are attached (run with sh -c); the trace stops when it exits')
    .option('-d, --duration <duration>', 'trace this long (with --run: at most this long)')
    .option('--fail-on-run', 'fail the check (exit 1) when the --run command exits non-zero', false)
    .option('--junit <file>', 'also write the verdicts as JUnit XML')
    .addOption(new Option('-o, --output <format>', 'verdicts as a table or one JSON object').choices(['table', 'json']).default('table'))
    .option('-q, --quiet', 'print only the verdicts, not the aggregations', false)
    .option('-w, --destructive', 'allow destructive actions (system, raise)', false)
    .option('--bpftrace <path>', 'bpftrace binary to use');
  addHostOptions(check)
    .addHelpText('after', `\nExamples:\n  trace check -c checkout --run 'npm run load' --expect 'p99(@lat) < 20ms' --junit report.xml checkout-latency.d\n  trace check -H web1 -H web2 -c checkout --run 'npm run load' --expect 'p99(@lat) < 20ms' checkout-latency.d\n\nDocs: docs/ci.md`)
    .action(async (first: string | undefined, rest: string[], o: RunFlags & { expr?: string; expect: string[]; run?: string; duration?: string; failOnRun: boolean; junit?: string; output: 'table' | 'json'; quiet: boolean; container: string[]; label: string[]; pid: string[]; runtime: 'auto' | 'podman' | 'docker' | 'containerd'; hostPids: boolean; destructive: boolean; bpftrace?: string }) => {
      const badPid = o.pid.find((p) => !/^\d+$/.test(p));
      if (badPid !== undefined) return void ((code = 2), fail(io, `bad --pid '${badPid}': give a process id`));
      const durationMs = o.duration !== undefined ? parseDuration(o.duration) : null;
      if (durationMs === undefined) return void ((code = 2), fail(io, `bad --duration '${o.duration}': use a duration like 10s or 2m`));
      const remote = hostOptionsFrom(o);
      if ('error' in remote) return void ((code = 2), fail(io, remote.error));
      const { checkCommand } = await import('./commands/check.js');
      code = await checkCommand(
        {
          ...(o.expr !== undefined ? { expr: o.expr } : {}),
          positionals: first === undefined ? [] : [first, ...rest],
          targets: { containers: o.container, labels: o.label, pids: o.pid.map(Number), runtime: o.runtime, hostPids: o.hostPids },
          ...remote,
          ...(o.bpftrace !== undefined ? { bpftrace: o.bpftrace } : {}),
          destructive: o.destructive,
          ...(o.run !== undefined ? { run: o.run } : {}),
          durationMs,
          expects: o.expect,
          ...(o.junit !== undefined ? { junit: o.junit } : {}),
          output: o.output,
          failOnRun: o.failOnRun,
          quiet: o.quiet,
        },
        io,
      );
    });

  const helper = program.command('helper').description('the privileged helper that runs bpftrace for trace (locally, or on --host over SSH)');
  helper
    .command('install')
    .description('install the helper (and its sudo rule) on this machine, or on each --host over SSH; needs root there')
    .option('-H, --host <spec>', 'user@host[:port] or an ssh config alias; repeatable', collect, [] as string[])
    .option('--accept-new', 'record an unknown host key in known_hosts instead of refusing it', false)
    .option('-i, --identity <file>', 'private key to offer (as ssh -i); repeatable', collect, [] as string[])
    .option('--known-hosts <file>', 'known_hosts file to check and record keys in (default ~/.ssh/known_hosts)')
    .option('-F, --ssh-config <file>', 'ssh config file (default ~/.ssh/config)')
    .option('--connect-timeout <duration>', 'SSH connection timeout (default 10s)')
    .option('--kube', 'print the helper as a Kubernetes DaemonSet manifest instead (kubectl apply -f -)', false)
    .option('--image <image>', 'with --kube: the helper image (ctrace, node and bpftrace in it)', `ctrace-helper:${version()}`)
    .option('-n, --namespace <ns>', 'with --kube: the namespace to run the helper pods in', 'ctrace')
    .action(async (o: { host: string[]; acceptNew: boolean; identity: string[]; knownHosts?: string; sshConfig?: string; connectTimeout?: string; kube: boolean; image: string; namespace: string }) => {
      if (o.kube) {
        if (o.host.length) return void ((code = 2), fail(io, '--kube prints a manifest for kubectl: it cannot be combined with --host'));
        const { helperManifestCommand } = await import('./commands/helper-manifest.js');
        return void (code = helperManifestCommand({ image: o.image, namespace: o.namespace, version: version() }, io));
      }
      const connectTimeoutMs = o.connectTimeout !== undefined ? parseDuration(o.connectTimeout) : null;
      if (connectTimeoutMs === undefined) return void ((code = 2), fail(io, `bad --connect-timeout '${o.connectTimeout}': use a duration like 10s`));
      const { parseHostSpec } = await import('./runner/transport/ssh-config.js');
      const bad = o.host.map((h) => parseHostSpec(h)).find((r) => !r.ok);
      if (bad && !bad.ok) return void ((code = 2), fail(io, bad.message));
      const { helperInstallCommand } = await import('./commands/helper-install.js');
      code = await helperInstallCommand({ hosts: o.host, acceptNew: o.acceptNew, identityFiles: o.identity, ...(o.knownHosts ? { knownHostsFile: o.knownHosts } : {}), ...(o.sshConfig ? { sshConfigFile: o.sshConfig } : {}), ...(connectTimeoutMs ? { connectTimeoutMs } : {}) }, io);
    });

  try {
    await program.parseAsync([...argv]);
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0;
      return 2;
    }
    // Never a stack trace for the user: one sentence, and the details only when asked.
    fail(io, `internal error: ${(e as Error).message} (set TRACE_DEBUG=1 for details)`);
    if (io.env.TRACE_DEBUG) io.stderr.write(`${(e as Error).stack}\n`);
    return 1;
  }
  return code;
}

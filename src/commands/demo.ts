// `trace demo`: builds and starts three small Go services in podman containers, puts them
// under load, traces them live, and removes everything on the way out.

import { runLoad, startDemo, type DemoHandle, type LoadSummary } from '../demo/stack.js';
import { chalkFor, fail, type Streams } from './output.js';
import { runCommand, type RunOptions } from './run.js';

export interface DemoOptions {
  /** How long each traced step runs. */
  readonly stepMs: number;
  readonly bpftrace?: string;
  /** Leave the containers running afterwards (for trying commands by hand). */
  readonly keep: boolean;
}

interface Step {
  readonly title: string;
  readonly program: string;
  readonly containers: string[];
}

export async function demoCommand(opts: DemoOptions, io: Streams): Promise<number> {
  const c = chalkFor(io.stderr, io.env);
  const say = (msg: string) => io.stderr.write(`${c.cyan('demo:')} ${msg}\n`);
  let interrupted = false;
  const onSignal = () => {
    interrupted = true;
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  let demo: DemoHandle | undefined;
  let load: Promise<LoadSummary> | undefined;
  const stopLoad = new AbortController();
  try {
    say('building and starting frontend, voting and emoji (Go services in podman containers)...');
    try {
      demo = await startDemo({ keep: opts.keep, failRate: 0.1, slowEvery: 7, slowMs: 20, log: (m) => say(m) });
    } catch (e) {
      fail(io, `the demo could not start: ${(e as Error).message.split('\n')[0]}`);
      return 1;
    }
    const names = demo.containers;
    const steps: Step[] = [
      {
        title: `requests per argument of main.handle in ${names.frontend.name}, the card's one-liner`,
        program: 'uprobe:main.handle < @[arg0] = count() >',
        containers: [names.frontend.name],
      },
      {
        title: 'system call latency (us) per container, across all three',
        program:
          'syscall:::entry { self->ts = timestamp; } syscall:::return /self->ts/ { @us[container] = quantize((timestamp - self->ts) / 1000); self->ts = 0; }',
        containers: [names.frontend.name, names.voting.name, names.emoji.name],
      },
    ];
    const totalMs = steps.length * (opts.stepMs + 3000) + 5000;
    say(`sending load to ${demo.urls.frontend} (n = 1..5, 10% of votes fail, every 7th is slow)`);
    // Aborted at the end on purpose: its rejection then is expected, not an error.
    load = runLoad(demo, { durationMs: totalMs, rate: 200, concurrency: 4, ns: [1, 2, 3, 4, 5], signal: stopLoad.signal });
    load.catch(() => undefined);

    for (const step of steps) {
      if (interrupted) break;
      io.stdout.write(`\n${c.bold(`# ${step.title}`)}\n`);
      io.stdout.write(`${c.dim(`$ trace ${step.containers.map((n) => `-c ${n} `).join('')}-i 1s '${step.program}'`)}\n\n`);
      const run: RunOptions = {
        expr: step.program,
        positionals: [],
        output: 'table',
        intervalMs: 1000,
        durationMs: opts.stepMs,
        emit: false,
        quiet: false,
        destructive: false,
        ...(opts.bpftrace ? { bpftrace: opts.bpftrace } : {}),
        targets: { containers: step.containers, labels: [], pids: [], runtime: 'podman', hostPids: false },
      };
      const code = await runCommand(run, io);
      if (code !== 0) return code;
    }
    if (opts.keep) {
      say(`the containers keep running: try  trace -c ${names.frontend.name} 'uprobe:main.handle < @[arg0] = count() >'`);
    }
    return 0;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    stopLoad.abort();
    if (demo && !opts.keep) {
      say('stopping the demo containers');
      await demo.stop().catch(() => undefined);
    }
    await load?.catch(() => undefined);
  }
}

// Runs the built CLI as a user would (node bin/trace.js ...), for end-to-end tests.

import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const TRACE = join(ROOT, 'bin', 'trace.js');

export interface TraceRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface Started {
  readonly child: ChildProcess;
  readonly done: Promise<TraceRun>;
  /** Resolves once stderr or stdout has matched `re`. */
  waitFor(re: RegExp, timeoutMs?: number): Promise<void>;
  output(): { stdout: string; stderr: string };
}

/** The test's trace arguments, in an environment variable its bpftrace inherits (see bpftraceProcesses). */
const ARGS_ENV = 'CTRACE_TEST_ARGS';

/** `via`: an argv prefix to run the CLI under (e.g. `ip netns exec NS`, which execs: the child's PID is still trace's). */
export function startTrace(args: readonly string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; via?: readonly string[] } = {}): Started {
  const argv = [...(opts.via ?? []), process.execPath, TRACE, ...args];
  const child = spawn(argv[0]!, argv.slice(1), {
    env: { ...process.env, NO_COLOR: '1', [ARGS_ENV]: args.join('\n'), ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const waiters: { re: RegExp; resolve: () => void }[] = [];
  const check = () => {
    for (const w of [...waiters]) {
      if (w.re.test(stdout) || w.re.test(stderr)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  };
  child.stdout!.on('data', (d: Buffer) => {
    stdout += d.toString();
    check();
  });
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
    check();
  });
  const killer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
  const done = new Promise<TraceRun>((resolve) => {
    child.on('close', (code, signal) => {
      clearTimeout(killer);
      resolve({ code, signal, stdout, stderr });
    });
  });
  return {
    child,
    done,
    output: () => ({ stdout, stderr }),
    waitFor: (re, timeoutMs = 30_000) =>
      new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`timed out waiting for ${re}; stdout:\n${stdout}\nstderr:\n${stderr}`)), timeoutMs);
        waiters.push({ re, resolve: () => (clearTimeout(t), resolve()) });
        check();
      }),
  };
}

/** Starts `trace args`, waits until `probes` probes are attached, runs `during`, then Ctrl-C. */
export async function traceWhile(args: readonly string[], during: () => Promise<unknown>, opts: { env?: NodeJS.ProcessEnv; probes?: number; timeoutMs?: number } = {}): Promise<TraceRun> {
  const t = startTrace(args, { ...(opts.env ? { env: opts.env } : {}), ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}) });
  try {
    await waitForAttach(t, opts.probes ?? 1);
    await during();
  } finally {
    t.child.kill('SIGINT');
  }
  return t.done;
}

export function runTrace(args: readonly string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; via?: readonly string[] } = {}): Promise<TraceRun> {
  return startTrace(args, opts).done;
}

/**
 * PIDs of bpftrace processes whose command line contains `marker` (`-e PROGRAM`, as the helper
 * runs it), or whose environment does: a CLI run's bpftrace reads its program on stdin (it is
 * started before the program is compiled), and inherits startTrace's ARGS_ENV. Both outlive
 * the trace process that started them, so a bpftrace left behind is found either way.
 */
export function bpftraceProcesses(marker: string): number[] {
  const found: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${d}/cmdline`, 'utf8');
      if (!cmd.includes('bpftrace') || cmd.includes('pgrep')) continue;
      if (cmd.includes(marker) || readFileSync(`/proc/${d}/environ`, 'utf8').split('\0').some((v) => v.startsWith(`${ARGS_ENV}=`) && v.includes(marker))) found.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/** Spawns a shell loop (a fixed, test-owned command: no user input) and returns a stopper. */
export function background(script: string): () => void {
  const child = spawn('sh', ['-c', script], { stdio: 'ignore', detached: true });
  return () => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      /* already gone */
    }
  };
}

// --- attachment and tables, for tests that need exact counts ----------------------------

/** PID of the bpftrace that `trace` (process `parentPid`) runs the program with, or null. */
export function bpftraceChild(parentPid: number): number | null {
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== parentPid) continue;
      const argv = readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0');
      // Not the `bpftrace --info` that trace runs first to learn the version.
      if (argv.some((a) => a.endsWith('/bpftrace')) && !argv.includes('--info') && !argv.includes('--version')) return Number(d);
    } catch {
      // gone meanwhile
    }
  }
  return null;
}

/** Perf-event (and bpf_link) descriptors a process holds: one per attached probe. */
export function attachedProbes(pid: number): number {
  let n = 0;
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const link = readlinkSync(`/proc/${pid}/fd/${fd}`);
        if (link === 'anon_inode:[perf_event]' || link === 'anon_inode:bpf_link') n++;
      } catch {
        // closed meanwhile
      }
    }
  } catch {
    return 0;
  }
  return n;
}

/**
 * Resolves once the trace's bpftrace holds `probes` attached probes (perf events), so load
 * sent afterwards is all counted. `trace` prints nothing on attachment when its stderr is
 * not a terminal, so this looks from outside: bpftrace 0.23 opens one perf event per
 * uprobe/tracepoint (BEGIN and END run without one) and enables it right after; the short
 * grace covers the microseconds between the descriptor and the enable ioctl.
 */
export async function waitForAttach(t: Started, probes = 1, timeoutMs = 20_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (t.child.exitCode !== null || t.child.signalCode !== null) {
      const o = t.output();
      throw new Error(`trace exited before attaching (code ${t.child.exitCode}); stdout:\n${o.stdout}\nstderr:\n${o.stderr}`);
    }
    const pid = bpftraceChild(t.child.pid!);
    if (pid !== null && attachedProbes(pid) >= probes) {
      await new Promise((r) => setTimeout(r, 100));
      return pid;
    }
    if (Date.now() > deadline) {
      const o = t.output();
      throw new Error(`bpftrace did not attach ${probes} probe(s) within ${timeoutMs} ms; stdout:\n${o.stdout}\nstderr:\n${o.stderr}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

export interface TextTable {
  /** The aggregation's name line above the table (`@name`), or '' for `@`. */
  readonly title: string;
  readonly header: string[];
  readonly rows: string[][];
}

/** The box tables in `trace`'s output (NO_COLOR), cells trimmed. */
export function parseTables(text: string): TextTable[] {
  const out: TextTable[] = [];
  const lines = text.split('\n');
  let cur: { title: string; header: string[]; rows: string[][]; inBody: boolean } | null = null;
  for (const [i, line] of lines.entries()) {
    if (line.startsWith('┌')) {
      const prev = lines[i - 1] ?? '';
      cur = { title: prev.startsWith('@') ? prev.trim() : '', header: [], rows: [], inBody: false };
    } else if (cur && line.startsWith('├')) cur.inBody = true;
    else if (cur && line.startsWith('│')) {
      const cells = line.split('│').slice(1, -1).map((c) => c.trim());
      if (cur.inBody) cur.rows.push(cells);
      else cur.header = cells;
    } else if (cur && line.startsWith('└')) {
      out.push({ title: cur.title, header: cur.header, rows: cur.rows });
      cur = null;
    }
  }
  return out;
}

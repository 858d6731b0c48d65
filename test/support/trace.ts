// Runs the built CLI as a user would (node bin/trace.js ...), for end-to-end tests.

import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
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

export function startTrace(args: readonly string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Started {
  const child = spawn(process.execPath, [TRACE, ...args], {
    env: { ...process.env, NO_COLOR: '1', ...opts.env },
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

export function runTrace(args: readonly string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<TraceRun> {
  return startTrace(args, opts).done;
}

/** PIDs of bpftrace processes whose command line contains `marker`. */
export function bpftraceProcesses(marker: string): number[] {
  let out = '';
  try {
    out = execFileSync('pgrep', ['-f', marker], { encoding: 'utf8' });
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
  return out
    .split('\n')
    .filter(Boolean)
    .map(Number)
    .filter((pid) => pid !== process.pid && isBpftrace(pid));
}

function isBpftrace(pid: number): boolean {
  try {
    const cmd = execFileSync('cat', [`/proc/${pid}/cmdline`], { encoding: 'utf8' });
    return cmd.includes('bpftrace') && !cmd.includes('pgrep');
  } catch {
    return false;
  }
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

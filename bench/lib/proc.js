// Process helpers for the benchmarks: timed spawns, first-line and exit timings, wrk.

import { spawn, execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const TRACE = join(ROOT, 'bin', 'trace.js');
/** bpftrace 0.23 (scripts/setup.sh unpacks it here); the one `trace` uses by default. */
export const BPFTRACE = process.env.TRACE_BPFTRACE || '/opt/ctrace/bin/bpftrace';
export const BPFTRACE_SYSTEM = '/usr/bin/bpftrace';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** `trace ARGS` as a user runs it: node bin/trace.js, pinned to the same bpftrace as the hand-written runs. */
export function traceCmd(args) {
  return [process.execPath, [TRACE, '--bpftrace', BPFTRACE, ...args]];
}

export function bpftraceCmd(args) {
  return [BPFTRACE, args];
}

/**
 * Spawns a command with stdout split into lines. `onLine(line, msSinceSpawn)` sees each stdout
 * line as it arrives. Returns { child, t0, exited: Promise<{code, signal, ms, stderr}> }.
 */
export function spawnLines(cmd, args, { env, onLine, onChunk, stdin = 'ignore' } = {}) {
  const t0 = performance.now();
  const child = spawn(cmd, args, { stdio: [stdin, 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1', ...(env ?? {}) } });
  let rest = '';
  let stderr = '';
  child.stdout.on('data', (d) => {
    const now = performance.now() - t0;
    if (onChunk) onChunk(d, now);
    if (!onLine) return;
    const parts = (rest + d.toString('utf8')).split('\n');
    rest = parts.pop();
    for (const l of parts) onLine(l, now);
  });
  child.stderr.on('data', (d) => {
    if (stderr.length < 64 * 1024) stderr += d.toString('utf8');
  });
  const exited = new Promise((resolve) => {
    child.on('close', (code, signal) => {
      if (rest && onLine) onLine(rest, performance.now() - t0);
      resolve({ code, signal, ms: performance.now() - t0, stderr });
    });
    child.on('error', (e) => resolve({ code: -1, signal: null, ms: performance.now() - t0, stderr: stderr + String(e) }));
  });
  return { child, t0, exited };
}

/** SIGINT, then SIGKILL after `graceMs`; resolves with the exit info. */
export async function stop(p, graceMs = 8000) {
  if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGINT');
  const t = setTimeout(() => p.child.kill('SIGKILL'), graceMs);
  const r = await p.exited;
  clearTimeout(t);
  return r;
}

/** Milliseconds from spawn to the first stdout line matching `re`; the process is then stopped. */
export async function timeToLine(cmd, args, re, { timeoutMs = 30_000, env } = {}) {
  let resolveLine;
  const seen = new Promise((r) => (resolveLine = r));
  const p = spawnLines(cmd, args, { env, onLine: (l, ms) => re.test(l) && resolveLine(ms) });
  const timer = sleep(timeoutMs).then(() => 'timeout');
  const ms = await Promise.race([seen, p.exited.then(() => 'exited'), timer]);
  const r = await stop(p);
  if (typeof ms !== 'number') throw new Error(`${cmd} ${args.join(' ').slice(0, 120)}: no line matching ${re} (${ms}; exit ${r.code}): ${r.stderr.slice(0, 400)}`);
  return ms;
}

/** Milliseconds from spawn to exit; throws on a non-zero exit. */
export async function timeToExit(cmd, args, { timeoutMs = 30_000, env } = {}) {
  const p = spawnLines(cmd, args, { env });
  const t = setTimeout(() => p.child.kill('SIGKILL'), timeoutMs);
  const r = await p.exited;
  clearTimeout(t);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ').slice(0, 120)}: exit ${r.code ?? r.signal}: ${r.stderr.slice(0, 400)}`);
  return r.ms;
}

/** Runs a command to completion and returns its stdout (throws on failure). */
export function output(cmd, args, opts = {}) {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...opts });
}

/** Like output() but never throws: '' on failure. */
export function tryOutput(cmd, args) {
  try {
    return output(cmd, args).trim();
  } catch {
    return '';
  }
}

/** wrk against a loopback URL; returns requests/s and error counts from its report. */
export async function wrk(url, { threads = 2, connections = 16, durationS = 5 } = {}) {
  if (!/^http:\/\/127\.0\.0\.1:\d+\//.test(url)) throw new Error(`wrk: loopback URLs only (${url})`);
  let out = '';
  const p = spawnLines('wrk', [`-t${threads}`, `-c${connections}`, `-d${durationS}s`, url], { onLine: (l) => (out += l + '\n') });
  const r = await p.exited;
  if (r.code !== 0) throw new Error(`wrk failed (${r.code}): ${r.stderr}${out}`);
  const num = (re) => {
    const m = re.exec(out);
    return m ? Number(m[1]) : 0;
  };
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  return {
    rps: num(/Requests\/sec:\s+([\d.]+)/),
    requests: num(/(\d+) requests in/),
    non2xx: num(/Non-2xx or 3xx responses: (\d+)/),
    socketErrors: sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0,
    text: out,
  };
}

/** PIDs of live processes whose parent is `ppid`. */
export function childrenOf(ppid) {
  const out = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === ppid) out.push(Number(d));
    } catch {
      // gone
    }
  }
  return out;
}

/** CPU seconds (user + system) a live process has used so far; NaN when it is gone. */
export function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // USER_HZ is 100 on Linux
  } catch {
    return NaN;
  }
}

/**
 * Time the kernel spent in a process's BPF programs and how often they ran, from the
 * fdinfo of its bpf-prog descriptors (counted while kernel.bpf_stats_enabled is 1).
 * Programs that ran at most once (BEGIN, END) are left out.
 */
export function bpfProgStats(pid) {
  let ns = 0;
  let runs = 0;
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        if (!readlinkSync(`/proc/${pid}/fd/${fd}`).includes('bpf-prog')) continue;
        const info = readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
        const t = Number(/run_time_ns:\s+(\d+)/.exec(info)?.[1] ?? 0);
        const c = Number(/run_cnt:\s+(\d+)/.exec(info)?.[1] ?? 0);
        if (c > 1) {
          ns += t;
          runs += c;
        }
      } catch {
        // closed meanwhile
      }
    }
  } catch {
    // gone
  }
  return { ns, runs };
}

/** Sets kernel.bpf_stats_enabled (BPF run-time accounting); returns a function that restores it. */
export function enableBpfStats() {
  const path = '/proc/sys/kernel/bpf_stats_enabled';
  let old = null;
  try {
    old = readFileSync(path, 'utf8').trim();
    if (old !== '1') writeFileSync(path, '1');
  } catch {
    return () => {};
  }
  return () => {
    try {
      if (old !== null && old !== '1') writeFileSync(path, old);
    } catch {
      // leave it
    }
  };
}

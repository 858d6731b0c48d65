// 5. Fleet: `trace -H ...` on 1, 4 and 8 SSH test hosts (test/support/hosts.ts: sshd on
// loopback ports, each in its own mount + UTS namespace with its own /usr/local, /etc and
// podman store; all share this machine's kernel and CPUs). The helper is installed on all
// eight once (`trace helper install --host ...`, timed once), then each run is timed.
//
// "Attached on every host" = from the exec of `trace -H h1 ... -q PROGRAM` until trace's
// stdout has shown the BEGIN line of every host (`ready`, or `[host] ready` with several).
// PROGRAM is a host-wide tracepoint plus BEGIN { printf("ready\n"); }: bpftrace runs BEGIN
// once every probe is attached, so this includes the CLI's start, the SSH connections
// (handshake, host key, key authentication), the channel to each host's persistent helper
// (docs/helper.md; started by the install, reached over SSH forwarding to its socket), its
// bpftrace discovery and compile there, bpftrace's own start and attach, and the relay of
// the line back over SSH. trace is then interrupted (SIGINT); that teardown is recorded but
// not part of the figure. Runs of 1, 4 and 8 hosts are interleaved round by round; the
// 8-host/1-host ratio is the median of per-round ratios.
//
// For context, in the same rounds: bpftrace alone on this machine with the same program, one
// process and 8 started at once (the test hosts share this machine's CPUs, so 8 bpftrace
// starts at once is the floor no fleet of these hosts can beat), and `trace` locally.
// Then a breakdown at 1 and 8 hosts: SSH connect alone, SSH + hello through the persistent
// helper's socket, SSH + hello through an exec'd helper (the fallback: the login shell and a
// node start on the host), and an exec'd helper's run inside each host's namespaces without
// SSH (nsenter).

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { testHostsModule } from '../lib/hosts.js';
import { readFileSync } from 'node:fs';
import { BPFTRACE, ROOT, TRACE, cpuSeconds, sleep, spawnLines, stop } from '../lib/proc.js';
import { pairRatios, summary } from '../lib/stats.js';

const GOAL = 2;
const SIZES = [1, 4, 8];

/** The program, with a unique map key so that its processes can be told apart. */
function programText(marker) {
  return `tracepoint:syscalls:sys_enter_getppid { @["${marker}"] = count(); } BEGIN { printf("ready\\n"); }`;
}

/**
 * Spawns cmd, waits until `done(lines)` says all expected lines arrived; returns
 * { ms, marks, teardownMs }. `marks`: trace's TRACE_DEBUG_TIMING lines as [ms, label].
 */
async function timeUntil(cmd, args, { env, isReady, need, timeoutMs = 60_000, stopAfter = true }) {
  const seen = new Set();
  const busy0 = machineBusySeconds();
  let atReady = { cpuS: NaN, busyS: NaN };
  let resolveAll;
  const all = new Promise((r) => (resolveAll = r));
  const p = spawnLines(cmd, args, {
    env,
    onLine: (l, ms) => {
      const key = isReady(l);
      if (key === null || seen.has(key)) return;
      seen.add(key);
      if (seen.size === need) {
        atReady = { cpuS: cpuSeconds(p.child.pid), busyS: machineBusySeconds() - busy0 };
        resolveAll(ms);
      }
    },
  });
  const timer = sleep(timeoutMs).then(() => 'timeout');
  const ms = await Promise.race([all, p.exited.then(() => 'exited'), timer]);
  const t1 = performance.now();
  const r = stopAfter ? await stop(p) : await p.exited;
  const teardownMs = performance.now() - t1;
  if (typeof ms !== 'number') {
    throw new Error(`${args.slice(0, 12).join(' ').slice(0, 200)}: ${seen.size} of ${need} ready lines (${ms}; exit ${r.code ?? r.signal}): ${r.stderr.slice(0, 600)}`);
  }
  const marks = [...r.stderr.matchAll(/^trace: timing\s+([\d.]+) ms\s+(.*)$/gm)].map((m) => [Number(m[1]), m[2].trim()]);
  return { ms, marks, teardownMs, code: r.code, ...atReady };
}

/** CPU-seconds all CPUs of this machine have been busy since boot (/proc/stat: all but idle and iowait). */
function machineBusySeconds() {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0); // user .. steal (guest is inside user)
    return (total - f[3] - f[4]) / 100; // USER_HZ
  } catch {
    return NaN;
  }
}

/** utime + stime of a process, and of its reaped children, in CPU-seconds. */
function processCpu(pid) {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const x = f.slice(f.lastIndexOf(')') + 2).split(' ').map(Number);
    return { self: (x[11] + x[12]) / 100, children: (x[13] + x[14]) / 100 };
  } catch {
    return { self: NaN, children: NaN };
  }
}

/**
 * What a test host's processes have used: its sshd (the listener, and every session it
 * reaped), and its persistent helper (itself, and the bpftrace processes it reaped).
 */
function hostCpu(h) {
  const sshd = processCpu(h.sshdPid);
  let pid = 0;
  try {
    pid = Number(readFileSync(join(h.dir, 'run-ctrace', 'helper.pid'), 'utf8'));
  } catch {
    // no persistent helper
  }
  const helper = pid > 0 ? processCpu(pid) : { self: 0, children: 0 };
  return { sshd: sshd.self + sshd.children, helper: helper.self, bpftrace: helper.children };
}

/** CPU-seconds per host and run between two hostCpu snapshots of `hosts`, `runs` host-runs in all. */
function perHostRun(before, after, runs) {
  const out = { sshd: 0, helper: 0, bpftrace: 0 };
  after.forEach((a, i) => {
    for (const k of Object.keys(out)) out[k] += a[k] - before[i][k];
  });
  return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v / runs]));
}

/** One `trace -H ...` run over `hosts`; line keys are host labels. */
function traceFleet(hosts, env, marker) {
  const labels = hosts.map((h) => h.name);
  const args = [TRACE, ...labels.flatMap((l) => ['-H', l]), '-q', programText(marker)];
  const isReady = (l) => {
    if (labels.length === 1) return l === 'ready' ? labels[0] : null;
    const m = /^\[([^\]]+)\] ready$/.exec(l);
    return m && labels.includes(m[1]) ? m[1] : null;
  };
  return timeUntil(process.execPath, args, { env: { ...env, TRACE_DEBUG_TIMING: '1' }, isReady, need: labels.length });
}

/** n local bpftrace processes started at once; ms until the last printed `ready`. */
async function bpftraceParallel(n, marker) {
  const runs = Array.from({ length: n }, (_, i) => timeUntil(BPFTRACE, ['-e', programText(`${marker}-${i}`)], { isReady: (l) => (l === 'ready' ? 'x' : null), need: 1 }));
  const r = await Promise.all(runs);
  return Math.max(...r.map((x) => x.ms));
}

/** Client-side phases of one fleet run, from trace's timing marks (ms since its start). */
function phases(marks) {
  const at = (label) => marks.filter(([, l]) => l.startsWith(label)).map(([ms]) => ms);
  const compiled = at('starting bpftrace');
  const attached = at('probes attached');
  return {
    cliLoaded: at('cli loaded')[0] ?? NaN,
    firstCompiled: compiled.length ? Math.min(...compiled) : NaN,
    lastCompiled: compiled.length ? Math.max(...compiled) : NaN,
    lastAttached: attached.length ? Math.max(...attached) : NaN,
  };
}

export async function fleetSection(ctx) {
  const { quick, log } = ctx;
  const rounds = quick ? 3 : 5;
  if (process.getuid?.() !== 0) throw new Error('the fleet benchmark needs root (test hosts are namespaces with their own sshd)');
  const { startTestHosts } = await testHostsModule();
  const rows = [];
  const raw = { rounds, definition: 'exec of trace -H ... until every host\'s BEGIN printf line is on its stdout (SIGINT afterwards; teardown not included)', program: programText('MARKER') };
  const t0 = performance.now();
  const fleet = await startTestHosts(Math.max(...SIZES));
  // As many again whose sshd refuses forwarding: the CLI reaches their helper by exec (login
  // shell, node start), as every run did before the persistent helper. Interleaved with the
  // others, they show what it changed on the same machine at the same moments.
  const execHosts = await Promise.all(Array.from({ length: Math.max(...SIZES) }, (_, i) => fleet.add({ name: `ctrace-x${i + 1}`, forwarding: false })));
  raw.hostsStartMs = performance.now() - t0;
  try {
    const hosts = fleet.hosts.filter((h) => !execHosts.includes(h));
    const env = { HOME: fleet.home, PATH: process.env.PATH, NO_COLOR: '1' };
    log(`  fleet: ${hosts.length} test hosts up in ${(raw.hostsStartMs / 1000).toFixed(1)} s; installing the helper on all of them...`);
    const ti = performance.now();
    const inst = spawnLines(process.execPath, [TRACE, 'helper', 'install', ...[...hosts, ...execHosts].flatMap((h) => ['--host', h.name])], { env });
    const killer = setTimeout(() => inst.child.kill('SIGKILL'), 300_000);
    const ir = await inst.exited;
    clearTimeout(killer);
    raw.installMs = performance.now() - ti;
    if (ir.code !== 0) throw new Error(`trace helper install failed (${ir.code ?? ir.signal}): ${ir.stderr.slice(0, 600)}`);

    const tag = randomBytes(3).toString('hex');
    let k = 0;
    const marker = () => `fleetbench${tag}n${k++}`;
    const fleetMs = Object.fromEntries(SIZES.map((n) => [n, []]));
    const fleetPhases = Object.fromEntries(SIZES.map((n) => [n, []]));
    const teardown = Object.fromEntries(SIZES.map((n) => [n, []]));
    const bt1 = [];
    const bt8 = [];
    const localTrace = [];
    const idleBusy = [];
    const localArgs = (m) => [TRACE, '--bpftrace', BPFTRACE, '-q', programText(m)];
    const localReady = (l) => (l === 'ready' ? 'x' : null);
    // One unmeasured run of each first: page cache, each sshd's first connection, the helper's files.
    const EXEC_SIZES = [1, Math.max(...SIZES)];
    const execMs = Object.fromEntries(EXEC_SIZES.map((n) => [n, []]));
    const execPhases = Object.fromEntries(EXEC_SIZES.map((n) => [n, []]));
    for (const n of SIZES) await traceFleet(hosts.slice(0, n), env, marker());
    for (const n of EXEC_SIZES) await traceFleet(execHosts.slice(0, n), env, marker());
    await bpftraceParallel(1, marker());
    await timeUntil(process.execPath, localArgs(marker()), { isReady: localReady, need: 1 });
    const steps = [
      ...EXEC_SIZES.map((n) => async () => {
        const r = await traceFleet(execHosts.slice(0, n), env, marker());
        execMs[n].push(r.ms);
        execPhases[n].push({ ready: r.ms, cliCpuS: r.cpuS, machineBusyS: r.busyS });
      }),
      ...SIZES.map((n) => async () => {
        const r = await traceFleet(hosts.slice(0, n), env, marker());
        fleetMs[n].push(r.ms);
        fleetPhases[n].push({ ...phases(r.marks), ready: r.ms, cliCpuS: r.cpuS, machineBusyS: r.busyS });
        teardown[n].push(r.teardownMs);
      }),
      async () => bt1.push(await bpftraceParallel(1, marker())),
      async () => bt8.push(await bpftraceParallel(8, marker())),
      async () => localTrace.push((await timeUntil(process.execPath, localArgs(marker()), { isReady: localReady, need: 1 })).ms),
      // The machine is not ours alone: how busy it is while the bench sleeps for a second.
      async () => {
        const b0 = machineBusySeconds();
        await sleep(1000);
        idleBusy.push(machineBusySeconds() - b0);
      },
    ];
    const cpu0 = { socket: hosts.map(hostCpu) };
    for (let r = 0; r < rounds; r++) {
      // Rotated each round, so no measurement always follows the same one.
      for (let i = 0; i < steps.length; i++) await steps[(i + r) % steps.length]();
      log(`  fleet: round ${r + 1}/${rounds}: ${SIZES.map((n) => `${n} host${n > 1 ? 's' : ''} ${fleetMs[n].at(-1).toFixed(0)} ms`).join(', ')}; by exec: ${EXEC_SIZES.map((n) => `${n} ${execMs[n].at(-1).toFixed(0)} ms`).join(', ')}; bpftrace x1 ${bt1.at(-1).toFixed(0)} ms, x8 ${bt8.at(-1).toFixed(0)} ms`);
    }
    // Host-runs: each run of n hosts is n of them.
    raw.cpuPerHostRun = { socket: perHostRun(cpu0.socket, hosts.map(hostCpu), rounds * SIZES.reduce((a, b) => a + b, 0)) };
    raw.fleetMs = fleetMs;
    raw.execMs = execMs;
    raw.execPhases = execPhases;
    raw.fleetPhases = fleetPhases;
    raw.teardownMs = teardown;
    raw.bpftraceMs = { 1: bt1, 8: bt8 };
    raw.localTraceMs = localTrace;
    raw.idleBusyCpuSPerS = idleBusy;
    const background = `${((100 * summary(idleBusy).median) / availableParallelism()).toFixed(0)}%`;

    for (const n of SIZES) {
      const ph = fleetPhases[n];
      const med = (f) => summary(ph.map(f)).median;
      rows.push({
        id: '5',
        name: `fleet: trace -H x${n}, exec to every host's probes attached (its BEGIN line on stdout)`,
        value: summary(fleetMs[n]),
        unit: 'ms',
        extra:
          `medians: CLI loaded at ${med((p) => p.cliLoaded).toFixed(0)} ms, helpers' "compiled" at ${med((p) => p.firstCompiled).toFixed(0)}-${med((p) => p.lastCompiled).toFixed(0)} ms; ` +
          `CPU until attached: trace ${med((p) => p.cliCpuS).toFixed(2)} s; whole machine ${med((p) => p.machineBusyS).toFixed(2)} s ` +
          `= ${((100 * med((p) => p.machineBusyS)) / (availableParallelism() * (med((p) => p.ready) / 1000))).toFixed(0)}% of ${availableParallelism()} CPUs (idle bench: ${background}); SIGINT to exit ${summary(teardown[n]).median.toFixed(0)} ms`,
      });
    }
    const r81 = summary(pairRatios(fleetMs[8], fleetMs[1]));
    const bt81 = summary(pairRatios(bt8, bt1));
    rows.push({ id: '5', name: 'fleet: 8 hosts / 1 host, time to attached (per round)', ratio: r81, goal: `<= ${GOAL}x`, pass: r81.median <= GOAL, note: `the 8 test hosts share this machine's ${availableParallelism()} CPUs (see the CPU figures above and the breakdown below); 8 bpftrace started at once take ${bt81.median.toFixed(1)}x one` });
    rows.push({ id: '5', name: 'fleet: 4 hosts / 1 host, time to attached (per round)', ratio: summary(pairRatios(fleetMs[4], fleetMs[1])) });
    for (const n of EXEC_SIZES) {
      const med = (f) => summary(execPhases[n].map(f)).median;
      rows.push({ id: '5', name: `same rounds, hosts refusing SSH forwarding (helper by exec, the path before the persistent helper): trace -H x${n}`, value: summary(execMs[n]), unit: 'ms', extra: `whole machine ${med((p) => p.machineBusyS).toFixed(2)} CPU-s until attached; trace ${med((p) => p.cliCpuS).toFixed(2)} s` });
    }
    const e81 = summary(pairRatios(execMs[8], execMs[1]));
    rows.push({ id: '5', name: 'same rounds, helper by exec: 8 hosts / 1 host', ratio: e81, note: 'compare with "fleet: 8 hosts / 1 host" above: the same machine at the same moments' });
    // By exec, the helper is not always reaped by the sshd that started it (a session that
    // ends first leaves it to init), so only the persistent helper's hosts are counted.
    const c = raw.cpuPerHostRun.socket;
    rows.push({ id: '5', name: 'CPU-s one host spends per run (start to exit), through the persistent helper', value: summary([c.sshd + c.helper + c.bpftrace]), unit: 's', extra: `sshd ${c.sshd.toFixed(3)}, persistent helper ${c.helper.toFixed(3)}, its bpftrace ${c.bpftrace.toFixed(3)}` });
    rows.push({ id: '5', name: 'reference: bpftrace 0.23 alone, same program, this machine: exec to BEGIN line', value: summary(bt1), unit: 'ms' });
    rows.push({ id: '5', name: 'reference: 8 bpftrace 0.23 started at once, same program: exec to the last BEGIN line', value: summary(bt8), unit: 'ms', ratio: bt81, note: 'ratio: to one bpftrace' });
    rows.push({ id: '5', name: 'reference: trace without -H (local), same program: exec to BEGIN line', value: summary(localTrace), unit: 'ms' });

    // --- where the time goes: SSH alone, SSH + helper start, the helper without SSH ---------
    log('  fleet: breakdown...');
    raw.breakdown = await breakdown(hosts, fleet.home, quick ? 2 : 3, marker, log);
    for (const b of raw.breakdown.rows) rows.push({ id: '5', name: `breakdown: ${b.name}`, value: summary(b.ms), unit: 'ms', ...(b.note ? { note: b.note } : {}) });
    rows.push({ id: '5', name: `helper install on ${hosts.length + execHosts.length} hosts (once)`, value: summary([raw.installMs]), unit: 'ms' });
  } finally {
    const ts = performance.now();
    await fleet.stop().catch((e) => log(`  fleet: stopping the test hosts: ${e.message}`));
    log(`  fleet: test hosts stopped (${((performance.now() - ts) / 1000).toFixed(1)} s)`);
  }
  return { rows, raw };
}

/**
 * Times the stages separately, with 1 and 8 hosts at once:
 *   SSH connect (TCP, handshake, host key check, key authentication), in this process;
 *   SSH connect + `hello` through the persistent helper's socket (what a run's start costs);
 *   SSH connect + exec ctrace-helper + `hello` (the fallback: the login shell, node start and
 *   bpftrace discovery on the host);
 *   the helper's `run` started inside each host's namespaces without SSH (nsenter), until its
 *   bpftrace's BEGIN line (compile on the host + bpftrace start and attach).
 */
export async function breakdown(hosts, home, reps, marker, log = () => {}) {
  const ssh = await import(join(ROOT, 'dist', 'runner', 'transport', 'ssh.js'));
  const client = await import(join(ROOT, 'dist', 'runner', 'helper-client.js'));
  const env = { ...process.env, HOME: home };
  const connect = async (h) => {
    const t = performance.now();
    const c = await ssh.sshConnect(h.name, { env });
    if (!c.ok) throw new Error(`ssh ${h.name}: ${c.message}`);
    const ms = performance.now() - t;
    c.conn.close();
    return ms;
  };
  const hello = async (h) => {
    const t = performance.now();
    const tr = await ssh.sshTransport(h.name, { env });
    if (!tr.ok) throw new Error(`ssh ${h.name}: ${tr.message}`);
    const r = await client.ask(tr.transport, { v: 1, op: 'hello' });
    const ms = performance.now() - t;
    tr.transport.close();
    if (!r.ok) throw new Error(`hello ${h.name}: ${r.message}`);
    return ms;
  };
  const helloExec = async (h) => {
    const t = performance.now();
    const c = await ssh.sshConnect(h.name, { env });
    if (!c.ok) throw new Error(`ssh ${h.name}: ${c.message}`);
    const r = await ssh.sshExec(c.conn, ['/usr/local/bin/ctrace-helper'], Buffer.from(JSON.stringify({ v: 1, op: 'hello' }) + '\n'), { timeoutMs: 60_000 });
    const ms = performance.now() - t;
    c.conn.close();
    if (!r.ok || !r.stdout.toString().includes('"t":"hello"')) throw new Error(`hello (exec) ${h.name}: ${r.ok ? r.stderr.toString().slice(0, 300) : r.message}`);
    return ms;
  };
  const runHelper = async (h) => {
    const t = performance.now();
    const child = spawn('nsenter', ['-t', String(h.sshdPid), '-m', '-u', '--', '/usr/local/bin/ctrace-helper'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let rest = '';
    let compiledMs = NaN;
    const ready = new Promise((resolve, reject) => {
      child.stdout.on('data', (d) => {
        const now = performance.now() - t;
        if (out.length < 4000) out += d.toString();
        const lines = (rest + d.toString()).split('\n');
        rest = lines.pop();
        for (const l of lines) {
          let m;
          try {
            m = JSON.parse(l);
          } catch {
            continue;
          }
          if (m.t === 'compiled' && Number.isNaN(compiledMs)) compiledMs = now;
          // bpftrace's JSON output, relayed: {"type": "printf", "data": "ready\n"}
          if (m.t === 'out' && /"data": ?"ready\\n"/.test(m.line)) resolve(now);
        }
      });
      child.on('close', (code) => reject(new Error(`helper on ${h.name} exited ${code} before ready: ${out.slice(0, 300)}`)));
    });
    child.stdin.on('error', () => {});
    child.stdin.write(JSON.stringify({ v: 1, op: 'run', program: { name: '<bench>', text: programText(marker()) }, args: [], intervalMs: null, quiet: true, destructive: false, host: h.name }) + '\n');
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    try {
      const ms = await ready;
      return { ms, compiledMs };
    } finally {
      clearTimeout(timer);
      child.stdin.end(); // the helper kills its bpftrace when stdin closes
      await new Promise((r) => (child.exitCode !== null ? r() : child.once('close', r)));
    }
  };
  const stages = [
    { name: 'SSH connect + auth (ssh2, in-process)', f: async (hs) => Math.max(...(await Promise.all(hs.map(connect)))) },
    { name: 'SSH connect + hello through the persistent helper\'s socket', f: async (hs) => Math.max(...(await Promise.all(hs.map(hello)))) },
    { name: 'SSH connect + exec ctrace-helper + hello (the fallback: login shell, node start, bpftrace discovery)', f: async (hs) => Math.max(...(await Promise.all(hs.map(helloExec)))) },
    {
      name: 'exec\'d helper run without SSH (nsenter): request to BEGIN line (node start, compile on host, bpftrace attach)',
      f: async (hs) => {
        const r = await Promise.all(hs.map(runHelper));
        return { ms: Math.max(...r.map((x) => x.ms)), compiledMs: Math.max(...r.map((x) => x.compiledMs)) };
      },
    },
  ];
  const out = [];
  for (const s of stages) {
    for (const n of [1, 8]) {
      const ms = [];
      const compiled = [];
      const once = () => withTimeout(s.f(hosts.slice(0, n)), 60_000, `${s.name}, ${n} hosts`);
      await once(); // unmeasured
      for (let i = 0; i < reps; i++) {
        const v = await once();
        if (typeof v === 'number') ms.push(v);
        else {
          ms.push(v.ms);
          compiled.push(v.compiledMs);
        }
      }
      log(`  fleet: breakdown: ${s.name}, ${n} host(s): ${ms.map((x) => x.toFixed(0)).join(' ')} ms`);
      out.push({ name: `${s.name}, ${n} host${n > 1 ? 's at once (slowest)' : ''}`, ms, ...(compiled.length ? { compiledMs: compiled, note: `helper answered "compiled" at ${summary(compiled).median.toFixed(0)} ms` } : {}) });
    }
  }
  return { reps, rows: out };
}

function withTimeout(promise, ms, what) {
  let t;
  return Promise.race([promise, new Promise((_, reject) => (t = setTimeout(() => reject(new Error(`${what}: no answer within ${ms / 1000} s`)), ms)))]).finally(() => clearTimeout(t));
}

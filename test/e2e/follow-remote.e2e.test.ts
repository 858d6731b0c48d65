// End to end: `trace -H HOST --follow` (issue 15, item 3) through the helper on a real SSH test
// host, its container replaced twice under the trace (rm + run under the same name: a new id,
// a new PID, asked of the helper's policy again). Exact counts: load is sent only once the
// reattach line is seen (the helper says it once the new bpftrace's BEGIN ran), and requests
// sent while the container is down are refused (asserted), so none is served unseen.

import { createHash, randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { TEST_USER, useTestHosts, type HostService, type TestHost, type TestHosts } from '../support/hosts.js';
import { bpftraceProcesses, parseTables, runTrace, startTrace, type Started } from '../support/trace.js';

const fleet = useTestHosts(1);
let t: TestHosts;
let h: TestHost;
let env: NodeJS.ProcessEnv;
let svc: HostService;
const ARGS = ['-fail-rate', '0'];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  t = await fleet.ready;
  h = t.hosts[0]!;
  env = { HOME: t.home, PATH: process.env.PATH, NO_COLOR: '1', TRACE_DEBUG_TIMING: '1' };
  const install = await runTrace(['helper', 'install', '--host', h.name], { env, timeoutMs: 120_000 });
  expect(install.code, install.stderr).toBe(0);
  svc = await h.startService('voting', { name: 'svc', args: ARGS });
}, 300_000);

/** Resolves once `re` has matched `n` times in the trace's stderr. */
async function nthLine(run: Started, re: RegExp, n: number, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (run.output().stderr.split('\n').filter((l) => re.test(l)).length < n) {
    if (Date.now() > deadline || run.child.exitCode !== null) throw new Error(`expected ${n} lines matching ${re}; stderr:\n${run.output().stderr}`);
    await sleep(20);
  }
}

/** `n` requests, the first alone (a per-CPU count's first insert can race another CPU's). */
async function loadExact(n: number): Promise<number> {
  const first = await h.load(svc, 1, { concurrency: 1 });
  const rest = await h.load(svc, n - 1);
  return first.ok + rest.ok;
}

type Json = { type: string; phase?: string; rows?: { keys: unknown[]; value: number }[] };
const total = (e: Json) => (e.rows ?? []).reduce((n, r) => n + r.value, 0);

describe('trace -H --follow', () => {
  it('the container replaced twice: reattached each time, counts exact across the gaps, an audit line per restart, no bpftrace left', async () => {
    const marker = `ctrace_follow_remote_${randomBytes(3).toString('hex')}`;
    const prog = `uprobe:main.vote /execname != "${marker}"/ { @ = count(); }`;
    const run = startTrace(['-H', h.name, '--follow', '-c', 'svc', '-d', '60s', '-o', 'json', prog], { env, timeoutMs: 120_000 });
    await nthLine(run, / probes attached$/, 1, 60_000);
    let answered = await loadExact(23);
    expect(answered).toBe(23);
    const pids: number[] = [];
    for (let i = 1; i <= 2; i++) {
      const before = svc.hostPid;
      await h.podman(['rm', '-f', '--time', '1', 'svc']);
      await nthLine(run, /waiting for it to come back \(--follow\)/, i);
      // Down: nothing listens, so these are refused, not served unseen.
      expect((await h.load(svc, 3, { concurrency: 1 })).ok).toBe(0);
      svc = await h.startService('voting', { name: 'svc', args: ARGS });
      const answering = Date.now();
      pids.push(svc.hostPid);
      expect(svc.hostPid).not.toBe(before);
      await nthLine(run, new RegExp(`is back \\(PID ${svc.hostPid}\\); reattached after`), 1);
      // Reattached at most 2 s after the new container answered.
      expect(Date.now() - answering).toBeLessThan(2000);
      // The bpftrace that traced the old container is gone; one traces the new one.
      expect(bpftraceProcesses(marker)).toHaveLength(1);
      const n = 10 + i * 7;
      expect(await loadExact(n)).toBe(n);
      answered += n;
    }
    run.child.kill('SIGINT');
    const r = await run.done;
    expect(r.code, r.stderr).toBe(0);
    const events = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Json & { target?: string; pid?: number });
    // The detach and reattach events, as a local run prints them.
    expect(events.filter((e) => e.type === 'detach' && e.target === 'svc')).toHaveLength(2);
    expect(events.filter((e) => e.type === 'reattach').map((e) => e.pid)).toEqual(pids);
    const final = events.filter((e) => e.type === 'aggregation' && e.phase === 'final');
    expect(final).toHaveLength(1);
    expect(total(final[0]!), r.stdout).toBe(answered);
    // Gone within 2 s of the end, on the host as here (the hosts share the machine's PIDs).
    const t0 = Date.now();
    while (bpftraceProcesses(marker).length && Date.now() - t0 < 2000) await sleep(50);
    expect(bpftraceProcesses(marker)).toEqual([]);
    const audit = (await h.exec(['cat', '/var/log/ctrace/audit.log'])).stdout.trim().split('\n').map((l) => JSON.parse(l) as { outcome: string; detail?: string; program: { sha256: string } })
      .filter((a) => a.program.sha256 === createHash('sha256').update(prog).digest('hex'));
    expect(audit.filter((a) => a.detail === 'followed a restart (--follow)')).toHaveLength(2);
    expect(audit.at(-1)).toMatchObject({ outcome: 'interrupted', detail: 'followed 2 restarts' });
  }, 180_000);

  it('a non-root user through the local sudo helper: followed across a restart, then refused when the policy no longer grants the container that comes back', async () => {
    const marker = `ctrace_follow_user_${randomBytes(3).toString('hex')}`;
    const grant = (containers: string[]) => h.exec(['tee', '/etc/ctrace/policy.json'], { input: JSON.stringify({ version: 1, grants: [{ users: [TEST_USER], containers }] }) });
    await grant(['svc']);
    const via = ['nsenter', '-t', String(h.sshdPid), '-m', '-u', '--', 'runuser', '-u', TEST_USER, '--', 'env', 'NO_COLOR=1', 'TRACE_DEBUG_TIMING=1', `HOME=/home/${TEST_USER}`];
    const run = startTrace(['--follow', '-c', 'svc', `uprobe:main.vote /execname != "${marker}"/ { @ = count(); }`], { via, timeoutMs: 120_000 });
    await nthLine(run, / probes attached$/, 1, 60_000);
    let answered = await loadExact(11);
    await h.podman(['rm', '-f', '--time', '1', 'svc']);
    svc = await h.startService('voting', { name: 'svc', args: ARGS });
    await nthLine(run, new RegExp(`is back \\(PID ${svc.hostPid}\\); reattached after`), 1);
    answered += await loadExact(9);
    expect(answered).toBe(20);
    // The container that comes back next is asked of the policy again: no longer granted.
    await grant(['something-else']);
    await h.podman(['rm', '-f', '--time', '1', 'svc']);
    svc = await h.startService('voting', { name: 'svc', args: ARGS });
    const r = await run.done;
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain(`trace: user '${TEST_USER}' may not trace container 'svc' (no grant in the ctrace policy matches it)`);
    // What was counted before is still printed.
    expect(parseTables(r.stdout).at(-1)!.rows, r.stdout).toEqual([['20']]);
    expect(bpftraceProcesses(marker)).toEqual([]);
  }, 180_000);

  it('SIGKILL of the CLI after a reattach leaves no bpftrace on the host within 2 s', async () => {
    const marker = `ctrace_follow_kill_${randomBytes(3).toString('hex')}`;
    const run = startTrace(['-H', h.name, '--follow', '-c', 'svc', `uprobe:main.vote /execname != "${marker}"/ { @ = count(); }`], { env, timeoutMs: 60_000 });
    await nthLine(run, / probes attached$/, 1, 60_000);
    await h.podman(['rm', '-f', '--time', '1', 'svc']);
    svc = await h.startService('voting', { name: 'svc', args: ARGS });
    await nthLine(run, /is back \(PID \d+\); reattached after/, 1);
    expect(bpftraceProcesses(marker)).toHaveLength(1);
    run.child.kill('SIGKILL');
    await run.done;
    const t0 = Date.now();
    while (bpftraceProcesses(marker).length && Date.now() - t0 < 2000) await sleep(50);
    expect(bpftraceProcesses(marker)).toEqual([]);
  }, 120_000);

  it('Ctrl-C while the helper waits for the container prints the counts so far and exits 0', async () => {
    const marker = `ctrace_follow_gap_${randomBytes(3).toString('hex')}`;
    const run = startTrace(['-H', h.name, '--follow', '-c', 'svc', `uprobe:main.vote /execname != "${marker}"/ { @ = count(); }`], { env, timeoutMs: 60_000 });
    await nthLine(run, / probes attached$/, 1, 60_000);
    const n = await loadExact(14);
    await h.podman(['rm', '-f', '--time', '1', 'svc']);
    await nthLine(run, /waiting for it to come back \(--follow\)/, 1);
    const t0 = Date.now();
    while (bpftraceProcesses(marker).length && Date.now() - t0 < 3000) await sleep(50);
    expect(bpftraceProcesses(marker)).toEqual([]);
    run.child.kill('SIGINT');
    const r = await run.done;
    expect(r.code, r.stderr).toBe(0);
    expect(parseTables(r.stdout).at(-1)!.rows, r.stdout).toEqual([[String(n)]]);
    svc = await h.startService('voting', { name: 'svc', args: ARGS });
  }, 120_000);
});

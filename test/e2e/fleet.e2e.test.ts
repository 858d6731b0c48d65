// Fleets over SSH, for real: three test hosts (sshd in their own mount and UTS namespaces,
// each with its own podman store, /etc and /usr/local), the helper installed on each with
// `trace helper install --host`, and a demo service container named alike on all three.
// Issue 5's acceptance 1-4, through the built CLI.

import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, TEST_USER, useTestHosts, type HostService, type TestHost, type TestHosts } from '../support/hosts.js';
import { attachedProbes, bpftraceProcesses, parseTables, runTrace, startTrace, TRACE, type Started, type TraceRun } from '../support/trace.js';

const fleet = useTestHosts(3);
const scratch = mkdtempSync(join(tmpdir(), 'ctrace-fleet-e2e-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

let t: TestHosts;
let hosts: TestHost[];
let env: NodeJS.ProcessEnv;
/** The service on each host, all named `svc`; and a second one, `other`, on the first host. */
const svc = new Map<string, HostService>();
let other: HostService;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  t = await fleet.ready;
  hosts = t.hosts;
  env = { HOME: t.home, PATH: process.env.PATH, NO_COLOR: '1', TRACE_DEBUG_TIMING: '1' };
  const install = await runTrace(['helper', 'install', ...hosts.flatMap((h) => ['--host', h.name])], { env, timeoutMs: 120_000 });
  expect(stderrOf(install)).toBe("");
  expect(install.code).toBe(0);
  await Promise.all(hosts.map(async (h) => svc.set(h.name, await h.startService('voting', { name: 'svc', args: ['-fail-rate', '0'] }))));
  other = await hosts[0]!.startService('voting', { name: 'other', args: ['-fail-rate', '0'] });
}, 300_000);

/**
 * Resolves once `n` hosts have their probes attached: with TRACE_DEBUG_TIMING=1, `trace`
 * marks each host's attach (its BEGIN ran, so every probe is live) on stderr.
 */
async function waitForHosts(run: Started, n: number, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const attached = () => (run.output().stderr.match(/ probes attached$/gm) ?? []).length;
  while (attached() < n) {
    if (Date.now() > deadline) throw new Error(`only ${attached()} of ${n} hosts attached; stderr:\n${run.output().stderr}`);
    await sleep(50);
  }
}

/** Without the timing lines. */
const stderrOf = (r: TraceRun) => r.stderr.replace(/^trace: timing .*\n/gm, '');

/** For a run that is not ours to watch (started inside a host): its bpftrace has attached its uprobe, and a moment more. */
async function waitForBpftrace(marker: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!bpftraceProcesses(marker).some((pid) => attachedProbes(pid) >= 1)) {
    if (Date.now() > deadline) throw new Error(`no bpftrace attached for ${marker}`);
    await sleep(100);
  }
  await sleep(1500);
}

/**
 * `n` requests to the host's `svc`, the first alone: bpftrace's count() can lose one increment
 * when two CPUs insert a new key at the same moment (a per-CPU hash's first insert replaces
 * the other CPU's), so each key is created by one call before the concurrent ones.
 */
async function loadExact(h: TestHost, n: number): Promise<number> {
  const first = await h.load(svc.get(h.name)!, 1, { concurrency: 1 });
  const rest = n > 1 ? await h.load(svc.get(h.name)!, n - 1) : { ok: 0 };
  return first.ok + rest.ok;
}

async function waitGone(marker: string, ms: number): Promise<number> {
  const t0 = Date.now();
  while (bpftraceProcesses(marker).length && Date.now() - t0 < ms) await sleep(50);
  return bpftraceProcesses(marker).length;
}

function table(r: TraceRun, name: string): Record<string, number> {
  // parseTables titles the anonymous aggregation ''.
  const tb = parseTables(r.stdout).find((x) => x.title === (name === '@' ? '' : name));
  expect(tb, `table ${name} in:\n${r.stdout}\nstderr:\n${r.stderr}`).toBeDefined();
  return Object.fromEntries(tb!.rows.map((row) => [row.length > 1 ? row[0]! : '', Number(row.at(-1))]));
}

describe('one run over three hosts', () => {
  it('merges counts to the sum of requests sent to each, and @[host] splits them', async () => {
    const marker = `fleet${randomBytes(3).toString('hex')}`;
    const prog = `uprobe:main.vote { @all = count(); @[host] = count(); @m["${marker}"] = count(); }`;
    const run = startTrace([...hosts.flatMap((h) => ['-H', h.name]), '-c', 'svc', prog], { env });
    await waitForHosts(run, 3);
    const sent = [30, 45, 60];
    const results = await Promise.all(hosts.map((h, i) => loadExact(h, sent[i]!)));
    expect(results).toEqual(sent);
    run.child.kill('SIGINT');
    const r = await run.done;
    expect(r.code, r.stderr).toBe(0);
    expect(table(r, '@all'), r.stdout).toEqual({ '': 135 });
    expect(table(r, '@'), `${r.stdout}\n${JSON.stringify(results)}`).toEqual(Object.fromEntries(hosts.map((h, i) => [h.name, sent[i]])));
    expect(r.stderr).toContain('trace: 3 of 3 hosts reported');
    expect(await waitGone(marker, 2000)).toBe(0);
  });
});

describe('trace list -H', () => {
  it("lists a container's functions on the host, through its helper", async () => {
    const h = hosts[1]!;
    const r = await runTrace(['list', '-H', h.name, '-c', 'svc', 'main.vot*'], { env });
    expect(stderrOf(r)).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')).toContain('uprobe:main.vote');
    const none = await runTrace(['list', '-H', h.name, '-c', 'nosuch', 'main.*'], { env });
    expect(none.code).toBe(1);
    expect(stderrOf(none).trim()).toMatch(/^trace: .*nosuch/);
  });
});

describe('hosts that cannot be used', () => {
  it('refuses an unknown host key, naming its fingerprint; --accept-new records it', async () => {
    const home = join(scratch, 'home-unknown');
    execFileSync('cp', ['-r', t.home, home]);
    writeFileSync(join(home, '.ssh', 'known_hosts'), '');
    // The alias config points UserKnownHostsFile at the shared file: use plain specs here.
    const h = hosts[0]!;
    const spec = `root@127.0.0.1:${h.port}`;
    const r = await runTrace(['-H', spec, '-c', 'svc', '-d', '1s', 'uprobe:main.vote { @ = count(); }'], { env: { ...env, HOME: home } });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(h.fingerprint);
    expect(r.stderr).toMatch(/--accept-new/);
    expect(stderrOf(r).trim().split('\n')).toHaveLength(1);
    const ok = await runTrace(['-H', spec, '--accept-new', '-c', 'svc', '-d', '1s', 'uprobe:main.vote { @ = count(); }'], { env: { ...env, HOME: home } });
    expect(ok.code, ok.stderr).toBe(0);
  });

  it('an unreachable host fails alone while the others report', async () => {
    const dead = `root@127.0.0.1:${await freePort()}`;
    const marker = `unreach${randomBytes(3).toString('hex')}`;
    const run = startTrace(['-H', hosts[0]!.name, '-H', dead, '-H', hosts[1]!.name, '-c', 'svc', `uprobe:main.vote { @[host] = count(); @m["${marker}"] = count(); }`], { env });
    await waitForHosts(run, 2);
    await run.waitFor(/cannot connect to/, 30_000); // the dead host's one retry is over
    expect(await Promise.all([loadExact(hosts[0]!, 10), loadExact(hosts[1]!, 20)])).toEqual([10, 20]);
    run.child.kill('SIGINT');
    const r = await run.done;
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`${dead.replace(/[.]/g, '\\.')}: cannot connect to .*connection refused`));
    expect(r.stderr).toContain(`trace: 2 of 3 hosts reported; failed: ${dead}`);
    expect(table(r, '@')).toEqual({ [hosts[0]!.name]: 10, [hosts[1]!.name]: 20 });
  });
});

describe('cleanup on every host', () => {
  async function started(marker: string): Promise<Started> {
    const run = startTrace([...hosts.flatMap((h) => ['-H', h.name]), '-c', 'svc', `uprobe:main.vote { @["${marker}"] = count(); }`], { env });
    await waitForHosts(run, 3);
    return run;
  }

  it('killing one host\'s SSH connection ends its bpftrace within 2 s; the others go on', async () => {
    const marker = `sshkill${randomBytes(3).toString('hex')}`;
    const run = await started(marker);
    const victim = hosts[1]!;
    // The per-connection sshd processes are the listener's children.
    const sessions = execFileSync('pgrep', ['-P', String(victim.sshdPid)], { encoding: 'utf8' }).trim().split('\n').map(Number);
    const before = bpftraceProcesses(marker).length;
    for (const p of sessions) process.kill(p, 'SIGKILL');
    const t0 = Date.now();
    while (bpftraceProcesses(marker).length >= before && Date.now() - t0 < 2000) await sleep(50);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(bpftraceProcesses(marker)).toHaveLength(2);
    expect(await loadExact(hosts[0]!, 7)).toBe(7);
    run.child.kill('SIGINT');
    const r = await run.done;
    expect(r.stderr).toContain(`${victim.name}: lost the connection to the helper on ${victim.name}`);
    expect(r.code).toBe(1);
    expect(table(r, '@')[marker]).toBe(7);
    expect(await waitGone(marker, 2000)).toBe(0);
  });

  it('SIGKILL of the CLI leaves no bpftrace on any host within 2 s', async () => {
    const marker = `clikill${randomBytes(3).toString('hex')}`;
    const run = await started(marker);
    expect(bpftraceProcesses(marker)).toHaveLength(3);
    run.child.kill('SIGKILL');
    expect(await waitGone(marker, 2000)).toBe(0);
  });
});

describe('an unprivileged login and the policy', () => {
  const policy = (grants: unknown[]) => JSON.stringify({ version: 1, grants });
  const as = (h: TestHost) => `${TEST_USER}@127.0.0.1:${h.port}`;

  it('with no policy entry, tracing is refused with one sentence', async () => {
    const h = hosts[2]!;
    await h.exec(['tee', '/etc/ctrace/policy.json'], { input: policy([]) });
    const r = await runTrace(['-H', as(h), '-c', 'svc', '-d', '1s', 'uprobe:main.vote { @ = count(); }'], { env });
    expect(r.code).toBe(1);
    expect(stderrOf(r).trim()).toBe(`trace: user '${TEST_USER}' may not trace anything on this host: no grant in the ctrace policy (/etc/ctrace/policy.json) names this user or its groups`);
    const audit = await h.exec(['tail', '-n', '1', '/var/log/ctrace/audit.log']);
    expect(JSON.parse(audit.stdout)).toMatchObject({ caller: TEST_USER, via: expect.stringMatching(/^sudo/), outcome: 'refused', targets: ['svc'] });
  });

  it('with an entry for one container, that container works and another is refused', async () => {
    const h = hosts[0]!;
    await h.exec(['tee', '/etc/ctrace/policy.json'], { input: policy([{ users: [TEST_USER], containers: ['svc'] }]) });
    const marker = `granted${randomBytes(3).toString('hex')}`;
    const run = startTrace(['-H', as(h), '-c', 'svc', `uprobe:main.vote { @["${marker}"] = count(); }`], { env });
    await waitForHosts(run, 1);
    expect(await loadExact(h, 12)).toBe(12);
    run.child.kill('SIGINT');
    const r = await run.done;
    expect(r.code, r.stderr).toBe(0);
    expect(table(r, '@')).toEqual({ [marker]: 12 });
    const refused = await runTrace(['-H', as(h), '-c', other.name, '-d', '1s', 'uprobe:main.vote { @ = count(); }'], { env });
    expect(refused.code).toBe(1);
    expect(stderrOf(refused).trim()).toBe(`trace: user '${TEST_USER}' may not trace container '${other.name}' (no grant in the ctrace policy matches it)`);
  });

  it('a user who is not root on the machine itself goes through the local helper and sudo, under the same policy', async () => {
    const h = hosts[0]!;
    await h.exec(['tee', '/etc/ctrace/policy.json'], { input: policy([{ users: [TEST_USER], containers: ['svc'] }]) });
    const marker = `local${randomBytes(3).toString('hex')}`;
    // Inside the host (its /usr/local holds the installed helper and its sudo rule), as the user.
    const asUser = (args: string[]) => h.exec(['runuser', '-u', TEST_USER, '--', 'env', 'NO_COLOR=1', process.execPath, TRACE, ...args], { timeoutMs: 60_000 });
    const run = asUser(['-c', 'svc', '-d', '6s', `uprobe:main.vote { @["${marker}"] = count(); }`]);
    await waitForBpftrace(marker);
    expect(await loadExact(h, 9)).toBe(9);
    const r = await run;
    expect(r.code, r.stderr).toBe(0);
    expect(parseTables(r.stdout).find((x) => x.title === '')!.rows).toEqual([[marker, '9']]);
    const refused = await asUser(['-c', other.name, '-d', '1s', 'uprobe:main.vote { @ = count(); }']);
    expect(refused.code).toBe(1);
    expect(refused.stderr.trim()).toBe(`trace: user '${TEST_USER}' may not trace container '${other.name}' (no grant in the ctrace policy matches it)`);
    const audit = await h.exec(['tail', '-n', '1', '/var/log/ctrace/audit.log']);
    expect(JSON.parse(audit.stdout)).toMatchObject({ caller: TEST_USER, via: 'sudo', outcome: 'refused' });
  });
});

describe('the persistent helper (issue 16)', () => {
  const SOCKET = '/run/ctrace/helper.sock';
  const daemonPid = async (h: TestHost): Promise<number> => Number((await h.exec(['cat', '/run/ctrace/helper.pid'])).stdout.trim());
  const lastAudit = async (h: TestHost) => JSON.parse((await h.exec(['tail', '-n', '1', '/var/log/ctrace/audit.log'])).stdout) as Record<string, unknown>;
  const socketThere = async (h: TestHost) => (await h.exec(['test', '-S', SOCKET])).code === 0;
  const once = (h: TestHost, marker: string) => runTrace(['-H', h.name, '-q', `BEGIN { printf("${marker}\\n"); exit(); }`], { env });

  it('a root login reaches it through SSH forwarding to its socket: the same process serves each run, audited per run', async () => {
    const h = hosts[1]!;
    const pid = await daemonPid(h);
    expect(pid).toBeGreaterThan(0);
    expect(() => process.kill(pid, 0)).not.toThrow();
    for (const m of ['sock1', 'sock2']) {
      const r = await once(h, m);
      expect(stderrOf(r)).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toBe(`${m}\n`);
      expect(await lastAudit(h)).toMatchObject({ caller: 'root', uid: 0, via: 'root socket', outcome: 'ok' });
    }
    expect(await daemonPid(h)).toBe(pid);
    // Root's alone: its directory is 0700 root.
    expect((await h.exec(['stat', '-c', '%a %U', '/run/ctrace'])).stdout.trim()).toBe('700 root');
  });

  it('without it, a run goes through the exec\'d helper, which starts it again for the next run', async () => {
    const h = hosts[2]!;
    const pid = await daemonPid(h);
    process.kill(pid, 'SIGTERM');
    for (let i = 0; i < 50 && (await socketThere(h)); i++) await sleep(100);
    expect(await socketThere(h)).toBe(false);
    const r = await once(h, 'viaexec');
    expect(stderrOf(r)).toBe('');
    expect(r.stdout).toBe('viaexec\n');
    expect(await lastAudit(h)).toMatchObject({ caller: 'root', via: 'root ssh:127.0.0.1', outcome: 'ok' });
    for (let i = 0; i < 100 && !(await socketThere(h)); i++) await sleep(100);
    expect(await daemonPid(h)).not.toBe(pid);
    const again = await once(h, 'viasocket');
    expect(again.stdout).toBe('viasocket\n');
    expect(await lastAudit(h)).toMatchObject({ via: 'root socket', outcome: 'ok' });
  });

  it('trace helper install restarts it, and the next run reaches the new one', async () => {
    const h = hosts[0]!;
    const pid = await daemonPid(h);
    const install = await runTrace(['helper', 'install', '--host', h.name], { env, timeoutMs: 120_000 });
    expect(stderrOf(install)).toBe('');
    expect(install.code).toBe(0);
    const now = await daemonPid(h);
    expect(now).not.toBe(pid);
    const r = await once(h, 'afterinstall');
    expect(r.stdout).toBe('afterinstall\n');
    expect(await lastAudit(h)).toMatchObject({ via: 'root socket', outcome: 'ok' });
    expect(await daemonPid(h)).toBe(now);
  });

  it("on a host whose sshd refuses forwarding, runs go through the exec'd helper", async () => {
    const h = await t.add({ forwarding: false });
    const install = await runTrace(['helper', 'install', '--host', h.name], { env, timeoutMs: 120_000 });
    expect(stderrOf(install)).toBe('');
    expect(install.code).toBe(0);
    const r = await once(h, 'noforwarding');
    expect(stderrOf(r)).toBe('');
    expect(r.stdout).toBe('noforwarding\n');
    expect(await lastAudit(h)).toMatchObject({ caller: 'root', via: 'root ssh:127.0.0.1', outcome: 'ok' });
    await h.stop();
  });

  it('a program the helper rejects exits 2 with its diagnostic, as through the exec\'d helper', async () => {
    const r = await runTrace(['-H', hosts[0]!.name, 'BEGIN { @x = quantise(1); }'], { env });
    expect(r.code).toBe(2);
    expect(stderrOf(r)).toMatch(/quantise/);
  });
});

// `trace check` and `trace repl` through the helpers, for real (issue 15, item 4): two SSH
// test hosts with the helper installed by `trace helper install --host`, a voting service
// named `svc` in each; `check -H h1 -H h2` judges the merged aggregations once, `repl -H h1`
// keeps its data across an added clause, and an unprivileged user on a host goes through the
// host's own helper and sudo, under its policy. Counts are compared exactly with the load sent.

import { copyFileSync, chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildDemo } from '../../src/demo/build.js';
import { count, outputOf, Tmux } from '../repl/tmux.js';
import { freePort, TEST_USER, useTestHosts, type HostService, type TestHost, type TestHosts } from '../support/hosts.js';
import { bpftraceProcesses, parseTables, runTrace, startTrace, TRACE, type TextTable, type TraceRun } from '../support/trace.js';

const fleet = useTestHosts(2);
/** World-readable: the unprivileged user's --run command runs the load generator from here. */
const scratch = mkdtempSync(join(tmpdir(), 'ctrace-remote-e2e-'));
chmodSync(scratch, 0o755);
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

let t: TestHosts;
let h1: TestHost;
let h2: TestHost;
let env: NodeJS.ProcessEnv;
let loadgen: string;
const svc = new Map<string, HostService>();
let other: HostService;
const sessions: Tmux[] = [];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const policy = (grants: unknown[]) => JSON.stringify({ version: 1, grants });
const stderrOf = (r: TraceRun) => r.stderr.replace(/^trace: timing .*\n/gm, '');

beforeAll(async () => {
  t = await fleet.ready;
  [h1, h2] = t.hosts as [TestHost, TestHost];
  env = { HOME: t.home, PATH: process.env.PATH, NO_COLOR: '1' };
  const install = await runTrace(['helper', 'install', '--host', h1.name, '--host', h2.name], { env, timeoutMs: 120_000 });
  expect(install.code, install.stderr).toBe(0);
  loadgen = join(scratch, 'loadgen');
  copyFileSync((await buildDemo()).paths.loadgen, loadgen);
  chmodSync(loadgen, 0o755);
  await Promise.all([h1, h2].map(async (h) => svc.set(h.name, await h.startService('voting', { name: 'svc', args: ['-fail-rate', '0'] }))));
  other = await h1.startService('voting', { name: 'other', args: ['-fail-rate', '0'] });
}, 300_000);

afterEach(() => {
  while (sessions.length) sessions.pop()!.kill();
});

/**
 * A --run command line sending `n` requests to the host's `svc`, the first alone (count()
 * can lose an increment when two CPUs create a map key at once), the summaries to `out`.
 */
function loadCommand(h: TestHost, n: number, out: string): string {
  const url = `'${svc.get(h.name)!.url}/vote?n={n}'`;
  return `${loadgen} -url ${url} -c 1 -requests 1 > ${out}.1 && ${loadgen} -url ${url} -c 4 -requests ${n - 1} > ${out}.2`;
}
const sent = (out: string) => [1, 2].reduce((s, i) => s + (JSON.parse(readFileSync(`${out}.${i}`, 'utf8')) as { ok: number }).ok, 0);

async function loadExact(h: TestHost, s: HostService, n: number): Promise<number> {
  const first = await h.load(s, 1, { concurrency: 1 });
  const rest = await h.load(s, n - 1);
  return first.ok + rest.ok;
}

function table(text: string, name: string): Record<string, number> {
  const tb = parseTables(text).find((x) => x.title === (name === '@' ? '' : name));
  expect(tb, `table ${name} in:\n${text}`).toBeDefined();
  return Object.fromEntries(tb!.rows.map((row) => [row.length > 1 ? row[0]! : '', Number(row.at(-1))]));
}

/** The verdict table's rows: [expectation, measured, bound, result]. */
function verdicts(r: TraceRun): string[][] {
  const v = parseTables(r.stdout).find((x) => x.header.join('|') === 'expectation|measured|bound|result');
  expect(v, r.stdout + r.stderr).toBeDefined();
  return v!.rows;
}

async function auditLines(h: TestHost): Promise<Record<string, unknown>[]> {
  const r = await h.exec(['cat', '/var/log/ctrace/audit.log']);
  return r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
}

async function waitGone(marker: string, ms: number): Promise<number> {
  const t0 = Date.now();
  while (bpftraceProcesses(marker).length && Date.now() - t0 < ms) await sleep(50);
  return bpftraceProcesses(marker).length;
}

const COUNTS = (marker: string) => `uprobe:main.vote { @calls = count(); @[host] = count(); @m["${marker}"] = count(); }`;
const LATENCY = 'pid$target::main.vote:entry { self->ts = timestamp; } pid$target::main.vote:return /self->ts/ { @lat = latency(timestamp - self->ts); self->ts = 0; }';

describe('trace check -H h1 -H h2', () => {
  it('passes one verdict over the merged counts and latencies of both hosts', async () => {
    const marker = `chk${randomBytes(3).toString('hex')}`;
    const [o1, o2] = [join(scratch, `${marker}-1`), join(scratch, `${marker}-2`)];
    const run = `${loadCommand(h1, 30, o1)} && ${loadCommand(h2, 45, o2)}`;
    const r = await runTrace(['check', '-H', h1.name, '-H', h2.name, '-c', 'svc', '--run', run, '--expect', 'count(@calls) == 75', '--expect', 'p99(@lat) < 1s', '-e', `${COUNTS(marker)} ${LATENCY}`], { env, timeoutMs: 120_000 });
    expect([sent(o1), sent(o2)]).toEqual([30, 45]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const v = verdicts(r);
    expect(v.map((row) => [row[0], row[1], row[3]])).toEqual([
      ['count(@calls) == 75', '75', 'PASS'],
      ['p99(@lat) < 1s', expect.stringMatching(/^[\d.]+[nµu]?m?s$/), 'PASS'],
    ]);
    // The merged tables above the verdicts: @[host] keeps the hosts apart.
    expect(table(r.stdout, '@calls')).toEqual({ '': 75 });
    expect(table(r.stdout, '@')).toEqual({ [h1.name]: 30, [h2.name]: 45 });
    expect(r.stderr).toContain('trace: 2 of 2 hosts reported');
    expect(r.stdout).toMatch(/^2 passed$/m);
    expect(await waitGone(marker, 2000)).toBe(0);
    // An audit line per run, on each host.
    for (const h of [h1, h2]) {
      const mine = (await auditLines(h)).filter((l) => (l.program as { name: string }).name === '<command line>' && l.caller === 'root').slice(-2);
      expect(mine.map((l) => l.outcome)).toEqual(['started', 'interrupted']);
    }
  });

  it('fails (exit 1) when the merged count breaks the bound, showing the merged value', async () => {
    const marker = `chkf${randomBytes(3).toString('hex')}`;
    const [o1, o2] = [join(scratch, `${marker}-1`), join(scratch, `${marker}-2`)];
    const run = `${loadCommand(h1, 20, o1)} && ${loadCommand(h2, 25, o2)}`;
    const r = await runTrace(['check', '-H', h1.name, '-H', h2.name, '-c', 'svc', '-q', '--run', run, '--expect', 'count(@calls) < 45', COUNTS(marker)], { env, timeoutMs: 120_000 });
    expect([sent(o1), sent(o2)]).toEqual([20, 25]);
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(verdicts(r)).toEqual([['count(@calls) < 45', '45', '< 45', 'FAIL']]);
    expect(r.stdout).toMatch(/^0 passed, 1 failed$/m);
  });

  it('an expectation naming no aggregation of the program is an error (exit 2) before anything runs', async () => {
    const marker = `chkx${randomBytes(3).toString('hex')}`;
    const t0 = Date.now();
    const r = await runTrace(['check', '-H', h1.name, '-H', h2.name, '-c', 'svc', '-d', '5s', '--expect', 'count(@nope) == 0', COUNTS(marker)], { env, timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(2);
    expect(await Promise.all([h1, h2].map(async (h) => (await auditLines(h)).filter((l) => JSON.stringify(l).includes(marker) || (l.outcome === 'started' && Date.parse(l.start as string) >= t0)).length))).toEqual([0, 0]);
    // Caught on the first host's compilation, before anything runs anywhere: only the diagnostic.
    expect(stderrOf(r).split('\n')[0]).toBe('--expect:1:7: error CT5003: unknown aggregation @nope');
    expect(stderrOf(r)).not.toMatch(/^trace: /m);
    expect(parseTables(r.stdout).find((x) => x.header.includes('expectation'))).toBeUndefined();
    expect(await waitGone(marker, 2000)).toBe(0);
  });

  it('a host that cannot be reached makes the merged data incomplete: an error (exit 2), the verdicts still shown', async () => {
    const dead = `root@127.0.0.1:${await freePort()}`;
    const marker = `chkd${randomBytes(3).toString('hex')}`;
    const out = join(scratch, marker);
    const r = await runTrace(['check', '-H', h1.name, '-H', dead, '-c', 'svc', '-q', '--run', loadCommand(h1, 10, out), '--expect', 'count(@calls) == 10', COUNTS(marker)], { env, timeoutMs: 90_000 });
    expect(sent(out)).toBe(10);
    expect(r.code, r.stderr).toBe(2);
    expect(stderrOf(r)).toMatch(new RegExp(`^trace: ${dead.replace(/[.]/g, '\\.')}: cannot connect to .*connection refused`, 'm'));
    expect(stderrOf(r)).toContain(`trace: ${dead} did not report, so the merged aggregations are incomplete`);
    expect(verdicts(r)).toEqual([['count(@calls) == 10', '10', '== 10', 'PASS']]);
  });

  it('Ctrl-C before --run finished: an error (exit 2), and no bpftrace left on either host', async () => {
    const marker = `chki${randomBytes(3).toString('hex')}`;
    const run = startTrace(['check', '-H', h1.name, '-H', h2.name, '-c', 'svc', '-q', '--run', 'sleep 60', '--expect', 'count(@calls) >= 0', COUNTS(marker)], { env });
    await run.waitFor(/probes attached; running: sleep 60/, 60_000);
    expect(bpftraceProcesses(marker)).toHaveLength(2);
    run.child.kill('SIGINT');
    const r = await run.done;
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain('trace: interrupted before the --run command finished');
    expect(await waitGone(marker, 2000)).toBe(0);
  });

  it('a host that refuses makes the check an error (exit 2) in one sentence', async () => {
    await h2.exec(['tee', '/etc/ctrace/policy.json'], { input: policy([]) });
    const r = await runTrace(['check', '-H', h2.userSpec, '-c', 'svc', '-d', '1s', '--expect', 'count(@calls) == 0', COUNTS('refused')], { env });
    expect(r.code).toBe(2);
    expect(stderrOf(r).trim()).toBe(`trace: user '${TEST_USER}' may not trace anything on this host: no grant in the ctrace policy (/etc/ctrace/policy.json) names this user or its groups`);
    expect((await auditLines(h2)).at(-1)).toMatchObject({ caller: TEST_USER, outcome: 'refused' });
  });
});

/** Runs `:print` (the nth) and returns its tables, once its output is complete. */
async function print(tm: Tmux, nth: number): Promise<TextTable[]> {
  tm.line(':print');
  const s = await tm.waitFor((x) => outputOf(x, ':print', nth) !== null, `the output of :print #${nth}`, 30_000);
  return parseTables(outputOf(s, ':print', nth)!);
}
const countOf = (tables: TextTable[], name: string) => Number(tables.find((x) => x.title === name)?.rows[0]?.at(-1));

/** The REPL session both tests drive: two clauses, the first one's data kept across the second's arrival. */
async function replSession(tm: Tmux, h: TestHost, marker: string, leave: 'C-c' | ':quit'): Promise<void> {
  await tm.waitFor((s) => /^trace> $/m.test(s), 'the first prompt', 30_000);
  // Checked at once by the host's helper, shown against the clause typed.
  tm.line('uprobe:main.vote /pidd == 1/ { @z = count(); }');
  const s = await tm.waitForCount("hint: did you mean 'pid'?", 1, 30_000);
  expect(s).toMatch(/^<input>:1:19: error CT2003: unknown builtin or variable 'pidd'\n.*\n.*\^~~~\nhint: did you mean 'pid'\?/m);
  tm.line(`uprobe:main.vote { @a = count(); @m["${marker}"] = count(); }`);
  await tm.waitForCount('added as clause 1', 1, 30_000);
  // :emit shows what the host's helper compiled: the clause, filtered to the container.
  tm.line(':emit');
  const emitted = outputOf(await tm.waitFor((x) => outputOf(x, ':emit') !== null, 'the output of :emit', 30_000), ':emit')!;
  expect(emitted).toMatch(/uprobe:.*:main\.vote/);
  expect(emitted).toContain('mnt');
  tm.line(':start');
  await tm.waitForCount('attached: tracing container svc through', 1, 30_000);
  expect(await loadExact(h, svc.get(h.name)!, 20)).toBe(20);
  expect(countOf(await print(tm, 1), '@a')).toBe(20);

  // A second clause: the program restarts on the host, @a keeps its 20.
  tm.line('uprobe:main.vote { @b = count(); }');
  await tm.waitForCount('re-attached with 2 clauses; the aggregations gathered so far are kept', 1, 30_000);
  expect(await loadExact(h, svc.get(h.name)!, 10)).toBe(10);
  const second = await print(tm, 2);
  expect([countOf(second, '@a'), countOf(second, '@b')]).toEqual([30, 10]);

  if (leave === 'C-c') {
    // Ctrl-C detaches: no bpftrace left on the host; :quit then leaves.
    tm.keys('C-c');
    await tm.waitForCount('stopped: detached from the target', 1, 15_000);
    expect(await waitGone(marker, 2000)).toBe(0);
    tm.line(':quit');
    await tm.waitFor(() => tm.exited(), 'the REPL to exit', 15_000);
  } else {
    // :quit while attached: the final tables, and no bpftrace left on the host.
    tm.line(':quit');
    await tm.waitFor(() => tm.exited(), 'the REPL to exit', 15_000);
    expect(await waitGone(marker, 2000)).toBe(0);
    const final = parseTables(tm.screen().slice(tm.screen().lastIndexOf('trace> :quit')));
    expect([countOf(final, '@a'), countOf(final, '@b')]).toEqual([30, 10]);
  }
  expect(count(tm.screen(), /error|trace: /)).toBe(1);
}

describe('trace repl -H h1', () => {
  it('adds a clause on the host and keeps the earlier clause\'s data; Ctrl-C leaves no bpftrace', async () => {
    const marker = `repl${randomBytes(3).toString('hex')}`;
    const before = (await auditLines(h1)).length;
    const tm = new Tmux();
    sessions.push(tm);
    tm.start([process.execPath, TRACE, 'repl', '-H', h1.name, '-c', 'svc'], { NO_COLOR: '1', HOME: t.home });
    await replSession(tm, h1, marker, 'C-c');
    // Two attachments, each a run in the host's audit log.
    const runs = (await auditLines(h1)).slice(before).filter((l) => (l.program as { name: string }).name === '<session>');
    expect(runs.map((l) => l.outcome)).toEqual(['started', 'interrupted', 'started', 'interrupted']);
  });
});

describe('trace repl -H h1 -H h2', () => {
  it(':print shows the tables merged across the hosts; :quit leaves no bpftrace on either', async () => {
    const marker = `repl2${randomBytes(3).toString('hex')}`;
    const tm = new Tmux();
    sessions.push(tm);
    tm.start([process.execPath, TRACE, 'repl', '-H', h1.name, '-H', h2.name, '-c', 'svc'], { NO_COLOR: '1', HOME: t.home });
    await tm.waitFor((s) => /^trace> $/m.test(s), 'the first prompt', 30_000);
    tm.line(`uprobe:main.vote { @all = count(); @[host] = count(); @m["${marker}"] = count(); }`);
    await tm.waitForCount('added as clause 1', 1, 30_000);
    tm.line(':start');
    await tm.waitForCount(`attached: tracing container svc through ${h1.name}, ${h2.name}`, 1, 30_000);
    expect(await Promise.all([loadExact(h1, svc.get(h1.name)!, 10), loadExact(h2, svc.get(h2.name)!, 15)])).toEqual([10, 15]);
    const tables = await print(tm, 1);
    expect(countOf(tables, '@all')).toBe(25);
    expect(Object.fromEntries(tables.find((x) => x.title === '')!.rows.map((r) => [r[0], Number(r[1])]))).toEqual({ [h1.name]: 10, [h2.name]: 15 });
    expect(bpftraceProcesses(marker)).toHaveLength(2);
    tm.line(':quit');
    await tm.waitFor(() => tm.exited(), 'the REPL to exit', 15_000);
    expect(await waitGone(marker, 2000)).toBe(0);
  });
});

describe('an unprivileged user on the machine itself: the local helper, through sudo', () => {
  const home = `/home/${TEST_USER}`;
  const asUser = (args: string[]) => h1.exec(['runuser', '-u', TEST_USER, '--', 'env', 'NO_COLOR=1', `HOME=${home}`, process.execPath, TRACE, ...args], { timeoutMs: 90_000 });

  beforeAll(async () => {
    await h1.exec(['tee', '/etc/ctrace/policy.json'], { input: policy([{ users: [TEST_USER], containers: ['svc'] }]) });
  });

  it('trace check runs under the policy and is audited; a container not granted is refused (exit 2)', async () => {
    const marker = `ucheck${randomBytes(3).toString('hex')}`;
    // Where the user's --run command may write its load summaries.
    const dir = mkdtempSync(join(scratch, 'user-'));
    chmodSync(dir, 0o777);
    const out = join(dir, marker);
    const r = await asUser(['check', '-c', 'svc', '--run', loadCommand(h1, 12, out), '--expect', 'count(@calls) == 12', COUNTS(marker)]);
    expect(sent(out)).toBe(12);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(verdicts(r as TraceRun)).toEqual([['count(@calls) == 12', '12', '== 12', 'PASS']]);
    const mine = (await auditLines(h1)).filter((l) => l.caller === TEST_USER && l.via === 'sudo').slice(-2);
    expect(mine.map((l) => l.outcome)).toEqual(['started', 'interrupted']);

    const refused = await asUser(['check', '-c', other.name, '-d', '1s', '--expect', 'count(@calls) == 0', COUNTS(marker)]);
    expect(refused.code).toBe(2);
    expect(refused.stderr.trim()).toBe(`trace: user '${TEST_USER}' may not trace container '${other.name}' (no grant in the ctrace policy matches it)`);
    expect((await auditLines(h1)).at(-1)).toMatchObject({ caller: TEST_USER, via: 'sudo', outcome: 'refused', targets: [other.name] });
  });

  it('trace repl runs through sudo and keeps its data across an added clause, :quit leaves no bpftrace; a refused container ends it in one sentence', async () => {
    const marker = `urepl${randomBytes(3).toString('hex')}`;
    const tm = new Tmux();
    sessions.push(tm);
    tm.start(['nsenter', '-t', String(h1.sshdPid), '-m', '-u', '--', 'runuser', '-u', TEST_USER, '--', 'env', 'NO_COLOR=1', `HOME=${home}`, process.execPath, TRACE, 'repl', '-c', 'svc']);
    await replSession(tm, h1, marker, ':quit');
    const runs = (await auditLines(h1)).filter((l) => l.caller === TEST_USER && (l.program as { name: string }).name === '<session>').slice(-4);
    expect(runs.map((l) => l.outcome)).toEqual(['started', 'interrupted', 'started', 'interrupted']);

    const refused = await asUser(['repl', '-c', other.name]);
    expect(refused.code).toBe(1);
    expect(refused.stderr.trim()).toBe(`trace: user '${TEST_USER}' may not trace container '${other.name}' (no grant in the ctrace policy matches it)`);
  });
});

// ProxyJump for real (issue 15, item 5): a node whose sshd listens only on the loopback of a
// network namespace of ours, a bastion (and a second one) in that namespace on its veth
// address, and the CLI run in a second namespace that reaches the bastions only. So the
// node can be reached through a bastion and no other way. The ssh config is split with
// Include and sets ProxyJump in a Match block, as users write it.

import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, afterAll, describe, expect, it } from 'vitest';
import { useTestHosts, type HostService, type TestHost, type TestHosts, type TestNet } from '../support/hosts.js';
import { bpftraceProcesses, parseTables, runTrace, startTrace, type Started, type TraceRun } from '../support/trace.js';

const fleet = useTestHosts(0);
const scratch = mkdtempSync(join(tmpdir(), 'ctrace-jump-e2e-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

let t: TestHosts;
let net: TestNet;
let bastion: TestHost;
let bastion2: TestHost;
let node: TestHost;
let svc: HostService;
/** A HOME whose ~/.ssh/config reaches node1 through the bastion. */
let home: string;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const stderrOf = (r: TraceRun) => r.stderr.replace(/^trace: timing .*\n/gm, '');

/** The CLI, run in the namespace that reaches only the bastions. */
function trace(args: string[], envHome = home): Promise<TraceRun> {
  return runTrace(args, { via: net.inOuter, env: { HOME: envHome, PATH: process.env.PATH, NO_COLOR: '1' }, timeoutMs: 120_000 });
}

/** A copy of `home` with one file of ~/.ssh replaced. */
function homeWith(name: string, file: string, text: string): string {
  const h = join(scratch, name);
  cpSync(home, h, { recursive: true });
  writeFileSync(join(h, '.ssh', file), text);
  return h;
}

beforeAll(async () => {
  t = await fleet.ready;
  net = t.net();
  [bastion, bastion2] = await Promise.all([
    t.add({ name: 'ctrace-bastion', netns: net.inner, listen: net.innerAddr, forwarding: true }),
    t.add({ name: 'ctrace-bastion2', netns: net.inner, listen: net.innerAddr, forwarding: true }),
  ]);
  node = await t.add({ name: 'ctrace-node1', netns: net.inner, listen: '127.0.0.1', forwarding: false });

  home = join(scratch, 'home');
  mkdirSync(join(home, '.ssh', 'conf.d'), { recursive: true, mode: 0o700 });
  cpSync(t.clientKey, join(home, '.ssh', 'id_ed25519'));
  writeFileSync(join(home, '.ssh', 'known_hosts'), [bastion, bastion2, node].map((h) => h.knownHostsLine).join('\n') + '\n');
  // The hosts in an included file; the jumps set by a Match block, as a user's config would.
  writeFileSync(
    join(home, '.ssh', 'conf.d', 'hosts.conf'),
    `Host bastion\n  HostName ${bastion.address}\n  Port ${bastion.port}\n` +
      `Host bastion2\n  HostName ${bastion2.address}\n  Port ${bastion2.port}\n` +
      `Host node1 node1-2hop\n  HostName 127.0.0.1\n  Port ${node.port}\n` +
      `Host bastion-via-node\n  HostName ${bastion.address}\n  Port ${bastion.port}\n` +
      `Host dead-node\n  HostName 127.0.0.1\n  Port ${node.port + 1}\n` +
      `Host node-deadjump\n  HostName 127.0.0.1\n  Port ${node.port}\n  ProxyJump root@${bastion.address}:${bastion.port + 1}\n`,
  );
  writeFileSync(
    join(home, '.ssh', 'config'),
    'Host *\n  User root\n\nInclude conf.d/*.conf\n\n' +
      'Match originalhost node1,dead-node\n  ProxyJump bastion\n' +
      'Match originalhost node1-2hop\n  ProxyJump bastion,bastion2\n' +
      'Match originalhost bastion-via-node\n  ProxyJump bastion,node1\n',
  );

  // The helper goes on the node through the bastion too.
  const install = await trace(['helper', 'install', '--host', 'node1']);
  expect(install.stderr).toBe('');
  expect(install.code).toBe(0);
  svc = await node.startService('voting', { name: 'svc', args: ['-fail-rate', '0'] });
}, 300_000);

/** `n` requests, the first alone (bpftrace's count() can lose an increment when two CPUs create a key at once). */
async function loadExact(n: number): Promise<number> {
  const first = await node.load(svc, 1, { concurrency: 1 });
  const rest = n > 1 ? await node.load(svc, n - 1) : { ok: 0 };
  return first.ok + rest.ok;
}

function started(args: string[]): Started {
  return startTrace(args, { via: net.inOuter, env: { HOME: home, PATH: process.env.PATH, NO_COLOR: '1', TRACE_DEBUG_TIMING: '1' }, timeoutMs: 120_000 });
}

describe('a node behind a bastion', () => {
  it('cannot be reached directly from where the CLI runs', async () => {
    for (const direct of [`root@127.0.0.1:${node.port}`, `root@${net.innerAddr}:${node.port}`]) {
      const r = await trace(['-H', direct, '-c', 'svc', '-d', '1s', 'uprobe:main.vote { @ = count(); }']);
      expect(r.code).toBe(1);
      expect(stderrOf(r).trim()).toMatch(/^trace: cannot connect to .*: connection refused$/);
    }
  });

  it('trace -H node1 --duration runs the helper there through the bastion, with exact counts', async () => {
    const marker = `jump${randomBytes(3).toString('hex')}`;
    const run = started(['-H', 'node1', '-c', 'svc', '-d', '10s', `uprobe:main.vote { @votes = count(); @m["${marker}"] = count(); }`]);
    await run.waitFor(/ probes attached$/m, 60_000);
    // The bpftrace runs on the node's helper: its sshd session is behind the bastion's.
    expect(bpftraceProcesses(marker)).toHaveLength(1);
    expect(await loadExact(25)).toBe(25);
    const r = await run.done;
    expect(r.code, r.stderr).toBe(0);
    const tb = parseTables(r.stdout).find((x) => x.title === '@votes');
    expect(tb?.rows, r.stdout).toEqual([['25']]);
    const t0 = Date.now();
    while (bpftraceProcesses(marker).length > 0 && Date.now() - t0 < 5000) await sleep(50);
    expect(bpftraceProcesses(marker)).toHaveLength(0);
  });

  it('through two bastions (ProxyJump a,b), and trace list goes the same way', async () => {
    const r = await trace(['list', '-H', 'node1-2hop', '-c', 'svc', 'main.vot*']);
    expect(stderrOf(r)).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')).toContain('uprobe:main.vote');
  });

  it('dropping the bastion connection stops bpftrace on the node within 2 s', async () => {
    const marker = `jumpdrop${randomBytes(3).toString('hex')}`;
    const run = started(['-H', 'node1', '-c', 'svc', `uprobe:main.vote { @["${marker}"] = count(); }`]);
    await run.waitFor(/ probes attached$/m, 60_000);
    expect(bpftraceProcesses(marker)).toHaveLength(1);
    // The bastion's per-connection sshd processes: our session through it.
    const sessions = execFileSync('pgrep', ['-P', String(bastion.sshdPid)], { encoding: 'utf8' }).trim().split('\n').map(Number);
    for (const p of sessions) process.kill(p, 'SIGKILL');
    const t0 = Date.now();
    while (bpftraceProcesses(marker).length > 0 && Date.now() - t0 < 5000) await sleep(50);
    expect(bpftraceProcesses(marker)).toHaveLength(0);
    expect(Date.now() - t0).toBeLessThan(2000);
    const r = await run.done;
    expect(r.code).toBe(1);
    expect(stderrOf(r)).toMatch(/lost the connection to the helper on node1/);
  });
});

describe('when a hop fails: one sentence naming the hop', () => {
  it('an unreachable bastion', async () => {
    const r = await trace(['-H', 'node-deadjump', '-d', '1s', 'BEGIN { exit(); }']);
    expect(r.code).toBe(1);
    expect(stderrOf(r).trim()).toBe(`trace: cannot connect to ${bastion.address}:${bastion.port + 1} (jump host for node-deadjump:${node.port}): connection refused`);
  });

  it('a node the bastion cannot connect to', async () => {
    const r = await trace(['-H', 'dead-node', '-d', '1s', 'BEGIN { exit(); }']);
    expect(r.code).toBe(1);
    expect(stderrOf(r).trim()).toBe(`trace: cannot connect to dead-node:${node.port + 1} (through bastion:${bastion.port}): bastion:${bastion.port} could not connect to 127.0.0.1 port ${node.port + 1} (Connection refused)`);
  });

  it('a hop that does not forward', async () => {
    const r = await trace(['-H', 'bastion-via-node', '-d', '1s', 'BEGIN { exit(); }']);
    expect(r.code).toBe(1);
    expect(stderrOf(r).trim()).toBe(
      `trace: cannot connect to bastion-via-node:${bastion.port} (through node1:${node.port}): node1:${node.port} refused to forward the connection (administratively prohibited: its sshd may have AllowTcpForwarding off)`,
    );
  });

  it("the node's key unknown (checked under its own name); --accept-new records it there", async () => {
    const h = homeWith('home-unknown', 'known_hosts', bastion.knownHostsLine + '\n');
    const r = await trace(['-H', 'node1', '-d', '1s', 'BEGIN { exit(); }'], h);
    expect(r.code).toBe(1);
    const msg = stderrOf(r).trim();
    expect(msg).toContain(`trace: host key for node1:${node.port} (through bastion:${bastion.port}) is not known`);
    expect(msg).toContain(node.fingerprint);
    expect(msg).toContain(`add it with: ssh bastion ssh-keyscan -p ${node.port} 127.0.0.1 >> ~/.ssh/known_hosts`);
    expect(msg.split('\n')).toHaveLength(1);
    const ok = await trace(['-H', 'node1', '--accept-new', '-d', '1s', 'BEGIN { exit(); }'], h);
    expect(ok.code, ok.stderr).toBe(0);
    expect(readFileSync(join(h, '.ssh', 'known_hosts'), 'utf8').split('\n')).toContain(node.knownHostsLine);
  });

  it("the bastion's key changed: refused before anything goes through it", async () => {
    const swapped = bastion2.knownHostsLine.replace(`[${bastion2.address}]:${bastion2.port}`, `[${bastion.address}]:${bastion.port}`);
    const h = homeWith('home-changed', 'known_hosts', `${swapped}\n${node.knownHostsLine}\n`);
    const r = await trace(['-H', 'node1', '-d', '1s', 'BEGIN { exit(); }'], h);
    expect(r.code).toBe(1);
    expect(stderrOf(r).trim()).toMatch(new RegExp(`^trace: WARNING: THE HOST KEY OF bastion:${bastion.port} \\(jump host for node1:${node.port}\\) HAS CHANGED`));
  });

  it('an Include loop and a malformed ProxyJump are config errors (exit 2), before any host is contacted', async () => {
    const loop = homeWith('home-loop', 'config', 'Include config\n');
    const r = await trace(['-H', 'node1', '-d', '1s', 'BEGIN { exit(); }'], loop);
    expect(r.code).toBe(2);
    expect(stderrOf(r).trim()).toBe('trace: ~/.ssh/config:1: Include loop: ~/.ssh/config -> ~/.ssh/config');
    const bad = homeWith('home-badjump', 'config', 'Include conf.d/*.conf\nHost node1\n  ProxyJump bastion,,bastion2\n');
    const b = await trace(['-H', 'node1', '-d', '1s', 'BEGIN { exit(); }'], bad);
    expect(b.code).toBe(2);
    expect(stderrOf(b).trim()).toBe('trace: ~/.ssh/config:3: bad ProxyJump "bastion,,bastion2": an empty hop');
    const cmd = homeWith('home-proxycommand', 'config', 'Host node1\n  ProxyCommand ssh -W %h:%p bastion\n');
    const c = await trace(['-H', 'node1', '-d', '1s', 'BEGIN { exit(); }'], cmd);
    expect(c.code).toBe(2);
    expect(stderrOf(c).trim()).toBe('trace: ~/.ssh/config:2: ProxyCommand is not supported: trace never runs commands from the ssh config; use ProxyJump');
  });
});

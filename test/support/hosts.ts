// Test "hosts" on this machine, for SSH and fleet tests: each is an sshd on its own loopback
// port and host key, running in its own mount + UTS namespace, so that it has its own
// hostname, podman store, /etc (policy, sudoers.d), /usr/local (installed helper) and
// /var/log, while sharing the kernel, the network and the PID namespace with the tests.
//
//   const fleet = useTestHosts(2);                 // registers afterAll(fleet.stop)
//   const [h1, h2] = (await fleet.ready).hosts;
//   await h1.exec(['hostname'])                    // 'ctrace-h1'
//   const svc = await h1.startService('emoji');    // a demo Go service in h1's podman
//   await h1.load(svc, 100);                       // 100 requests from the test
//
// /etc, /usr/local and /var/log are overlays on the machine's own (writes stay in the host's
// directory); podman's dirs, /dev/shm (podman's lock segment: a second store sharing it would
// free the machine's locks at its first start) and /run/ctrace (the persistent helper's
// socket) are fresh. Everything lives in one temp
// directory, removed with the namespace's processes by stop(), or at process exit.
//
// For jump-host tests, net() makes two network namespaces of our own joined by a veth pair
// (link-local addresses, nothing routed to the machine's network): a host added with
// `{ netns: net.inner }` listens only there (on the namespace's own loopback, or on the
// veth address), so only a client in `net.outer` (or a bastion in `inner`) can reach it.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { execa } from 'execa';
import { buildDemo, type DemoBinaries, type DemoService } from '../../src/demo/build.js';
import { PODMAN_GLOBAL, PODMAN_RUN_FLAGS } from '../../src/demo/podman.js';
import { demoRootfs } from '../../src/demo/rootfs.js';
import { parseServiceLog, runLoadgen, waitForHttp, type LoadSummary } from '../../src/demo/stack.js';
import { ownerAlive, ownerId } from './owner.js';

/** The unprivileged account that can log in to every test host by key. */
export const TEST_USER = 'ctrace-test';
const DIR_PREFIX = 'ctrace-testhosts-';

export interface ExecResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface HostService {
  readonly name: string;
  readonly service: DemoService;
  /** PID of the service in the machine's PID namespace (shared by every host). */
  readonly hostPid: number;
  readonly port: number;
  /** http://127.0.0.1:PORT: the hosts share the machine's network, ports are distinct. */
  readonly url: string;
}

export interface TestHost {
  /** Hostname inside the host (ctrace-h1, ...), also its alias in sshConfigFile. */
  readonly name: string;
  readonly port: number;
  /** Where its sshd listens: 127.0.0.1, or the address given to add(). */
  readonly address: string;
  /** root@ADDRESS:PORT: what a test passes as --host (and a transport's label). */
  readonly spec: string;
  /** The same as spec. */
  readonly label: string;
  /** ctrace-test@127.0.0.1:PORT */
  readonly userSpec: string;
  /** `[127.0.0.1]:PORT ssh-ed25519 AAAA...` */
  readonly knownHostsLine: string;
  /** SHA256:... of the host key, as ssh-keygen -l prints it. */
  readonly fingerprint: string;
  readonly sshdPid: number;
  /** This host's private directory on the machine. */
  readonly dir: string;
  /** Runs argv (no shell) inside the host's mount and UTS namespaces. Never throws on exit codes. */
  exec(argv: readonly string[], opts?: { input?: string | Buffer; timeoutMs?: number }): Promise<ExecResult>;
  /** podman (with the runc runtime) against the host's own store. */
  podman(args: readonly string[], opts?: { timeoutMs?: number }): Promise<ExecResult>;
  /** Starts a demo service container in the host's podman and waits until it answers. */
  startService(service: DemoService, opts?: { name?: string; args?: string[] }): Promise<HostService>;
  /** Sends `requests` requests to the service (emoji: /emoji?n=..., voting: /vote?n=...). */
  load(svc: HostService, requests: number, opts?: { concurrency?: number; path?: string }): Promise<LoadSummary>;
  /** Removes its containers, kills every process in its namespace, deletes its directory. */
  stop(): Promise<void>;
}

/** Two network namespaces of ours joined by a veth pair; see the header. */
export interface TestNet {
  /** Where bastions and the hosts behind them run; its loopback is reachable only from inside. */
  readonly inner: string;
  /** Where a client runs: it reaches `inner` only at innerAddr. */
  readonly outer: string;
  /** inner's end of the veth pair (169.254.77.1). */
  readonly innerAddr: string;
  /** argv prefix that runs a command in `outer`. */
  readonly inOuter: readonly string[];
}

export interface TestHostOptions {
  /** A fixed port, e.g. for a delayed start. */
  port?: number;
  name?: string;
  /** Network namespace (from net()) to listen in; default the machine's. */
  netns?: string;
  /** Address to listen on; default 127.0.0.1. */
  listen?: string;
  /**
   * Let clients forward through this host (default true): TCP, as a bastion does, and unix
   * sockets, the way the CLI reaches the persistent helper. false: the CLI falls back to exec.
   */
  forwarding?: boolean;
}

export interface TestHosts {
  readonly hosts: TestHost[];
  /** Shared temp directory. */
  readonly dir: string;
  /**
   * A HOME whose ~/.ssh holds the client key (id_ed25519), known_hosts and config below:
   * with env HOME=home, `trace --host ctrace-h1` or `--host root@127.0.0.1:PORT` needs no flags.
   */
  readonly home: string;
  /** Private key (ed25519, no passphrase) authorized for root and ctrace-test on every host. */
  readonly clientKey: string;
  /** Every host's key line. */
  readonly knownHostsFile: string;
  /** `Host ctrace-hN` aliases (HostName 127.0.0.1, Port, User root, IdentityFile, UserKnownHostsFile). */
  readonly sshConfigFile: string;
  /**
   * Starts one more host sharing the client key (forwarding: false makes its sshd refuse
   * forwarding, so the CLI reaches the helper by exec).
   */
  add(opts?: TestHostOptions): Promise<TestHost>;
  /** The pair of network namespaces for jump-host tests (made at the first call, removed by stop()). */
  net(): TestNet;
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A TCP port free on 127.0.0.1 right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** Resolves when sshd listens on addr:port inside netns (from outside, a connection cannot tell). */
async function waitForListen(netns: string, addr: string, port: number, timeoutMs: number, alive: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await execa('ip', ['netns', 'exec', netns, 'ss', '-Hltn'], { reject: false });
    if (String(r.stdout).includes(`${addr}:${port} `)) return;
    if (!alive()) throw new Error(`test host sshd on ${addr}:${port} in ${netns} exited at start`);
    if (Date.now() > deadline) throw new Error(`test host sshd on ${addr}:${port} in ${netns} not listening after ${timeoutMs} ms`);
    await sleep(30);
  }
}

/** Resolves when something on 127.0.0.1:port sends an SSH banner. */
async function waitForBanner(port: number, timeoutMs: number, alive: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const sock = connect({ host: '127.0.0.1', port });
      const t = setTimeout(() => (sock.destroy(), resolve(false)), 1000);
      sock.once('data', (d) => {
        clearTimeout(t);
        sock.destroy();
        resolve(d.toString('latin1').startsWith('SSH-'));
      });
      sock.once('error', () => (clearTimeout(t), resolve(false)));
    });
    if (ok) return;
    if (!alive()) throw new Error(`test host sshd on port ${port} exited at start`);
    if (Date.now() > deadline) throw new Error(`test host sshd on port ${port} not answering after ${timeoutMs} ms`);
    await sleep(30);
  }
}

/** Mount namespace inode of a process, or null. */
function mntNs(pid: number | string): string | null {
  try {
    return readlinkSync(`/proc/${pid}/ns/mnt`);
  } catch {
    return null;
  }
}

/** PIDs (other than ours) whose mount namespace is `ns`. */
function pidsInNs(ns: string): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    if (mntNs(e) === ns) out.push(Number(e));
  }
  return out;
}

function killAll(pids: number[], sig: NodeJS.Signals): void {
  for (const p of pids) {
    try {
      process.kill(p, sig);
    } catch {
      // gone
    }
  }
}

// The script run by `unshare --mount --uts --propagation private`: it makes the host's own
// view of the file system, then becomes sshd (exec: the spawned PID is sshd's). Fixed text;
// its only inputs are our own directory and name, as positional parameters.
const BOOT = `set -eu
D=$1; NAME=$2
hostname "$NAME"
for x in etc usr-local var-log; do mkdir -p "$D/$x.up" "$D/$x.work"; done
mount -t overlay overlay -o "lowerdir=/etc,upperdir=$D/etc.up,workdir=$D/etc.work" /etc
mount -t overlay overlay -o "lowerdir=/usr/local,upperdir=$D/usr-local.up,workdir=$D/usr-local.work" /usr/local
mount -t overlay overlay -o "lowerdir=/var/log,upperdir=$D/var-log.up,workdir=$D/var-log.work" /var/log
for x in var-lib-containers run-containers run-libpod run-runc run-ctrace; do mkdir -p "$D/$x"; done
mkdir -p /run/containers /run/libpod /run/runc /run/ctrace
mount --bind "$D/var-lib-containers" /var/lib/containers
mount --bind "$D/run-containers" /run/containers
mount --bind "$D/run-libpod" /run/libpod
mount --bind "$D/run-runc" /run/runc
mount --bind "$D/run-ctrace" /run/ctrace
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
echo "$NAME" > /etc/hostname
printf '127.0.1.1\\t%s\\n' "$NAME" >> /etc/hosts
exec /usr/sbin/sshd -D -e -f "$D/sshd_config"
`;

function sshdConfig(dir: string, port: number, listen: string, forwarding: boolean): string {
  return [
    `Port ${port}`,
    `ListenAddress ${listen}`,
    `HostKey ${dir}/ssh_host_ed25519_key`,
    'PidFile none',
    `AuthorizedKeysFile ${dir}/authorized_keys`,
    // The key files live under /tmp (world-writable), which StrictModes refuses.
    'StrictModes no',
    'PermitRootLogin prohibit-password',
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'UsePAM no',
    'UseDNS no',
    'PrintMotd no',
    'PrintLastLog no',
    'X11Forwarding no',
    // Local forwarding (OpenSSH gates unix-socket forwarding with it too): the CLI reaches
    // the persistent helper's socket that way. Without it, the CLI falls back to exec.
    ...(forwarding ? ['AllowTcpForwarding local', 'AllowStreamLocalForwarding local'] : ['AllowTcpForwarding no', 'AllowStreamLocalForwarding no']),
    'LogLevel ERROR',
    'MaxStartups 100',
    'MaxSessions 100',
    '',
  ].join('\n');
}

function sh(cmd: string, args: readonly string[], opts: { input?: string | Buffer; timeout?: number } = {}): string {
  return execFileSync(cmd, [...args], { encoding: 'utf8', stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'], timeout: opts.timeout ?? 30_000, ...(opts.input !== undefined ? { input: opts.input } : {}) });
}

/** Makes the unprivileged login user on the machine if it is missing (a locked-free, key-only account). */
function ensureTestUser(): void {
  try {
    sh('id', ['-u', TEST_USER]);
    return;
  } catch {
    // missing: create it
  }
  // '*' rather than useradd's '!': sshd without PAM refuses '!'-locked accounts even for keys.
  sh('useradd', ['--create-home', '--shell', '/bin/sh', '--password', '*', TEST_USER]);
}

// --- cleanup -----------------------------------------------------------------------------

interface Live {
  dir: string;
  sshd: ChildProcess | undefined;
  ns: string | null;
}
const live = new Set<Live>();
/** Network namespaces we made (names unique to this process), deleted at exit. */
const liveNets = new Set<string>();
let hooked = false;

function deleteNetnsSync(name: string): void {
  liveNets.delete(name);
  try {
    execFileSync('ip', ['netns', 'delete', name], { stdio: 'ignore' });
  } catch {
    // already gone
  }
}

/** Synchronous: also used from process.on('exit'). */
function destroySync(h: Live): void {
  live.delete(h);
  const pid = h.sshd?.pid;
  if (pid !== undefined && h.ns && mntNs(pid) === h.ns) {
    try {
      execFileSync('nsenter', ['-t', String(pid), '-m', '-u', '--', 'podman', ...PODMAN_GLOBAL, 'rm', '--all', '--force', '--time', '0'], {
        stdio: 'ignore',
        timeout: 30_000,
      });
    } catch {
      // Killing the namespace's processes below is the fallback.
    }
  }
  if (h.ns) {
    for (let i = 0; i < 50; i++) {
      const pids = pidsInNs(h.ns);
      if (pids.length === 0) break;
      killAll(pids, i === 0 ? 'SIGTERM' : 'SIGKILL');
      execFileSync('sleep', ['0.05']);
    }
  }
  // The mounts vanished with the namespace's last process; what remains are plain files.
  try {
    rmSync(h.dir, { recursive: true, force: true, maxRetries: 3 });
  } catch {
    // best effort
  }
}

function destroyAllSync(): void {
  for (const h of [...live]) destroySync(h);
  for (const n of [...liveNets]) deleteNetnsSync(n);
}

function hook(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', destroyAllSync);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      destroyAllSync();
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    });
  }
}

/** Removes host directories (and their namespaces' processes) left by dead test processes. */
export function cleanupStaleHosts(): void {
  for (const e of readdirSync(tmpdir())) {
    if (!e.startsWith(DIR_PREFIX)) continue;
    const top = join(tmpdir(), e);
    let owner = '';
    try {
      owner = readFileSync(join(top, 'owner'), 'utf8');
    } catch {
      continue;
    }
    if (ownerAlive(owner)) continue;
    for (const sub of readdirSync(top)) {
      const pidFile = join(top, sub, 'sshd.pid');
      if (!existsSync(pidFile)) continue;
      const pid = Number(readFileSync(pidFile, 'utf8'));
      const ns = mntNs(pid);
      // Only if that PID is still our sshd (same namespace as recorded), never a reused PID.
      let recorded = '';
      try {
        recorded = readFileSync(join(top, sub, 'mntns'), 'utf8');
      } catch {
        // no record: leave the processes alone
      }
      if (ns && ns === recorded) destroySync({ dir: join(top, sub), sshd: { pid } as ChildProcess, ns });
    }
    // The network namespaces that dead process made (their names are in its directory).
    try {
      for (const name of readFileSync(join(top, 'netns'), 'utf8').split('\n').filter(Boolean)) deleteNetnsSync(name);
    } catch {
      // it made none
    }
    rmSync(top, { recursive: true, force: true });
  }
}

// --- hosts -------------------------------------------------------------------------------

let binsPromise: Promise<DemoBinaries> | undefined;

class Host implements TestHost {
  readonly spec: string;
  readonly label: string;
  readonly userSpec: string;
  private readonly handle: Live;
  private services: string[] = [];

  constructor(
    readonly name: string,
    readonly port: number,
    readonly dir: string,
    readonly knownHostsLine: string,
    readonly fingerprint: string,
    private readonly child: ChildProcess,
    ns: string,
    readonly address: string,
  ) {
    this.spec = `root@${address}:${port}`;
    this.label = this.spec;
    this.userSpec = `${TEST_USER}@${address}:${port}`;
    this.handle = { dir, sshd: child, ns };
    live.add(this.handle);
  }

  get sshdPid(): number {
    return this.child.pid ?? 0;
  }

  async exec(argv: readonly string[], opts: { input?: string | Buffer; timeoutMs?: number } = {}): Promise<ExecResult> {
    if (argv.length === 0) throw new Error('exec: empty argv');
    const r = await execa('nsenter', ['-t', String(this.sshdPid), '-m', '-u', '--', ...argv], {
      reject: false,
      timeout: opts.timeoutMs ?? 60_000,
      ...(opts.input !== undefined ? { input: opts.input } : { stdin: 'ignore' }),
      stripFinalNewline: false,
    });
    return { code: r.exitCode ?? -1, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') };
  }

  podman(args: readonly string[], opts: { timeoutMs?: number } = {}): Promise<ExecResult> {
    return this.exec(['podman', ...PODMAN_GLOBAL, ...args], opts);
  }

  private async podmanOk(args: readonly string[]): Promise<string> {
    const r = await this.podman(args);
    if (r.code !== 0) throw new Error(`${this.name}: podman ${args[0]} failed: ${r.stderr.trim() || `exit ${r.code}`}`);
    return r.stdout;
  }

  async startService(service: DemoService, opts: { name?: string; args?: string[] } = {}): Promise<HostService> {
    binsPromise ??= buildDemo();
    const bins = await binsPromise;
    const rootfs = await demoRootfs(bins, service);
    const name = opts.name ?? `${this.name}-${service}-${randomBytes(3).toString('hex')}`;
    // The same flags as src/demo/podman.ts: runc, explicit ulimits, host network, k8s-file logs.
    await this.podmanOk([
      'run', '--detach', '--name', name, ...PODMAN_RUN_FLAGS, '--network', 'host', '--log-driver', 'k8s-file',
      '--label', 'ctrace.test=1', '--label', `ctrace.test.host=${this.name}`,
      '--rootfs', rootfs, `/app/${service}`, '-name', name, '-port', '0', ...(opts.args ?? []),
    ]);
    this.services.push(name);
    const deadline = Date.now() + 20_000;
    for (;;) {
      const logs = await this.podman(['logs', name]);
      const ev = parseServiceLog(logs.stdout + '\n' + logs.stderr).find((e) => e.event === 'listening' && typeof e.addr === 'string');
      if (ev && typeof ev.addr === 'string') {
        const port = Number(ev.addr.slice(ev.addr.lastIndexOf(':') + 1));
        const url = `http://127.0.0.1:${port}`;
        await waitForHttp(`${url}/healthz`, 20_000);
        const hostPid = Number((await this.podmanOk(['inspect', '--type', 'container', '--format', '{{.State.Pid}}', name])).trim());
        return { name, service, hostPid, port, url };
      }
      if (Date.now() > deadline) throw new Error(`${this.name}: ${name} did not start:\n${logs.stdout}${logs.stderr}`);
      await sleep(40);
    }
  }

  async load(svc: HostService, requests: number, opts: { concurrency?: number; path?: string } = {}): Promise<LoadSummary> {
    binsPromise ??= buildDemo();
    const bins = await binsPromise;
    const path = opts.path ?? (svc.service === 'emoji' ? '/emoji?n={n}' : '/vote?n={n}');
    return runLoadgen(bins.paths.loadgen, svc.url + path, { requests, concurrency: opts.concurrency ?? 2 });
  }

  async stop(): Promise<void> {
    if (!live.has(this.handle)) return;
    if (this.services.length > 0) await this.podman(['rm', '--force', '--time', '0', ...this.services], { timeoutMs: 30_000 }).catch(() => {});
    destroySync(this.handle);
  }
}

/** One host: its key, config and namespace, sshd ready on its port. */
async function startHost(top: string, name: string, authorizedKeys: string, opts: TestHostOptions = {}): Promise<Host> {
  const { port, netns } = opts;
  const listen = opts.listen ?? '127.0.0.1';
  const dir = join(top, name);
  mkdirSync(dir, { recursive: true });
  sh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', join(dir, 'ssh_host_ed25519_key')]);
  const pub = readFileSync(join(dir, 'ssh_host_ed25519_key.pub'), 'utf8').trim().split(/\s+/);
  const fingerprint = sh('ssh-keygen', ['-l', '-E', 'sha256', '-f', join(dir, 'ssh_host_ed25519_key.pub')]).split(/\s+/)[1] ?? '';
  writeFileSync(join(dir, 'authorized_keys'), authorizedKeys);
  chmodSync(join(dir, 'authorized_keys'), 0o644);
  const p = port ?? (await freePort());
  writeFileSync(join(dir, 'sshd_config'), sshdConfig(dir, p, listen, opts.forwarding ?? true));
  writeFileSync(join(dir, 'boot.sh'), BOOT);
  // sshd's privilege-separation directory (Debian's packaging makes it at boot, via systemd).
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });

  const boot = ['unshare', '--mount', '--uts', '--propagation', 'private', '/bin/sh', join(dir, 'boot.sh'), dir, name];
  // nsenter switches only the network namespace (ip netns exec would remount /sys, hiding
  // the cgroup mounts podman needs) and execs: the spawned PID is still sshd's.
  const argv = netns ? ['nsenter', `--net=/run/netns/${netns}`, '--', ...boot] : boot;
  const child = spawn(argv[0]!, argv.slice(1), {
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: false,
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    if (stderr.length < 20_000) stderr += d.toString();
  });
  let exited = false;
  child.once('exit', () => (exited = true));
  const pid = child.pid;
  if (pid === undefined) throw new Error(`${name}: could not start unshare`);
  writeFileSync(join(dir, 'sshd.pid'), String(pid));
  try {
    if (netns) await waitForListen(netns, listen, p, 15_000, () => !exited);
    else await waitForBanner(p, 15_000, () => !exited);
  } catch (e) {
    child.kill('SIGKILL');
    throw new Error(`${(e as Error).message}\n${stderr}`);
  }
  const ns = mntNs(pid);
  if (!ns || ns === mntNs(process.pid)) {
    child.kill('SIGKILL');
    throw new Error(`${name}: sshd is not in its own mount namespace`);
  }
  writeFileSync(join(dir, 'mntns'), ns);
  const line = `[${listen}]:${p} ${pub[0]} ${pub[1]}`;
  return new Host(name, p, dir, line, fingerprint, child, ns, listen);
}

/** Starts n hosts (ctrace-h1..n) in parallel; they are stopped at process exit at the latest. */
export async function startTestHosts(n: number): Promise<TestHosts> {
  if (process.getuid?.() !== 0) throw new Error('test hosts need root');
  cleanupStaleHosts();
  ensureTestUser();
  hook();
  const top = join(tmpdir(), `${DIR_PREFIX}${process.pid}-${randomBytes(3).toString('hex')}`);
  mkdirSync(top, { recursive: true, mode: 0o755 });
  writeFileSync(join(top, 'owner'), ownerId());
  const home = join(top, 'home');
  mkdirSync(join(home, '.ssh'), { recursive: true, mode: 0o700 });
  const clientKey = join(home, '.ssh', 'id_ed25519');
  sh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'ctrace-test-client', '-f', clientKey]);
  const authorizedKeys = readFileSync(`${clientKey}.pub`, 'utf8');
  const knownHostsFile = join(home, '.ssh', 'known_hosts');
  const sshConfigFile = join(home, '.ssh', 'config');
  writeFileSync(knownHostsFile, '');
  writeFileSync(sshConfigFile, '');

  const hosts: TestHost[] = [];
  let counter = 0;
  const record = (h: Host) => {
    hosts.push(h);
    writeFileSync(knownHostsFile, hosts.map((x) => x.knownHostsLine).join('\n') + '\n');
    writeFileSync(
      sshConfigFile,
      hosts
        .map((x) => `Host ${x.name}\n  HostName ${x.address}\n  Port ${x.port}\n  User root\n  IdentityFile ${clientKey}\n  UserKnownHostsFile ${knownHostsFile}\n`)
        .join('\n'),
    );
  };
  const add = async (opts: TestHostOptions = {}): Promise<TestHost> => {
    const name = opts.name ?? `ctrace-h${++counter}`;
    const h = await startHost(top, name, authorizedKeys, opts);
    record(h);
    return h;
  };
  let testNet: TestNet | undefined;
  const net = (): TestNet => {
    if (testNet) return testNet;
    const base = `ctrace-${process.pid}-${randomBytes(3).toString('hex')}`;
    const inner = `${base}-in`;
    const outer = `${base}-out`;
    writeFileSync(join(top, 'netns'), `${inner}\n${outer}\n`);
    for (const n of [inner, outer]) {
      sh('ip', ['netns', 'add', n]);
      liveNets.add(n);
      sh('ip', ['-n', n, 'link', 'set', 'lo', 'up']);
    }
    // Made inside `inner` with its peer moved to `outer`: no interface ever exists in the machine's namespace.
    sh('ip', ['-n', inner, 'link', 'add', 'vin', 'type', 'veth', 'peer', 'name', 'vout', 'netns', outer]);
    sh('ip', ['-n', inner, 'addr', 'add', '169.254.77.1/30', 'dev', 'vin']);
    sh('ip', ['-n', outer, 'addr', 'add', '169.254.77.2/30', 'dev', 'vout']);
    sh('ip', ['-n', inner, 'link', 'set', 'vin', 'up']);
    sh('ip', ['-n', outer, 'link', 'set', 'vout', 'up']);
    testNet = { inner, outer, innerAddr: '169.254.77.1', inOuter: ['ip', 'netns', 'exec', outer] };
    return testNet;
  };
  const stop = async () => {
    await Promise.all(hosts.map((h) => h.stop()));
    if (testNet) for (const n of [testNet.inner, testNet.outer]) deleteNetnsSync(n);
    rmSync(top, { recursive: true, force: true });
  };
  try {
    const names = Array.from({ length: n }, () => `ctrace-h${++counter}`);
    const settled = await Promise.allSettled(names.map((name) => startHost(top, name, authorizedKeys)));
    for (const s of settled) if (s.status === 'fulfilled') record(s.value);
    const bad = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (bad) throw bad.reason;
    // Keep h1, h2, ... in order whatever finished first.
    hosts.sort((a, b) => a.name.localeCompare(b.name, 'en', { numeric: true }));
  } catch (e) {
    await stop();
    throw e;
  }
  return { hosts, dir: top, home, clientKey, knownHostsFile, sshConfigFile, add, net, stop };
}

/** startTestHosts(n) in the calling test file, stopped in its afterAll. */
export function useTestHosts(n: number): { ready: Promise<TestHosts> } {
  const ready = startTestHosts(n);
  // An unhandled rejection here would be reported twice: the test awaiting `ready` reports it.
  ready.catch(() => {});
  afterAll(async () => {
    const t = await ready.catch(() => null);
    await t?.stop();
  });
  return { ready };
}

// A private containerd for end-to-end tests: Debian's containerd binary with its own
// root, state and socket in a temp directory, so it touches no other containerd and
// nothing outside that directory (shims, mounts, cgroups /<namespace>/<id> aside, all
// removed with the containers). No registry: the demo service's rootfs becomes an OCI
// image archive written here and `ctr images import`ed. Its CRI plugin serves pods on the
// same socket (runCriPod, through ./cri.ts).
//
//   const cd = await startContainerd();            // stop() in afterAll
//   await cd.importDemoImage(bins, 'emoji', 'ctrace.test/emoji:1');
//   const c = await cd.run({ namespace: 'default', id, image, service: 'emoji', name, labels });
//   ... c.hostPid, c.url, cd.env (CONTAINERD_ADDRESS) ...
//
// A run killed before stop() leaves a directory whose owner file names a dead process:
// cleanupStaleContainerd() (called by startContainerd) removes it and what runs from it.

import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, openSync, readFileSync, readdirSync, rmdirSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { execa } from 'execa';
import type { DemoBinaries, DemoService } from '../../src/demo/build.js';
import { demoRootfs } from '../../src/demo/rootfs.js';
import { parseServiceLog, waitForHttp } from '../../src/demo/stack.js';
import { removePod, runPod, startContainer, type PodSpec } from './cri.js';
import { ownerAlive, ownerId, startTime } from './owner.js';

const PREFIX = 'ctrace-containerd-';
/** The CRI plugin's sandbox ("pause") image: the demo image with an entrypoint (importDemoImage). */
export const PAUSE_IMAGE = 'ctrace.test/pause:1';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));


export interface CtrContainer {
  readonly namespace: string;
  readonly id: string;
  /** The name ctrace should know it by (its name label, or its id). */
  readonly name: string;
  readonly hostPid: number;
  readonly url: string;
  readonly log: string;
}

export interface RunOptions {
  namespace: string;
  id: string;
  image: string;
  service: DemoService;
  labels?: Record<string, string>;
  args?: string[];
}

/** PIDs of processes whose command line contains `marker`. */
function processesWith(marker: string): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0').join(' ').includes(marker)) out.push(Number(d));
    } catch {
      // gone
    }
  }
  return out;
}

/** Mount points at or under dir, deepest first. */
function mountsUnder(dir: string): string[] {
  const lines = readFileSync('/proc/self/mountinfo', 'utf8').split('\n');
  const points = lines.map((l) => l.split(' ')[4] ?? '').filter((p) => p === dir || p.startsWith(dir + '/'));
  return points.sort((a, b) => b.length - a.length);
}

function removeCgroup(path: string): void {
  let subs: string[];
  try {
    subs = readdirSync(path, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch {
    return; // not there
  }
  for (const s of subs) removeCgroup(join(path, s));
  try {
    rmdirSync(path);
  } catch {
    // still has a process: the shims were killed above, so this is someone else's business
  }
}

/** containerd 1.6's shim socket: /run/containerd/s/sha256(address/namespace/id) (runtime/v2/shim/util_unix.go). */
export function shimSocket(address: string, namespace: string, id: string): string {
  return join('/run/containerd/s', createHash('sha256').update(join(address, namespace, id)).digest('hex'));
}

/** Kills the shims and containerd serving from dir (by its socket path in their argv), unmounts, removes dir. */
async function teardown(dir: string, daemon?: ChildProcess): Promise<void> {
  const sock = join(dir, 'containerd.sock');
  for (const pid of processesWith(`-address ${sock}`)) {
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      const arg = (flag: string) => argv[argv.indexOf(flag) + 1] ?? '';
      process.kill(pid, 'SIGKILL');
      // A killed shim leaves its socket where containerd 1.6 always puts them.
      await rm(shimSocket(sock, arg('-namespace'), arg('-id')), { force: true });
    } catch {
      // gone
    }
  }
  if (daemon && daemon.exitCode === null && daemon.signalCode === null) {
    const exited = new Promise((r) => daemon.once('exit', r));
    daemon.kill('SIGTERM');
    await Promise.race([exited, sleep(5_000)]);
  } else {
    // A dead test's daemon, now init's child: init reaps it.
    const pids = processesWith(join(dir, 'config.toml')).map((p) => ({ p, start: startTime(p) }));
    for (const { p } of pids) {
      try {
        process.kill(p, 'SIGTERM');
      } catch {
        // gone
      }
    }
    for (let i = 0; i < 50 && pids.some(({ p, start }) => startTime(p) === start); i++) await sleep(100);
  }
  for (const m of mountsUnder(dir)) await execa('umount', ['-l', m], { reject: false });
  // The cgroups named after dir (see run) in every hierarchy: children first, rmdir only.
  for (const ctl of readdirSync('/sys/fs/cgroup')) removeCgroup(join('/sys/fs/cgroup', ctl, basename(dir)));
  await rm(dir, { recursive: true, force: true });
}

/** Removes the private containerds of test processes that died without stopping theirs. */
export async function cleanupStaleContainerd(): Promise<void> {
  for (const d of readdirSync(tmpdir())) {
    if (!d.startsWith(PREFIX)) continue;
    const dir = join(tmpdir(), d);
    let owner = '';
    try {
      owner = readFileSync(join(dir, 'owner'), 'utf8').trim();
    } catch {
      continue; // still being made, or not ours
    }
    if (ownerAlive(owner)) continue;
    await teardown(dir);
  }
}

export class PrivateContainerd {
  private readonly containers: CtrContainer[] = [];
  private readonly pods: string[] = [];

  constructor(
    readonly dir: string,
    private readonly daemon: ChildProcess,
  ) {}

  get address(): string {
    return join(this.dir, 'containerd.sock');
  }

  /** What `trace` (and ctr) need to reach this containerd. */
  get env(): Record<string, string> {
    return { CONTAINERD_ADDRESS: this.address };
  }

  ctr(namespace: string, args: string[]) {
    return execa('ctr', ['--address', this.address, '--namespace', namespace, ...args], { reject: false, stdin: 'ignore' });
  }

  private async ctrOk(namespace: string, args: string[]): Promise<string> {
    const r = await this.ctr(namespace, args);
    if (r.exitCode !== 0) throw new Error(`ctr ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  }

  /**
   * Writes the service's rootfs as a one-layer OCI image archive and imports it as `ref`
   * into `namespace`. Containers of it share the binary's inode (overlayfs lower layer).
   */
  async importDemoImage(bins: DemoBinaries, service: DemoService, ref: string, namespace: string, entrypoint?: string[]): Promise<void> {
    const rootfs = await demoRootfs(bins, service);
    const oci = join(this.dir, `oci-${service}-${namespace}-${createHash('sha256').update(ref).digest('hex').slice(0, 8)}`);
    const blobs = join(oci, 'blobs', 'sha256');
    await mkdir(blobs, { recursive: true });
    const layerTar = `${oci}-layer.tar`;
    await execa('tar', ['-C', rootfs, '--exclude=./.ctrace-rootfs', '-cf', layerTar, '.']);
    const blob = async (bytes: Buffer | string, path?: string) => {
      const buf = typeof bytes === 'string' ? Buffer.from(bytes) : bytes;
      const digest = createHash('sha256').update(buf).digest('hex');
      if (path) await copyFile(path, join(blobs, digest));
      else await writeFile(join(blobs, digest), buf);
      return { digest: `sha256:${digest}`, size: buf.length };
    };
    const layer = await blob(await readFile(layerTar), layerTar);
    const config = await blob(JSON.stringify({ architecture: 'amd64', os: 'linux', config: entrypoint ? { Entrypoint: entrypoint } : {}, rootfs: { type: 'layers', diff_ids: [layer.digest] } }));
    const manifest = await blob(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...layer }],
      }),
    );
    await writeFile(
      join(oci, 'index.json'),
      JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, annotations: { 'org.opencontainers.image.ref.name': ref } }] }),
    );
    await writeFile(join(oci, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    const archive = `${oci}.tar`;
    await execa('tar', ['-C', oci, '-cf', archive, 'oci-layout', 'index.json', 'blobs']);
    await this.ctrOk(namespace, ['images', 'import', archive]);
  }

  /** Runs a demo service (host network, runc) and waits until it answers /healthz. */
  async run(o: RunOptions): Promise<CtrContainer> {
    const log = join(this.dir, `${o.namespace}-${o.id}.log`);
    const labels = Object.entries(o.labels ?? {}).flatMap(([k, v]) => ['--label', `${k}=${v}`]);
    const name = o.labels?.['io.kubernetes.container.name'] ?? o.labels?.['nerdctl/name'] ?? o.id;
    // runc's state and the cgroup under this instance's own names, not containerd's defaults.
    const own = ['--runc-root', join(this.dir, 'runc'), '--cgroup', `/${basename(this.dir)}/${o.namespace}-${o.id}`];
    await this.ctrOk(o.namespace, ['run', '--detach', '--net-host', ...own, ...labels, '--log-uri', `file://${log}`, o.image, o.id, `/app/${o.service}`, '-name', name, '-port', '0', ...(o.args ?? [])]);
    const url = await this.listening(log, o.id);
    const c: CtrContainer = { namespace: o.namespace, id: o.id, name, hostPid: await this.taskPid(o.namespace, o.id), url, log };
    this.containers.push(c);
    return c;
  }

  /**
   * A pod through the CRI socket, as kubelet starts one (kubelet's labels unless
   * `kubeletLabels` is false, as for a pod made with crictl), with one demo container.
   */
  async runCriPod(o: { pod: string; container: string; image: string; service: DemoService; kubeletLabels?: boolean }): Promise<CtrContainer> {
    const uid = createHash('sha256').update(o.pod).digest('hex').slice(0, 16);
    const spec: PodSpec = { name: o.pod, namespace: 'ctrace-test', uid, logDirectory: join(this.dir, 'pods', uid), cgroupParent: `/${basename(this.dir)}/pod-${uid}` };
    const kube = o.kubeletLabels === false ? {} : { 'io.kubernetes.pod.name': o.pod, 'io.kubernetes.pod.namespace': spec.namespace, 'io.kubernetes.pod.uid': uid };
    const pod = await runPod(this.address, { ...spec, labels: kube });
    this.pods.push(pod.id);
    const id = await startContainer(this.address, pod, {
      name: o.container,
      image: o.image,
      command: [`/app/${o.service}`],
      args: ['-name', o.container, '-port', '0'],
      labels: o.kubeletLabels === false ? {} : { ...kube, 'io.kubernetes.container.name': o.container },
      logPath: `${o.container}.log`,
    });
    const log = join(spec.logDirectory, `${o.container}.log`);
    const url = await this.listening(log, id);
    return { namespace: 'k8s.io', id, name: o.container, hostPid: await this.taskPid('k8s.io', id), url, log };
  }

  /** Waits for the service's "listening" line in its log (plain, or CRI's `TIME stdout F LINE`) and /healthz. */
  private async listening(log: string, what: string): Promise<string> {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const text = existsSync(log) ? await readFile(log, 'utf8') : '';
      const plain = text.replace(/^\S+ (stdout|stderr) [FP] /gm, '');
      const ev = parseServiceLog(plain).find((e) => e.event === 'listening' && typeof e.addr === 'string');
      if (ev) {
        const url = `http://127.0.0.1:${String(ev.addr).split(':').pop()}`;
        await waitForHttp(`${url}/healthz`);
        return url;
      }
      if (Date.now() > deadline) throw new Error(`${what} did not log its port:\n${text}`);
      await sleep(40);
    }
  }

  /** The task's PID as ctr prints it (0 when it has none). */
  async taskPid(namespace: string, id: string): Promise<number> {
    const rows = (await this.ctrOk(namespace, ['tasks', 'list'])).split('\n').slice(1).map((l) => l.trim().split(/\s+/));
    const row = rows.find((r) => r[0] === id);
    return row ? Number(row[1]) : 0;
  }

  /** Kills the task and deletes it, keeping the container: "stopped". */
  async stopTask(c: CtrContainer): Promise<void> {
    await this.ctr(c.namespace, ['tasks', 'kill', '--signal', 'SIGKILL', c.id]);
    for (let i = 0; i < 50 && (await this.ctr(c.namespace, ['tasks', 'delete', c.id])).exitCode !== 0; i++) await sleep(100);
  }

  /** Removes every pod, container and task, then the daemon and its directory. */
  stop = async (): Promise<void> => {
    for (const id of this.pods.splice(0)) await removePod(this.address, id).catch(() => {});
    for (const c of this.containers.splice(0)) {
      await this.stopTask(c);
      await this.ctr(c.namespace, ['containers', 'delete', c.id]);
    }
    await teardown(this.dir, this.daemon);
  };
}

/** Starts a private containerd (with its CRI plugin) and waits for its socket. */
export async function startContainerd(): Promise<PrivateContainerd> {
  await cleanupStaleContainerd();
  const dir = await mkdtemp(join(tmpdir(), PREFIX));
  const config = [
    'version = 2',
    `root = "${dir}/root"`,
    `state = "${dir}/state"`,
    '[grpc]',
    `  address = "${dir}/containerd.sock"`,
    '[ttrpc]',
    `  address = "${dir}/containerd.sock.ttrpc"`,
    '[debug]',
    '  address = ""',
    '[metrics]',
    '  address = ""',
    // The CRI plugin serves Kubernetes' API on the same socket. Pods here use the host
    // network (no CNI). Lowering oom_score_adj needs a privilege this machine lacks.
    '[plugins."io.containerd.grpc.v1.cri"]',
    `  sandbox_image = "${PAUSE_IMAGE}"`,
    '  restrict_oom_score_adj = true',
    '  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]',
    '    runtime_type = "io.containerd.runc.v2"',
    '  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]',
    `    Root = "${dir}/runc"`,
    '  [plugins."io.containerd.grpc.v1.cri".cni]',
    `    bin_dir = "${dir}/cni/bin"`,
    `    conf_dir = "${dir}/cni/conf"`,
    '',
  ].join('\n');
  await writeFile(join(dir, 'config.toml'), config);
  await writeFile(join(dir, 'owner'), `${ownerId()}\n`);
  const logFd = openSync(join(dir, 'containerd.log'), 'a');
  const daemon = spawn('containerd', ['--config', join(dir, 'config.toml')], { stdio: ['ignore', logFd, logFd] });
  const cd = new PrivateContainerd(dir, daemon);
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (existsSync(cd.address) && (await cd.ctr('default', ['version'])).exitCode === 0) return cd;
    if (daemon.exitCode !== null || Date.now() > deadline) {
      const log = await readFile(join(dir, 'containerd.log'), 'utf8').catch(() => '');
      await teardown(dir, daemon);
      throw new Error(`containerd did not start:\n${log.slice(-2000)}`);
    }
    await sleep(100);
  }
}

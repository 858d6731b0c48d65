// Support for test/e2e/safety.e2e.test.ts: containers from hand-made root file systems
// (hostile symlinks, unusual names), runtime "spies" that record every argv a runtime CLI
// is given, a downstream stub for the frontend, and a one-request client for the helper.

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync, copyFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { DemoBinaries } from '../../src/demo/build.js';
import { makeRootfs } from '../../src/demo/rootfs.js';
import { containerLogs, containerPid, removeContainer, startContainer } from '../../src/demo/podman.js';
import { parseServiceLog, waitForHttp } from '../../src/demo/stack.js';
import { OWNER_LABEL, TEST_LABEL } from './containers.js';
import { ROOT } from './trace.js';

// --- containers ---------------------------------------------------------------------------

/** pid-starttime of this process, as test/support/containers.ts labels its containers (for cleanupStale). */
function ownerId(pid = process.pid): string {
  let start = '0';
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? '0';
  } catch {
    // keep '0'
  }
  return `${pid}-${start}`;
}

/** Labels that let cleanupStale() remove the container if this test process dies. */
export function ownerLabels(): Record<string, string> {
  return { [TEST_LABEL]: '1', [OWNER_LABEL]: ownerId() };
}

export interface RootfsContainer {
  readonly name: string;
  readonly id: string;
  readonly hostPid: number;
  readonly port: number;
  readonly url: string;
  readonly rootfs: string;
}

/**
 * Starts a frontend-like demo service (`cmd` must end in its `-name NAME -port 0 ...`
 * flags) from `rootfs` and waits until it answers GET /healthz.
 */
export async function startRootfsContainer(o: { name: string; rootfs: string; cmd: string[]; labels?: Record<string, string>; timeoutMs?: number }): Promise<RootfsContainer> {
  const started = await startContainer({ name: o.name, rootfs: o.rootfs, cmd: o.cmd, labels: { ...ownerLabels(), ...(o.labels ?? {}) } });
  const deadline = Date.now() + (o.timeoutMs ?? 20_000);
  try {
    let port = 0;
    while (port === 0) {
      const logs = await containerLogs(o.name);
      for (const ev of parseServiceLog(logs)) {
        if (ev.event === 'listening' && typeof ev.addr === 'string') port = Number(ev.addr.slice(ev.addr.lastIndexOf(':') + 1));
        if (ev.event === 'error') throw new Error(`${o.name} failed to start: ${ev.error ?? logs}`);
      }
      if (port) break;
      if ((await containerPid(o.name)) <= 0) throw new Error(`${o.name} exited at start:\n${logs}`);
      if (Date.now() > deadline) throw new Error(`${o.name} did not log its port:\n${logs}`);
      await new Promise((r) => setTimeout(r, 40));
    }
    const url = `http://127.0.0.1:${port}`;
    await waitForHttp(`${url}/healthz`, Math.max(1000, deadline - Date.now()));
    return { ...started, port, url, rootfs: o.rootfs };
  } catch (e) {
    await removeContainer(o.name).catch(() => {});
    throw e;
  }
}

/** The container-side paths of the hostile links in symlinkRootfs(). */
export const LINKS = {
  /** Absolute symlink to /usr/bin/bash (the container's, which is the Go service). */
  abs: '/svc',
  /** Relative symlink climbing far above the root: ../../../../usr/bin/bash. */
  up: '/svc2',
  /** Absolute symlink to a file missing in the container (and on the host). */
  missing: '/gone',
  /** Absolute symlink to /bin/sh: present on the host, absent in the container. */
  hostOnly: '/hostonly',
  /** A symlink to itself. */
  loop: '/loop',
  /** A directory symlink: /opt -> /usr, so /opt/bin/bash is the container's bash. */
  dir: '/opt',
  /** Through the container's procfs: /proc/1/root/usr/bin/bash. */
  magic: '/magic',
} as const;

/**
 * A frontend rootfs in `dir` whose /usr/bin/bash is a copy of the Go frontend (a file unlike
 * the host's bash: it has main.handle) plus the links in LINKS. The container is meant to
 * run `/svc`, so the process executes that very file.
 */
export async function symlinkRootfs(bins: DemoBinaries, dir: string): Promise<string> {
  const root = await makeRootfs('frontend', bins.paths.frontend, { dir });
  mkdirSync(join(root, 'usr', 'bin'), { recursive: true });
  copyFileSync(bins.paths.frontend, join(root, 'usr', 'bin', 'bash'));
  chmodSync(join(root, 'usr', 'bin', 'bash'), 0o755);
  symlinkSync('/usr/bin/bash', join(root, 'svc'));
  symlinkSync('../../../../usr/bin/bash', join(root, 'svc2'));
  symlinkSync('/usr/bin/nothing-here', join(root, 'gone'));
  symlinkSync('/bin/sh', join(root, 'hostonly'));
  symlinkSync('/loop', join(root, 'loop'));
  symlinkSync('/usr', join(root, 'opt'));
  symlinkSync('/proc/1/root/usr/bin/bash', join(root, 'magic'));
  return root;
}

/** A container name of letters, digits, dots, dashes and an underscore: valid, but unusual. */
export function oddName(): string {
  return `ctrace-test-safety.odd--name_v1.2-${randomBytes(3).toString('hex')}`;
}

// --- downstream stub ----------------------------------------------------------------------

/** An HTTP server on 127.0.0.1 answering 200 to everything: the frontend's voting and emoji. */
export async function stubDownstream(): Promise<{ url: string; close: () => Promise<void> }> {
  const server: Server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{}\n');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

// --- spies --------------------------------------------------------------------------------

export interface Spy {
  /** Environment that makes trace and the helper run the spies instead of the real CLIs. */
  readonly env: Record<string, string>;
  /** Every call so far: [program, ...argv], argv exactly as received. */
  calls(): string[][];
}

/**
 * Wrappers for podman, docker and bpftrace that write their argv (NUL-separated, one file
 * per call, so no argument can forge a record) and exec the real program.
 */
export function runtimeSpies(dir: string, real: { podman: string; docker: string; bpftrace?: string }): Spy {
  const log = join(dir, 'calls');
  mkdirSync(log, { recursive: true });
  const wrap = (name: string, target: string) => {
    const d = join(dir, `spy-${name}`);
    mkdirSync(d, { recursive: true });
    const p = join(d, name);
    writeFileSync(p, `#!/bin/sh\nf=$(mktemp '${log}/${name}.XXXXXXXX')\nprintf '%s\\0' '${name}' "$@" > "$f"\nexec '${target}' "$@"\n`);
    chmodSync(p, 0o755);
    return p;
  };
  const env: Record<string, string> = { CTRACE_PODMAN: wrap('podman', real.podman), CTRACE_DOCKER: wrap('docker', real.docker) };
  if (real.bpftrace) env.TRACE_BPFTRACE = wrap('bpftrace', real.bpftrace);
  return {
    env,
    calls: () =>
      existsSync(log)
        ? readdirSync(log)
            .sort()
            .map((f) => readFileSync(join(log, f), 'utf8').split('\0').slice(0, -1))
        : [],
  };
}

// --- the helper ---------------------------------------------------------------------------

export const HELPER = join(ROOT, 'dist', 'helper', 'main.js');

export interface HelperRun {
  readonly code: number | null;
  readonly messages: Record<string, unknown>[];
  /** stdout lines that are not JSON (there should be none). */
  readonly junk: string[];
  readonly stderr: string;
}

/**
 * Runs `node dist/helper/main.js` with one request line (a string is sent as is). stdin stays
 * open until the helper exits, as the CLI keeps it (closing it means "kill the run now").
 */
export function runHelper(request: unknown, env: NodeJS.ProcessEnv, timeoutMs = 30_000): Promise<HelperRun> {
  const child = spawn(process.execPath, [HELPER], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdin.on('error', () => {}); // the helper may exit before reading everything
  child.stdin.write((typeof request === 'string' ? request : JSON.stringify(request)) + '\n');
  const killer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  return new Promise((resolve) => {
    child.on('exit', () => child.stdin.destroy());
    child.on('close', (code) => {
      clearTimeout(killer);
      const messages: Record<string, unknown>[] = [];
      const junk: string[] = [];
      for (const line of stdout.split('\n').filter(Boolean)) {
        try {
          messages.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          junk.push(line);
        }
      }
      resolve({ code, messages, junk, stderr });
    });
  });
}

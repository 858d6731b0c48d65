// End to end: `trace -c NAME` against real podman containers running the demo's Go
// services (issue 3's acceptance). Every count is compared exactly with what the load
// generator sent; every run is the built CLI, real bpftrace, real containers.

import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PODMAN_GLOBAL, PODMAN_RUN_FLAGS } from '../../src/demo/podman.js';
import { cleanupStale, useTestContainers, type TestContainer } from '../support/containers.js';
import { background, bpftraceProcesses, parseTables, runTrace, startTrace, traceWhile as traceWhileIn, waitForAttach, type TraceRun } from '../support/trace.js';

const pool = useTestContainers();
const RUN = randomBytes(4).toString('hex');
const tmp = mkdtempSync(join(tmpdir(), 'ctrace-containers-e2e-'));
/** docker installed but not answering (no engine here): messages name only podman. */
const NO_DOCKER = { DOCKER_HOST: `unix://${tmp}/no-docker.sock` };
/** The card's program, verbatim. */
const CARD = 'uprobe:main.handle < @[arg0] = count() >';

let voting: TestContainer;
let emoji: TestContainer;
/** Three frontends wired to voting and emoji: one binary, three mount namespaces. */
let a: TestContainer;
let b: TestContainer;
let doomed: TestContainer;
/** An emoji container, stopped in beforeAll. */
let stopped: TestContainer;
/** Requests sent to `doomed` so far (it logs how many it served when it stops). */
let doomedSent = 0;

const stoppers: (() => void)[] = [];
afterEach(() => {
  while (stoppers.length) stoppers.pop()!();
});

beforeAll(async () => {
  await cleanupStale();
  const [[vo], [em], [st]] = await Promise.all([pool.start('voting', 1, { args: ['-fail-rate', '0'] }), pool.start('emoji', 1), pool.start('emoji', 1)]);
  voting = vo!;
  emoji = em!;
  stopped = st!;
  const [fronts] = await Promise.all([
    pool.start('frontend', 3, { args: ['-voting', voting.url, '-emoji', emoji.url] }),
    execa('podman', [...PODMAN_GLOBAL, 'stop', '--time', '1', stopped.name]),
  ]);
  [a, b, doomed] = fronts as [TestContainer, TestContainer, TestContainer];
});

afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

/** { arg0: count } of a two-column table, for comparison with loadgen's byN. */
function countsByKey(r: TraceRun): Record<string, number> {
  const tables = parseTables(r.stdout);
  expect(tables).toHaveLength(1);
  return Object.fromEntries(tables[0]!.rows.map((row) => [row[0]!, Number(row[1])]));
}

/** Starts `trace args`, waits until its probes are attached, runs `during`, then Ctrl-C. */
function traceWhile(args: string[], during: () => Promise<unknown>, env: NodeJS.ProcessEnv = NO_DOCKER, probes = 1): Promise<TraceRun> {
  return traceWhileIn(args, during, { env, probes });
}

describe('uprobe:main.handle in a container (the card)', () => {
  it("counts the frontend's handle(n) by n exactly as the load generator sent them", async () => {
    let sent: Record<string, number> = {};
    const r = await traceWhile(['-c', a.name, CARD], async () => {
      const s = await pool.load(a, '/vote?n={n}', { requests: 62, ns: [1, 2, 3], concurrency: 4 });
      expect(s.sent).toBe(62);
      sent = s.byN;
    });
    expect(sent).toEqual({ 1: 21, 2: 21, 3: 20 });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(parseTables(r.stdout)[0]!.header).toEqual(['arg0', 'count']);
    expect(countsByKey(r)).toEqual(sent);
  });
});

describe('two containers of one binary', () => {
  it('they really share the binary (same inode), in different mount namespaces', () => {
    const exe = (c: TestContainer) => statSync(`/proc/${c.hostPid}/root/app/frontend`);
    expect(exe(a).ino).toBe(exe(b).ino);
    expect(exe(a).dev).toBe(exe(b).dev);
    const mnt = (c: TestContainer) => statSync(`/proc/${c.hostPid}/ns/mnt`).ino;
    expect(mnt(a)).not.toBe(mnt(b));
  });

  it('tracing one counts only its own requests while the other gets the same ns', async () => {
    let sentA: Record<string, number> = {};
    const r = await traceWhile(['-c', a.name, CARD], async () => {
      const [sa, sb] = await Promise.all([
        pool.load(a, '/vote?n={n}', { requests: 40, ns: [4, 5], concurrency: 4 }),
        pool.load(b, '/vote?n={n}', { requests: 50, ns: [4, 5, 6], concurrency: 4 }),
      ]);
      expect(sb.byN).toEqual({ 4: 17, 5: 17, 6: 16 });
      sentA = sa.byN;
    });
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(sentA).toEqual({ 4: 20, 5: 20 });
    expect(countsByKey(r)).toEqual(sentA);
  });

  it('-c a -c b with @[container, arg0] splits the counts per container exactly', async () => {
    const sent: Record<string, number> = {};
    const r = await traceWhile(['-c', a.name, '-c', b.name, 'uprobe:main.handle { @[container, arg0] = count(); }'], async () => {
      const [sa, sb, sd] = await Promise.all([
        pool.load(a, '/vote?n={n}', { requests: 30, ns: [7, 8], concurrency: 3 }),
        pool.load(b, '/vote?n={n}', { requests: 33, ns: [8, 9, 10], concurrency: 3 }),
        // A third container of the same binary, not traced: never counted.
        pool.load(doomed, '/vote?n={n}', { requests: 20, ns: [7, 8, 9], concurrency: 2 }),
      ]);
      expect(sd.sent).toBe(20);
      doomedSent += sd.sent;
      for (const [c, s] of [[a, sa], [b, sb]] as const) for (const [n, k] of Object.entries(s.byN)) sent[`${c.name} ${n}`] = k;
    });
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const [table] = parseTables(r.stdout);
    expect(table!.header).toEqual(['container', 'arg0', 'count']);
    expect(Object.fromEntries(table!.rows.map(([c, n, k]) => [`${c} ${n}`, Number(k)]))).toEqual(sent);
    expect(sent).toEqual({ [`${a.name} 7`]: 15, [`${a.name} 8`]: 15, [`${b.name} 8`]: 11, [`${b.name} 9`]: 11, [`${b.name} 10`]: 11 });
  });
});

describe('tracepoints are filtered to the container', () => {
  it("openat by execname: the container's processes only, never the busy host beside it", async () => {
    // A host loop that opens files all the time (cat, and sh writing its counter).
    const counter = join(tmp, 'cat-loop');
    // (written by rename, so a read never sees the file between truncation and write)
    stoppers.push(background(`i=0; while :; do cat /etc/hostname >/dev/null; i=$((i+1)); echo $i > '${counter}.tmp'; mv '${counter}.tmp' '${counter}'; done`));
    const EXECS = 3;
    const r = await traceWhile(['-c', a.name, 'tracepoint:syscalls:sys_enter_openat { @[execname] = count(); }'], async () => {
      // The Go services open no files per request: make the container open some. Each
      // `podman exec` runs /app/frontend in the container, whose Go runtime opens one file
      // (/sys/kernel/mm/transparent_hugepage/hpage_pmd_size) before printing its usage.
      for (let i = 0; i < EXECS; i++) {
        const e = await execa('podman', [...PODMAN_GLOBAL, 'exec', a.name, '/app/frontend', '-h'], { reject: false });
        expect(e.stderr).toMatch(/^Usage of \/app\/frontend:/);
      }
      await pool.load(a, '/vote?n={n}', { requests: 20, ns: [1], concurrency: 2 });
    });
    const loops = Number(readFileSync(counter, 'utf8').trim());
    expect(loops).toBeGreaterThan(50); // the host really was busy opening files meanwhile
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const [table] = parseTables(r.stdout);
    expect(table!.header).toEqual(['execname', 'count']);
    const counts = Object.fromEntries(table!.rows.map(([n, k]) => [n!, Number(k)]));
    expect(counts).not.toHaveProperty('cat');
    expect(counts).not.toHaveProperty('sh');
    expect(counts.frontend).toBe(EXECS);
    // Everything else is runc's init, which runs inside the container to start each exec.
    for (const name of Object.keys(counts)) expect(name === 'frontend' || name.startsWith('runc:')).toBe(true);
  });
});

describe('other ways to name the target', () => {
  describe('the docker client, through podman system service', () => {
    let service: ChildProcess | undefined;
    let dockerEnv: NodeJS.ProcessEnv;

    beforeAll(async () => {
      const sock = join(tmp, 'podman.sock');
      service = await startService([], sock);
      dockerEnv = { DOCKER_HOST: `unix://${sock}` };
    });
    afterAll(() => stopService(service));

    it('--runtime docker -c NAME: exact counts, and `container` is the docker name', async () => {
      let sent: Record<string, number> = {};
      const r = await traceWhile(
        ['--runtime', 'docker', '-c', a.name, 'uprobe:main.handle { @[container, arg0] = count(); }'],
        async () => {
          const [sa] = await Promise.all([
            pool.load(a, '/vote?n={n}', { requests: 24, ns: [11, 12, 13], concurrency: 3 }),
            pool.load(b, '/vote?n={n}', { requests: 10, ns: [11], concurrency: 2 }),
          ]);
          sent = sa.byN;
        },
        dockerEnv,
      );
      expect(r.code).toBe(0);
      expect(r.stderr).toBe('');
      const [table] = parseTables(r.stdout);
      expect(table!.header).toEqual(['container', 'arg0', 'count']);
      expect(table!.rows.map((row) => row[0])).toEqual(Object.keys(sent).map(() => a.name));
      expect(Object.fromEntries(table!.rows.map(([, n, k]) => [n!, Number(k)]))).toEqual(sent);
      expect(sent).toEqual({ 11: 8, 12: 8, 13: 8 });
    });
  });

  it("-p PID (the container's host PID): exact counts, the other container not counted", async () => {
    let sent: Record<string, number> = {};
    const r = await traceWhile(['-p', String(b.hostPid), CARD], async () => {
      const [sb] = await Promise.all([
        pool.load(b, '/vote?n={n}', { requests: 27, ns: [14, 15], concurrency: 3 }),
        pool.load(a, '/vote?n={n}', { requests: 20, ns: [14, 15], concurrency: 2 }),
      ]);
      sent = sb.byN;
    });
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(sent).toEqual({ 14: 14, 15: 13 });
    expect(countsByKey(r)).toEqual(sent);
  });
});

describe('targets that cannot be traced: one sentence on stderr, non-zero exit', () => {
  const oneSentence = (r: TraceRun, sentence: string) => {
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`trace: ${sentence}\n`);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  };

  it('an unknown container', async () => {
    const name = `ctrace-test-nope-${RUN}`;
    const r = await runTrace(['-c', name, CARD], { env: NO_DOCKER });
    oneSentence(r, `no container named '${name}' was found (looked in podman; docker is not answering)`);
    expect(r.code).toBe(1);
  });

  it('a stopped container', async () => {
    const r = await runTrace(['-c', stopped.name, CARD], { env: NO_DOCKER });
    oneSentence(r, `container '${stopped.name}' is not running (state: exited)`);
    expect(r.code).toBe(1);
  });

  describe('a name that two runtimes both know', () => {
    // A second, separate podman store (its own root, runroot and tmpdir) holds another
    // container named like `a`, and serves the Docker API: docker and podman then really
    // name two different containers with one name.
    const alt = join(tmp, 'alt');
    const altFlags = ['--root', join(alt, 'root'), '--runroot', join(alt, 'run'), '--tmpdir', join(alt, 'tmp')];
    let service: ChildProcess | undefined;
    let env: NodeJS.ProcessEnv;

    beforeAll(async () => {
      await execa('podman', [...PODMAN_GLOBAL, ...altFlags, 'create', '--name', a.name, ...PODMAN_RUN_FLAGS, '--network', 'host', '--rootfs', a.rootfs, '/app/frontend']);
      const sock = join(tmp, 'alt.sock');
      service = await startService(altFlags, sock);
      env = { DOCKER_HOST: `unix://${sock}` };
    });
    afterAll(async () => {
      await stopService(service);
      await execa('podman', [...PODMAN_GLOBAL, ...altFlags, 'rm', '--force', '--ignore', a.name], { reject: false });
    });

    it('is refused until --runtime chooses one', async () => {
      const r = await runTrace(['-c', a.name, CARD], { env });
      oneSentence(r, `'${a.name}' names containers in both podman and docker: choose one with --runtime`);
      expect(r.code).toBe(1);
      // The advice works: podman's is the running one (checked by compiling against it).
      const p = await runTrace(['--runtime', 'podman', '-c', a.name, '--emit', 'bpftrace', CARD], { env });
      expect(p.stderr).toBe('');
      expect(p.code).toBe(0);
      expect(p.stdout).toContain(`uprobe:/proc/${a.hostPid}/root/app/frontend:main.handle`);
      const d = await runTrace(['--runtime', 'docker', '-c', a.name, CARD], { env });
      oneSentence(d, `container '${a.name}' is not running (state: created)`);
      expect(d.code).toBe(1);
    });
  });
});

describe('shell metacharacters in a name', () => {
  it('are refused before anything runs', async () => {
    const pwned = join(tmp, `pwned-${RUN}`);
    const log = join(tmp, 'calls.log');
    // Every program trace could run, behind a wrapper that logs its arguments.
    const wrap = (name: string, real: string) => {
      const p = join(tmp, `${name}-wrapper`);
      writeFileSync(p, `#!/bin/sh\necho "${name} $*" >> '${log}'\nexec '${real}' "$@"\n`);
      chmodSync(p, 0o755);
      return p;
    };
    const which = async (x: string) => (await execa('sh', ['-c', `command -v ${x}`], { reject: false })).stdout.trim();
    const crictl = await which('crictl'); // not installed here; wrapped where it is
    const env = {
      ...NO_DOCKER,
      CTRACE_PODMAN: wrap('podman', await which('podman')),
      CTRACE_DOCKER: wrap('docker', await which('docker')),
      ...(crictl ? { CTRACE_CRICTL: wrap('crictl', crictl) } : {}),
      TRACE_BPFTRACE: wrap('bpftrace', '/opt/ctrace/bin/bpftrace'),
    };
    const bad = `x;touch ${pwned}`;
    const r = await runTrace(['-c', bad, CARD], { env });
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`trace: ${JSON.stringify(bad)} is not a valid container name (use letters, digits and _ . - only)\n`);
    // A wrong command line: exit 2, as for a bad --pid (README: "2 the program or the command line is wrong").
    // Soft, so the checks below still run and report.
    expect(r.code).toBe(2);
    expect(existsSync(pwned)).toBe(false);
    // No runtime was asked, and bpftrace ran no program (at most `--info`, to learn its version).
    const calls = existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : [];
    expect(calls.filter((c) => !/^bpftrace --info$/.test(c))).toEqual([]);
    // The wrappers do work: a valid name goes through podman's.
    const ok = await runTrace(['-c', a.name, '--emit', 'bpftrace', CARD], { env });
    expect(ok.code).toBe(0);
    expect(readFileSync(log, 'utf8')).toContain(`podman inspect --type container -- ${a.name}`);
  });
});

describe('the container stops mid-trace', () => {
  it('ends the run with the final table, one line on stderr, exit 0, no bpftrace left', async () => {
    const marker = `ctrace_stop_marker_${RUN}`;
    const t = startTrace(['-c', doomed.name, `uprobe:main.handle /execname != "${marker}"/ { @[arg0] = count(); }`], { env: NO_DOCKER });
    await waitForAttach(t);
    expect(bpftraceProcesses(marker)).toHaveLength(1);
    const s = await pool.load(doomed, '/vote?n={n}', { requests: 25, ns: [16, 17], concurrency: 2 });
    doomedSent += s.sent;
    const exit = await pool.stop(doomed); // SIGTERM, wait, remove
    expect(exit.served).toBe(doomedSent);
    const r = await t.done; // no Ctrl-C: the stop alone ends it
    expect(r.signal).toBeNull();
    expect(r.code).toBe(0);
    expect(r.stderr).toBe(`trace: container '${doomed.name}' exited; ending the trace\n`);
    expect(s.byN).toEqual({ 16: 13, 17: 12 });
    expect(countsByKey(r)).toEqual(s.byN);
    expect(bpftraceProcesses(marker)).toEqual([]);
  });

  it('-p PID: the process exiting ends the run the same way', async () => {
    const marker = `ctrace_pid_stop_marker_${RUN}`;
    const sleeper = spawn('sleep', ['60'], { stdio: 'ignore' });
    stoppers.push(() => sleeper.kill('SIGKILL'));
    await new Promise((r) => sleeper.once('spawn', r));
    const t = startTrace(['-p', String(sleeper.pid), `tracepoint:syscalls:sys_enter_openat /execname != "${marker}"/ { @[execname] = count(); }`], { env: NO_DOCKER });
    await waitForAttach(t);
    sleeper.kill('SIGTERM');
    const r = await t.done;
    expect(r.signal).toBeNull();
    expect(r.code).toBe(0);
    expect(r.stderr).toBe(`trace: process ${sleeper.pid} (sleep) exited; ending the trace\n`);
    expect(bpftraceProcesses(marker)).toEqual([]);
  });
});

// --- podman system service ---------------------------------------------------------------

async function startService(globalFlags: string[], sock: string): Promise<ChildProcess> {
  const service = spawn('podman', [...PODMAN_GLOBAL, ...globalFlags, 'system', 'service', '--time=0', `unix://${sock}`], { stdio: 'ignore' });
  const env = { ...process.env, DOCKER_HOST: `unix://${sock}` };
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (existsSync(sock)) {
      const r = await execa('docker', ['version', '--format', '{{.Server.Version}}'], { env, reject: false, timeout: 5_000 });
      if (r.exitCode === 0) return service;
    }
    if (service.exitCode !== null) throw new Error(`podman system service exited (${service.exitCode})`);
    if (Date.now() > deadline) {
      service.kill('SIGKILL');
      throw new Error('podman system service did not come up');
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function stopService(service: ChildProcess | undefined): Promise<void> {
  if (!service || service.exitCode !== null) return;
  const exited = new Promise((r) => service.once('exit', r));
  service.kill('SIGTERM');
  await Promise.race([exited, new Promise((r) => setTimeout(r, 3_000))]);
  if (service.exitCode === null) service.kill('SIGKILL');
}

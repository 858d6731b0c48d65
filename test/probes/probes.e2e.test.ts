// The ready-made scripts in probes/ (issue 8): every one has a header and compiles, `trace
// probes` lists them and `trace run` runs them, and every one runs for real against the
// demo's Go services in podman containers (or the host, for host-wide views) under load,
// with its output checked for the expected shape and for real data. Scripts that do not
// interfere run side by side, in a few groups, so the file stays well under 3 minutes.
//
// The HTTP golden metrics acceptance: against two frontend replicas whose voting service
// fails a deterministic 10% of requests, http-golden shows a success rate within 2
// percentage points of 90%, and latency percentiles consistent with the load generator's.

import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PODMAN_GLOBAL } from '../../src/demo/podman.js';
import type { LoadSummary } from '../../src/demo/stack.js';
import { cleanupStale, useTestContainers, type TestContainer } from '../support/containers.js';
import { parseTables, ROOT, runTrace, startTrace, waitForAttach, type Started, type TextTable, type TraceRun } from '../support/trace.js';

const PROBES = join(ROOT, 'probes');
const SCRIPTS = readdirSync(PROBES)
  .filter((f) => f.endsWith('.d'))
  .map((f) => f.slice(0, -2))
  .sort();

/** Scripts on Go functions: compiled against a target binary. */
const GO_TARGET: Record<string, 'frontend' | 'voting' | 'emoji' | 'grpc'> = {
  'go-func-latency': 'frontend',
  'go-func-args': 'voting',
  'go-gc': 'emoji',
  goroutines: 'frontend',
  'http-requests': 'frontend',
  'http-golden': 'frontend',
  'http-tap': 'frontend',
  'http-client': 'frontend',
  'grpc-methods': 'grpc',
};

const pool = useTestContainers();
let voting: TestContainer;
let emoji: TestContainer;
/** Two frontend replicas (one binary) wired to voting and emoji. */
let feA: TestContainer;
let feB: TestContainer;
/** A frontend no one loads before the network test: its connections are all new then. */
let feNet: TestContainer;
let grpc: { pid: number; addr: string; bin: string; child: ChildProcess } | null = null;
let grpcSkip = '';

beforeAll(async () => {
  await cleanupStale();
  const grpcBuild = buildGrpcDemo().catch((e: Error) => ((grpcSkip = e.message), null));
  const [[vo], [em]] = await Promise.all([pool.start('voting', 1, { args: ['-fail-rate', '0.1'] }), pool.start('emoji', 1)]);
  voting = vo!;
  emoji = em!;
  [feA, feB, feNet] = (await pool.start('frontend', 3, { args: ['-voting', voting.url, '-emoji', emoji.url] })) as [TestContainer, TestContainer, TestContainer];
  const bin = await grpcBuild;
  if (bin) grpc = await startGrpcServer(bin);
}, 120_000);

afterAll(() => {
  if (grpc) grpc.child.kill('SIGKILL');
});

// ---- helpers ----------------------------------------------------------------------------

/** `trace` args that run probes/NAME.d through `trace run`. */
const run = (name: string, ...rest: string[]) => ['run', name, ...rest];

/** Tables by title ('@calls'), from a run's stdout. */
function tables(r: TraceRun): Record<string, TextTable> {
  return Object.fromEntries(parseTables(r.stdout).map((t) => [t.title, t]));
}

function table(r: TraceRun, title: string): TextTable {
  const t = tables(r)[title];
  if (!t) throw new Error(`no table ${title} in:\n${r.stdout}\nstderr:\n${r.stderr}`);
  return t;
}

/**
 * A table whose cells span several lines (stacks: one frame per line, rows ruled apart):
 * one row per ruled block, each cell's lines joined by '\n'.
 */
function ruledTable(r: TraceRun, title: string): TextTable {
  const lines = r.stdout.split('\n');
  const at = lines.indexOf(title);
  if (at < 0 || !lines[at + 1]?.startsWith('┌')) throw new Error(`no table ${title} in:\n${r.stdout}`);
  const cells = (l: string) => l.split('│').slice(1, -1).map((c) => c.trim());
  const header = cells(lines[at + 2]!);
  const rows: string[][] = [];
  let cur: string[][] | null = null;
  for (const l of lines.slice(at + 3)) {
    if (l.startsWith('├') || l.startsWith('└')) {
      if (cur) rows.push(cur.map((c) => c.filter(Boolean).join('\n')));
      cur = [];
      if (l.startsWith('└')) break;
      continue;
    }
    const cs = cells(l);
    cur ??= [];
    cs.forEach((c, i) => (cur![i] ??= []).push(c));
  }
  return { title, header, rows };
}

/** Exit 0, and nothing on stderr but bpftrace's warnings. */
function ok(r: TraceRun): void {
  const unexpected = r.stderr.split('\n').filter((l) => l.trim() !== '' && !/^bpftrace: warning: /.test(l));
  expect(unexpected, r.stderr).toEqual([]);
  expect(r.code, r.stderr).toBe(0);
}

/** A duration like "12.3us" / "4.5ms" / "1s" in nanoseconds. */
function ns(text: string): number {
  const m = /^([\d.]+)(ns|us|ms|s)$/.exec(text);
  if (!m) throw new Error(`not a duration: ${text}`);
  return Number(m[1]) * { ns: 1, us: 1e3, ms: 1e6, s: 1e9 }[m[2] as 'ns' | 'us' | 'ms' | 's'];
}

/** A percentile table's row as numbers: count, p50, ..., max (ns). */
function percentiles(row: string[], keys: number) {
  const [count, p50, p90, p99, p999, max] = row.slice(keys);
  return { count: Number(count), p50: ns(p50!), p90: ns(p90!), p99: ns(p99!), p999: ns(p999!), max: ns(max!) };
}

function expectOrdered(p: ReturnType<typeof percentiles>): void {
  expect(p.p50).toBeGreaterThan(0);
  expect(p.p50).toBeLessThanOrEqual(p.p90);
  expect(p.p90).toBeLessThanOrEqual(p.p99);
  expect(p.p99).toBeLessThanOrEqual(p.p999);
  expect(p.p999).toBeLessThanOrEqual(p.max);
}

/**
 * Starts every trace, waits until each has attached its probes (and a little more, for the
 * rest of a script's probes), runs `during`, then stops them all with Ctrl-C.
 */
async function traceAll<T>(runs: Record<string, string[]>, during: () => Promise<T>): Promise<{ out: Record<string, TraceRun>; value: T }> {
  const started: Record<string, Started> = {};
  for (const [k, args] of Object.entries(runs)) started[k] = startTrace(args, { timeoutMs: 150_000 });
  let value: T;
  try {
    await Promise.all(Object.values(started).map((t) => waitForAttach(t, 1, 60_000)));
    await new Promise((r) => setTimeout(r, 1500));
    value = await during();
  } finally {
    for (const t of Object.values(started)) t.child.kill('SIGINT');
  }
  const out: Record<string, TraceRun> = {};
  for (const [k, t] of Object.entries(started)) out[k] = await t.done;
  return { out, value };
}

/** A program that does not exist, unique to this run. */
const MISSING = `/usr/local/bin/ctrace-no-such-program-${randomBytes(4).toString('hex')}`;

const podmanExec = (c: TestContainer, ...cmd: string[]) => execa('podman', [...PODMAN_GLOBAL, 'exec', c.name, ...cmd], { reject: false });

// ---- gRPC test server (Debian's golang-google-grpc-dev, GOPATH mode) ---------------------

const GOPATH = '/usr/share/gocode';

async function buildGrpcDemo(): Promise<string> {
  if (!existsSync(join(GOPATH, 'src/google.golang.org/grpc/server.go'))) {
    throw new Error('grpc-go sources are not installed (apt-get install golang-google-grpc-dev)');
  }
  const go = await execa('go', ['version'], { reject: false });
  if (go.exitCode !== 0) throw new Error('go is not installed');
  const src = join(ROOT, 'test/probes/fixtures/grpcdemo/main.go');
  const hash = createHash('sha256').update(readFileSync(src)).update(String(go.stdout)).digest('hex').slice(0, 16);
  const dir = join(homedir(), '.cache/ctrace/probes-test', hash);
  const bin = join(dir, 'grpcdemo');
  if (existsSync(bin)) return bin;
  mkdirSync(dir, { recursive: true });
  const tmp = `${bin}.${process.pid}.tmp`;
  const b = await execa('go', ['build', '-o', tmp, src], {
    reject: false,
    env: { GO111MODULE: 'off', GOPATH, CGO_ENABLED: '0', GOFLAGS: '' },
    cwd: join(ROOT, 'test/probes/fixtures/grpcdemo'),
  });
  if (b.exitCode !== 0) throw new Error(`building the gRPC test server failed: ${b.stderr}`);
  renameSync(tmp, bin);
  return bin;
}

async function startGrpcServer(bin: string): Promise<{ pid: number; addr: string; bin: string; child: ChildProcess }> {
  const child = spawn(bin, ['-addr', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const addr = await new Promise<string>((resolve, reject) => {
    let text = '';
    const t = setTimeout(() => reject(new Error(`gRPC server did not start: ${text}`)), 10_000);
    child.stdout!.on('data', (d: Buffer) => {
      text += d.toString();
      const m = /"listening":"([^"]+)"/.exec(text);
      if (m) {
        clearTimeout(t);
        resolve(m[1]!);
      }
    });
  });
  return { pid: child.pid!, addr, bin, child };
}

// ---- every script: a header, and it compiles ----------------------------------------------

describe('probes/: headers, compilation, trace probes and trace run', () => {
  it('has at least 20 scripts', () => {
    expect(SCRIPTS.length).toBeGreaterThanOrEqual(20);
  });

  it.each(SCRIPTS)('%s.d has a header: NAME: description, arguments, a run line and real example output', (name) => {
    const text = readFileSync(join(PROBES, `${name}.d`), 'utf8');
    const header = /^\/\*([\s\S]*?)\*\//.exec(text)?.[1] ?? '';
    const first = header.split('\n')[0]!.trim();
    expect(first).toMatch(new RegExp(`^${name}: \\S.{10,}`));
    expect(header).toMatch(/\n \* Arguments: /);
    expect(header).toMatch(new RegExp(`\\n \\* Run: +trace run ${name}\\b`));
    // An example captured from a real run: a few indented lines after "Example output".
    const example = header.split(/\n \* Example output[^\n]*\n/)[1] ?? '';
    expect(example.split('\n').filter((l) => /^ \* {3}\S/.test(l)).length, `example output of ${name}`).toBeGreaterThanOrEqual(3);
  });

  it('every script compiles: --emit bpftrace exits 0 (Go ones against a demo binary)', async () => {
    const args = (name: string): string[] => {
      const t = GO_TARGET[name];
      if (t === 'grpc') return grpc ? ['-p', String(grpc.pid)] : ['-c', feA.name];
      if (t) return ['-c', { frontend: feA, voting, emoji }[t].name];
      return [];
    };
    // Scripts that take arguments get the ones their header's Run: line shows.
    const scriptArgs: Record<string, string[]> = { 'go-func-latency': ['main.handle'] };
    const results = await Promise.all(SCRIPTS.map(async (name) => ({ name, r: await runTrace(['--emit', 'bpftrace', ...args(name), join(PROBES, `${name}.d`), ...(scriptArgs[name] ?? [])]) })));
    for (const { name, r } of results) {
      expect(r.stderr, name).toBe('');
      expect(r.code, name).toBe(0);
      expect(r.stdout, name).toMatch(/^BEGIN\n/);
    }
  }, 90_000);

  it('trace probes lists every script with its one-line description, in a table or JSON', async () => {
    const r = await runTrace(['probes']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines.map((l) => l.split(/\s+/)[0])).toEqual(SCRIPTS);
    const golden = lines.find((l) => l.startsWith('http-golden '))!;
    expect(golden).toMatch(/^http-golden +HTTP golden metrics per container/);
    const j = await runTrace(['probes', '-o', 'json']);
    const list = JSON.parse(j.stdout) as { name: string; description: string; path: string }[];
    expect(list.map((s) => s.name)).toEqual(SCRIPTS);
    for (const s of list) {
      expect(s.description.length).toBeGreaterThan(10);
      expect(s.path).toBe(join(PROBES, `${s.name}.d`));
    }
  });

  it('trace probes NAME prints its header; an unknown name is exit 2 with a suggestion', async () => {
    const r = await runTrace(['probes', 'syscall-count']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^syscall-count: system calls by process/);
    expect(r.stdout).toMatch(/Example output/);
    const bad = await runTrace(['probes', 'syscall-cuont']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/no script named 'syscall-cuont'.*did you mean syscall-count\?/);
  });

  it('trace run NAME is trace probes/NAME.d, whatever the working directory', async () => {
    const viaRun = await execa(process.execPath, [join(ROOT, 'bin/trace.js'), 'run', 'http-requests', '-c', feA.name, '--emit', 'bpftrace'], { cwd: tmpdir(), reject: false });
    const direct = await runTrace(['-c', feA.name, '--emit', 'bpftrace', join(PROBES, 'http-requests.d')]);
    expect(viaRun.exitCode).toBe(0);
    expect(viaRun.stdout + '\n').toBe(direct.stdout);
    // Options before `run` count too (never silently dropped: that would trace the host).
    const before = await runTrace(['-c', feA.name, 'run', 'http-requests', '--emit', 'bpftrace']);
    expect(before.stdout).toBe(direct.stdout);
    const bad = await runTrace(['run', 'no-such-script']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^trace: no script named 'no-such-script' in probes\//);
    const badOpt = await runTrace(['run', 'syscall-count', '-d', 'soon']);
    expect(badOpt.code).toBe(2);
    expect(badOpt.stderr).toMatch(/bad --duration 'soon'/);
  });
});

// ---- every script, for real --------------------------------------------------------------

describe('the scripts against the demo, under load', () => {
  it('system and Go views of one frontend container, side by side', async () => {
    const A = feA.name;
    const { out, value: load } = await traceAll(
      {
        syscallCount: run('syscall-count', '-c', A),
        syscallLatency: run('syscall-latency', '-c', A),
        syscallErrors: run('syscall-errors', '-c', A),
        offcpu: run('offcpu', '-c', A),
        oncpu: run('oncpu-profile', '-c', A),
        runq: run('runq-latency', '-c', A),
        faults: run('page-faults', '-c', A),
        execs: run('exec-snoop', '-c', A),
        execsHost: run('exec-snoop'),
        opens: run('file-opens', '-c', A),
        goLatency: run('go-func-latency', '-c', A, 'main.handle'),
        goArgs: run('go-func-args', '-c', voting.name),
        goroutines: run('goroutines', '-c', A),
      },
      async () => {
        const [s] = await Promise.all([
          pool.load(feA, '/vote?n={n}', { durationMs: 3000, rate: 150, concurrency: 4, ns: [1, 2, 3] }),
          (async () => {
            // A command run in the container (the Go runtime opens a file before printing
            // its usage), and on the host one that fails (ENOENT).
            await new Promise((r) => setTimeout(r, 500));
            const e = await podmanExec(feA, '/app/frontend', '-h');
            expect(e.stderr).toMatch(/^Usage of \/app\/frontend:/);
            await execa('sh', ['-c', `${MISSING} --flag`], { reject: false });
          })(),
        ]);
        return s;
      },
    );
    for (const r of Object.values(out)) ok(r);
    expect(load.sent).toBeGreaterThan(200);

    // syscall-count: the container's one process, and system calls by name
    const calls = table(out.syscallCount!, '@calls');
    expect(calls.header).toEqual(['pid', 'execname', 'count']);
    expect(calls.rows.find((r) => r[1] === 'frontend' && Number(r[2]) > 1000)).toBeTruthy();
    const sys = table(out.syscallCount!, '@syscalls');
    expect(sys.header).toEqual(['probefunc', 'count']);
    const names = sys.rows.map((r) => r[0]!);
    expect(names).toEqual(expect.arrayContaining(['read', 'write']));
    expect(sys.rows.length).toBeLessThanOrEqual(20);

    // syscall-latency: counts, means and a percentile table of the 3 busiest
    const lat = table(out.syscallLatency!, '@latency_ns');
    expect(lat.header).toEqual(['probefunc', 'count', 'p50', 'p90', 'p99', 'p999', 'max']);
    expect(lat.rows.length).toBe(3);
    for (const row of lat.rows) {
      expect(row[0]).toMatch(/^[a-z_0-9]+$/);
      expectOrdered(percentiles(row, 1));
    }
    expect(table(out.syscallLatency!, '@mean_ns').rows.length).toBeGreaterThanOrEqual(3);

    // syscall-errors: Go's non-blocking reads get EAGAIN (11)
    const errs = table(out.syscallErrors!, '@errors');
    expect(errs.header).toEqual(['probefunc', 'errno', 'execname', 'count']);
    expect(errs.rows.find((r) => r[0] === 'read' && r[1] === '11' && r[2] === 'frontend' && Number(r[3]) > 0)).toBeTruthy();

    // offcpu: stacks (kernel: the scheduler; user: Go's runtime) with microseconds off CPU
    const off = ruledTable(out.offcpu!, '@offcpu_us');
    expect(off.header[0]).toBe('execname');
    expect(off.rows.length).toBeGreaterThan(0);
    expect(off.rows.length).toBeLessThanOrEqual(10);
    expect(off.rows.some((r) => /schedule/.test(r[1]!) && /runtime\./.test(r[2]!))).toBe(true);
    const offTotal = table(out.offcpu!, '@total_us').rows.find((r) => r[0] === 'frontend');
    expect(Number(offTotal?.[1])).toBeGreaterThan(100_000); // several threads, several seconds

    // oncpu-profile: symbolized Go stacks of the frontend
    const prof = ruledTable(out.oncpu!, '@samples');
    expect(prof.header).toEqual(['execname', 'ustack()', 'count']);
    expect(prof.rows.length).toBeGreaterThan(0);
    // (the container's processes only: the service, and runc's init for the podman exec)
    expect(prof.rows.map((r) => r[0]).filter((n) => n !== 'frontend' && !n!.startsWith('runc:'))).toEqual([]);
    expect(prof.rows.some((r) => r[0] === 'frontend')).toBe(true);
    expect(prof.rows.some((r) => /runtime\.|net\/http\.|main\./.test(r[1]!))).toBe(true);
    expect(Number(table(out.oncpu!, '@by_process').rows[0]![1])).toBeGreaterThan(0);

    // runq-latency: a percentile table per process
    const rq = table(out.runq!, '@runq_ns');
    expect(rq.header).toEqual(['execname', 'count', 'p50', 'p90', 'p99', 'p999', 'max']);
    const rqf = rq.rows.find((r) => r[0] === 'frontend')!;
    expect(percentiles(rqf, 1).count).toBeGreaterThan(100);
    expectOrdered(percentiles(rqf, 1));

    // page-faults: the container's process, and Go functions that fault
    const pf = table(out.faults!, '@faults');
    expect(pf.rows.find((r) => r[1] === 'frontend' && Number(r[2]) > 0)).toBeTruthy();
    expect(table(out.faults!, '@by_function').rows.some((r) => r[0] === 'frontend' && /^runtime\.|^main\.|^net/.test(r[1]!))).toBe(true);

    // exec-snoop: the podman exec (with its argument) in the container, only it; on the
    // host, the exec of a missing program and its failure (same PID)
    expect(out.execs!.stdout).toMatch(/^PID +PPID +EVENT +COMMAND$/m);
    expect(out.execs!.stdout).toMatch(/^\d+ +\d+ +exec +\/app\/frontend -h\b/m);
    expect(out.execs!.stdout).not.toContain(MISSING);
    const missing = new RegExp(`^(\\d+) +\\d+ +exec +${MISSING} --flag\\b`, 'm').exec(out.execsHost!.stdout);
    expect(missing, out.execsHost!.stdout).toBeTruthy();
    expect(out.execsHost!.stdout).toMatch(new RegExp(`^${missing![1]} +\\d+ +failed +errno 2$`, 'm'));

    // file-opens: the Go runtime's one open in the exec'd /app/frontend
    expect(out.opens!.stdout).toMatch(/^frontend +\d+ +\d+ +0 +\/sys\/kernel\/mm\/transparent_hugepage\/hpage_pmd_size$/m);
    expect(table(out.opens!, '@opens').rows.some((r) => r[0] === 'frontend')).toBe(true);

    // go-func-latency: one handle() per request, with ordered percentiles
    const gl = table(out.goLatency!, '@latency');
    expect(gl.header).toEqual(['execname', 'count', 'p50', 'p90', 'p99', 'p999', 'max']);
    const glp = percentiles(gl.rows[0]!, 1);
    expect(glp.count).toBe(load.sent);
    expectOrdered(glp);
    expect(out.goLatency!.stdout).toMatch(/@distribution_ns\n\s+value\s+-+ Distribution -+\s+count/);

    // go-func-args: vote(n, name) by argument, names read from Go strings, exactly as sent
    const ga = table(out.goArgs!, '@calls');
    expect(ga.header).toEqual(['args.n', 'args.name', 'count']);
    const emojiNames: Record<string, string> = { 1: ':sunglasses:', 2: ':doughnut:', 3: ':stuck_out_tongue_winking_eye:' };
    expect(Object.fromEntries(ga.rows.map((r) => [r[0], [r[1], Number(r[2])]]))).toEqual(
      Object.fromEntries(Object.entries(load.byN).map(([n, k]) => [n, [emojiNames[n], k]])),
    );
    expect(table(out.goArgs!, '@total').rows.map((r) => r[0]).sort()).toEqual(['1', '2', '3']);

    // goroutines: a rate line per second, and who starts them
    const rates = [...out.goroutines!.stdout.matchAll(/^goroutines\/s frontend +(\d+)$/gm)].map((m) => Number(m[1]));
    expect(rates.length, out.goroutines!.stdout).toBeGreaterThanOrEqual(1);
    expect(Math.max(...rates), out.goroutines!.stdout).toBeGreaterThan(50);
    expect(table(out.goroutines!, '@created_by').rows.some((r) => r[0] === 'frontend' && /^net\/http\./.test(r[1]!))).toBe(true);
  }, 150_000);

  it('HTTP views: requests by path and status, the tap, outbound calls, and Go GC', async () => {
    const A = feA.name;
    const { out, value: load } = await traceAll(
      {
        requests: run('http-requests', '-c', A),
        tap: run('http-tap', '-c', A),
        client: run('http-client', '-c', A),
        gc: run('go-gc', '-c', emoji.name),
      },
      async () => {
        const [s, churn] = await Promise.all([
          pool.load(feA, '/vote?n={n}', { durationMs: 2500, rate: 120, concurrency: 4, ns: [4, 5] }),
          pool.load(emoji, '/churn?depth={n}', { requests: 8, concurrency: 1, ns: [50] }),
        ]);
        return { s, churn };
      },
    );
    for (const r of Object.values(out)) ok(r);
    const sent = load.s.sent;
    const failed = load.s.status['500'] ?? 0;
    expect(failed).toBeGreaterThan(0);

    // http-requests: GET /vote by status, exactly as the load generator saw them
    const req = table(out.requests!, '@requests');
    expect(req.header).toEqual(['this->method', 'this->path', 'this->status', 'count']);
    expect(Object.fromEntries(req.rows.map((r) => [`${r[0]} ${r[1]} ${r[2]}`, Number(r[3])]))).toEqual({
      'GET /vote 200': load.s.status['200'],
      'GET /vote 500': failed,
    });
    const reqLat = table(out.requests!, '@latency');
    expect(reqLat.rows.map((r) => [r[0], r[1]])).toEqual([['GET', '/vote']]);
    expect(percentiles(reqLat.rows[0]!, 2).count).toBe(sent);
    expectOrdered(percentiles(reqLat.rows[0]!, 2));

    // http-tap: one line per request, with the container, client, method, path, status
    const tap = out.tap!.stdout.split('\n');
    expect(tap[0]).toMatch(/^TIME +CONTAINER +CLIENT +METHOD +PATH +STATUS +LATENCY_US$/);
    const lines = tap.filter((l) => /^\d\d:\d\d:\d\d\.\d{3} /.test(l)).map((l) => l.split(/\s+/));
    expect(lines.length).toBe(sent);
    for (const [, container, client, method, path, status, us] of lines) {
      expect(container).toBe(A);
      expect(client).toMatch(/^127\.0\.0\.1:\d+$/);
      expect([method, path]).toEqual(['GET', '/vote']);
      expect(['200', '500']).toContain(status);
      expect(Number(us)).toBeGreaterThan(0);
    }
    expect(lines.filter((l) => l[5] === '500').length).toBe(failed);

    // http-client: the frontend's calls to voting and emoji, one of each per request
    const host = (c: TestContainer) => c.url.replace(/^http:\/\//, '');
    const calls = table(out.client!, '@calls');
    expect(calls.header).toEqual(['this->host', 'this->path', 'this->status', 'count']);
    expect(Object.fromEntries(calls.rows.map((r) => [`${r[0]} ${r[1]} ${r[2]}`, Number(r[3])]))).toEqual({
      [`${host(voting)} /vote 200`]: sent - failed,
      [`${host(voting)} /vote 500`]: failed,
      [`${host(emoji)} /emoji 200`]: sent,
    });
    const clientLat = table(out.client!, '@latency');
    expect(clientLat.rows.map((r) => `${r[0]} ${r[1]}`).sort()).toEqual([`${host(emoji)} /emoji`, `${host(voting)} /vote`].sort());

    // go-gc: one forced cycle (trigger 2) per /churn request, and the STW pauses
    const cycles = table(out.gc!, '@cycles');
    expect(cycles.header).toEqual(['execname', 'arg0', 'count']);
    expect(cycles.rows.find((r) => r[0] === 'emoji' && r[1] === '2')?.[2]).toBe(String(load.churn.sent));
    const pause = table(out.gc!, '@pause');
    const pp = percentiles(pause.rows.find((r) => r[0] === 'emoji')!, 1);
    expect(pp.count).toBeGreaterThanOrEqual(2 * load.churn.sent);
    expectOrdered(pp);
    expect(pp.max).toBeLessThan(1e9);
  }, 120_000);

  it('TCP views: connects and accepts of a fresh container, host-wide state changes and retransmits', async () => {
    const N = feNet.name;
    const port = (c: TestContainer) => Number(new URL(c.url).port);
    const net = `10.${200 + Math.floor(Math.random() * 50)}.${Math.floor(Math.random() * 250)}`;
    const { out, value: load } = await traceAll(
      {
        connect: run('tcp-connect', '-c', N),
        accept: run('tcp-accept', '-c', N),
        states: run('tcp-states'),
        retransmits: run('tcp-retransmits'),
      },
      async () => {
        // An unanswered SYN in a private network namespace: a veth pair with nothing
        // behind it, so the SYN is retransmitted (after 1 s, 3 s) and nothing leaves the
        // machine. Meanwhile new connections to and from the fresh frontend.
        const syn = execa(
          'unshare',
          ['-n', 'sh', '-c', `ip link set lo up && ip link add va type veth peer name vb && ip addr add ${net}.1/24 dev va && ip link set va up && ip link set vb up && timeout 4 bash -c 'exec 3<>/dev/tcp/${net}.2/80' || true`],
          { reject: false },
        );
        const s = await pool.load(feNet, '/vote?n={n}', { requests: 40, concurrency: 4, ns: [1] });
        await syn;
        return s;
      },
    );
    for (const r of Object.values(out)) ok(r);
    expect(load.sent).toBe(40);

    // tcp-connect: the frontend's non-blocking connects to voting and emoji
    expect(out.connect!.stdout).toMatch(/^PROCESS +PID +PEER +PORT +ERRNO$/m);
    for (const c of [voting, emoji]) expect(out.connect!.stdout).toMatch(new RegExp(`^frontend +\\d+ +127\\.0\\.0\\.1 +${port(c)} +115$`, 'm'));
    const conns = table(out.connect!, '@connects');
    expect(conns.header).toEqual(['execname', 'self->peer', 'self->port', 'errno', 'count']);

    // tcp-accept: the load generator's connections, accepted by the frontend
    const accepted = out.accept!.stdout.split('\n').filter((l) => /^frontend +\d+ +\d+ +127\.0\.0\.1 +\d+$/.test(l));
    expect(accepted.length).toBeGreaterThanOrEqual(4); // one per load generator connection
    expect(table(out.accept!, '@accepts').rows.find((r) => r[0] === 'frontend' && r[1] === '127.0.0.1')).toBeTruthy();

    // tcp-states: both ends of the connections to the frontend's port
    const fp = port(feNet);
    expect(out.states!.stdout).toMatch(/^OPEN +PROCESS +LADDR +LPORT +RADDR +RPORT$/m);
    expect(out.states!.stdout).toMatch(new RegExp(`^active +\\S+ +127\\.0\\.0\\.1 +\\d+ +127\\.0\\.0\\.1 +${fp}$`, 'm'));
    expect(out.states!.stdout).toMatch(new RegExp(`^passive +\\S+ +127\\.0\\.0\\.1 +${fp} +127\\.0\\.0\\.1 +\\d+$`, 'm'));
    const tr = table(out.states!, '@transitions');
    expect(tr.rows.find((r) => r[0] === 'SYN_SENT' && r[1] === 'ESTABLISHED')).toBeTruthy();

    // tcp-retransmits: the unanswered SYN, retransmitted
    const esc = net.replace(/\./g, '\\.');
    const rtx = out.retransmits!.stdout.split('\n').filter((l) => new RegExp(`^${esc}\\.1 +\\d+ +${esc}\\.2 +80 +SYN_SENT$`).test(l));
    expect(rtx.length).toBeGreaterThanOrEqual(1);
    expect(table(out.retransmits!, '@retransmits').rows.find((r) => r[0] === `${net}.2` && r[1] === '80' && r[2] === 'SYN_SENT')).toBeTruthy();
  }, 120_000);

  it('grpc-methods: calls by method and latency of a grpc-go server', async (ctx) => {
    if (!grpc) return ctx.skip(`no gRPC test server: ${grpcSkip}`);
    const { out, value } = await traceAll({ grpc: run('grpc-methods', '-p', String(grpc.pid)) }, async () => {
      const c = await execa(grpc!.bin, ['-client', '-addr', grpc!.addr, '-n', '40']);
      return JSON.parse(String(c.stdout)) as { calls: number; errors: number };
    });
    ok(out.grpc!);
    expect(value).toEqual({ calls: 40, errors: 8 });
    const calls = table(out.grpc!, '@calls');
    expect(calls.header).toEqual(['this->name', 'this->kind', 'count']);
    expect(calls.rows).toEqual([['Check', 'unary', '40']]);
    const lat = table(out.grpc!, '@latency');
    expect(lat.rows[0]![0]).toBe('Check');
    expect(percentiles(lat.rows[0]!, 1).count).toBe(40);
    expectOrdered(percentiles(lat.rows[0]!, 1));
  }, 60_000);
});

// ---- the acceptance: golden metrics -------------------------------------------------------

describe('http-golden (acceptance)', () => {
  it('per container: requests, a success rate within 2 points of the injected 10% failures, latency percentiles', async () => {
    const { out, value } = await traceAll({ golden: run('http-golden', '-c', feA.name, '-c', feB.name) }, async () => {
      // One replica after the other: voting fails every 10th of its requests, so each
      // replica's consecutive requests see exactly 10% failures.
      const a = await pool.load(feA, '/vote?n={n}', { durationMs: 2500, rate: 200, concurrency: 4, ns: [1, 2] });
      const b = await pool.load(feB, '/vote?n={n}', { durationMs: 1500, rate: 200, concurrency: 4, ns: [1, 2] });
      return { a, b };
    });
    const r = out.golden!;
    ok(r);
    const loads: [TestContainer, LoadSummary][] = [
      [feA, value.a],
      [feB, value.b],
    ];
    for (const [, s] of loads) expect(Math.abs(s.failed / s.sent - 0.1)).toBeLessThan(0.01);

    // Every second: a header, a row per container with requests/s and success, and a
    // percentile table.
    const seconds = r.stdout.split(/\nCONTAINER +RPS +SUCCESS\n/).slice(1);
    expect(seconds.length).toBeGreaterThanOrEqual(4);
    const perSecond = seconds.flatMap((s) =>
      [...s.matchAll(/^(\S+) +(\d+) +([\d.]+)%$/gm)].map((m) => ({ container: m[1]!, rps: Number(m[2]), success: Number(m[3]) })),
    );
    for (const [c] of loads) {
      const busy = perSecond.filter((p) => p.container === c.name && p.rps >= 100);
      expect(busy.length, `seconds with load for ${c.name}:\n${r.stdout}`).toBeGreaterThanOrEqual(1);
      for (const p of busy) expect(Math.abs(p.success - 90)).toBeLessThanOrEqual(2);
    }
    expect(seconds.some((s) => /@latency\n┌/.test(s))).toBe(true);

    // The whole run: exact request counts, success within 2 points of 90%, and latency
    // percentiles in order and consistent with the client's view.
    const whole = r.stdout.split('\nwhole run:\n')[1]!;
    expect(whole).toMatch(/^CONTAINER +REQUESTS +SUCCESS$/m);
    const rows = Object.fromEntries([...whole.matchAll(/^(\S+) +(\d+) +([\d.]+)%$/gm)].map((m) => [m[1]!, { requests: Number(m[2]), success: Number(m[3]) }]));
    const lat = parseTables(whole).find((t) => t.title === '@total_latency')!;
    expect(lat.header).toEqual(['container', 'count', 'p50', 'p90', 'p99', 'p999', 'max']);
    for (const [c, s] of loads) {
      expect(rows[c.name]!.requests).toBe(s.sent);
      expect(Math.abs(rows[c.name]!.success - 90)).toBeLessThanOrEqual(2);
      expect(Math.abs(rows[c.name]!.success - (100 * (s.sent - s.failed)) / s.sent)).toBeLessThan(0.01);
      const p = percentiles(lat.rows.find((row) => row[0] === c.name)!, 1);
      expect(p.count).toBe(s.sent);
      expectOrdered(p);
      // The server's time is within the client's round trip (bucket edges are at most
      // 1/32 high); and not absurdly below it.
      expect(p.p50).toBeLessThanOrEqual(s.latencyMs.p50! * 1e6 * 1.05);
      expect(p.p50).toBeGreaterThan(s.latencyMs.p50! * 1e6 * 0.1);
      expect(p.max).toBeLessThanOrEqual(s.latencyMs.max! * 1e6 * 1.05);
    }
  }, 90_000);
});

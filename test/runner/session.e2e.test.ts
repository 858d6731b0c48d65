// Real bpftrace, both versions, with hand-written CompiledProgram objects.

import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSync } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MARKER_BPF } from '../../src/compiler/program.js';
import type { ScalarAggregation } from '../../src/runner/aggregate.js';
import { getBpftraceInfo, type BpftraceInfo } from '../../src/runner/bpftrace.js';
import { startEarly } from '../../src/runner/bpftrace-process.js';
import { runProgram, type RunOptions } from '../../src/runner/session.js';
import { agg, key, program } from './helpers.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const work = mkdtempSync(join(tmpdir(), 'ctrace-e2e-'));
const target = join(work, 'file.txt');
writeFileSync(target, 'x\n');
/** A command with a unique name (comm), so other processes on the machine do not count. */
const COMM = 'ctrace-e2e-cat';
const cat = join(work, COMM);
copyFileSync('/bin/cat', cat);

afterAll(() => rmSync(work, { recursive: true, force: true }));

const poke = (n = 3) => {
  for (let i = 0; i < n; i++) execFileSync(cat, [target]);
};

class Sink {
  text = '';
  constructor(readonly isTTY = false) {}
  write(s: string) {
    this.text += s;
    return true;
  }
}

/** bpftrace processes whose command line contains `needle`. */
function running(needle: string): string[] {
  try {
    return execFileSync('pgrep', ['-f', needle], { encoding: 'utf8' }).trim().split('\n').filter(Boolean);
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
}

/** This process's bpftrace children started since `before` (a list from an earlier call): pid and command line. */
function bpftraceChildren(before: readonly { pid: number }[] = []): { pid: number; cmd: string }[] {
  const out: { pid: number; cmd: string }[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d) || before.some((b) => b.pid === Number(d))) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const cmd = readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0').join(' ').trim();
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === process.pid && cmd.includes('bpftrace')) out.push({ pid: Number(d), cmd });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** bpftraceChildren(before), once it has `n` entries (a child's command line is bpftrace's only after its exec) or after 3 s. */
async function bpftraceChildrenOnce(before: readonly { pid: number }[], n: number): Promise<{ pid: number; cmd: string }[]> {
  const t0 = Date.now();
  while (bpftraceChildren(before).length !== n && Date.now() - t0 < 3000) await new Promise((res) => setTimeout(res, 20));
  return bpftraceChildren(before);
}

const uniq = () => `ctrace-e2e-${process.pid}-${Math.random().toString(36).slice(2, 10)}`;

/** @[comm] = count() on openat by our command; BEGIN says ready; END says final. */
function openatProgram(marker: string, tail = '') {
  const text = [
    `BEGIN { printf("${marker}\\n"); printf("${MARKER_BPF}ready\\n"); }`,
    `tracepoint:syscalls:sys_enter_openat /comm == "${COMM}"/ { @[comm] = count(); }`,
    tail,
    `END { printf("${MARKER_BPF}final\\n"); }`,
  ].join('\n');
  return program(text, [agg('@', 'count', [key('comm')])]);
}

const VERSIONS = [
  ['0.17', '/usr/bin/bpftrace'],
  ['0.23', '/opt/ctrace/bin/bpftrace'],
] as const;

describe.each(VERSIONS)('runProgram with bpftrace %s', (_v, path) => {
  let bpftrace: BpftraceInfo;
  beforeAll(async () => {
    const r = await getBpftraceInfo(path);
    if (!r.ok) throw new Error(r.message);
    bpftrace = r.info;
  });
  const opts = (extra: Partial<RunOptions> = {}) => {
    const stdout = new Sink();
    const stderr = new Sink();
    return { stdout, stderr, o: { bpftrace, output: 'table', stdout, stderr, env: { ...process.env, NO_COLOR: '1' }, handleSignals: false, ...extra } as RunOptions };
  };

  it("prints the final table when the program calls exit()", async () => {
    const m = uniq();
    const { stdout, stderr, o } = opts({ onAttached: () => poke() });
    const r = await runProgram(openatProgram(m, 'interval:ms:1500 { exit(); }'), o);
    expect(r.exitCode, stderr.text).toBe(0);
    expect(r.stoppedBy).toBe('exit');
    expect(stdout.text).toContain(`${m}\n`);
    expect(stdout.text).toMatch(/│ comm\s+│ count │/);
    expect(stdout.text).toMatch(new RegExp(`│ ${COMM}\\s+│\\s+\\d+ │`));
    const a = r.aggregations[0] as ScalarAggregation;
    expect(a.rows[0]?.keys).toEqual([COMM]);
    expect(a.rows[0]!.value).toBeGreaterThanOrEqual(3);
    expect(stderr.text).not.toContain('RLIMIT');
    expect(running(m)).toEqual([]);
  });

  it('stops on AbortSignal with the final table and leaves no bpftrace behind', async () => {
    const m = uniq();
    const ac = new AbortController();
    const { stdout, o } = opts({
      signal: ac.signal,
      onAttached: () => {
        poke();
        expect(running(m).length).toBeGreaterThan(0);
        setTimeout(() => ac.abort(), 200);
      },
    });
    const r = await runProgram(openatProgram(m), o);
    expect(r.exitCode).toBe(0);
    expect(r.stoppedBy).toBe('abort');
    expect(stdout.text).toMatch(new RegExp(`│ ${COMM}\\s+│\\s+\\d+ │`));
    expect(running(m)).toEqual([]);
  });

  it('stops after durationMs', async () => {
    const m = uniq();
    const { stdout, o } = opts({ durationMs: 1500, onAttached: () => poke() });
    const t0 = Date.now();
    const r = await runProgram(openatProgram(m), o);
    expect(r.exitCode).toBe(0);
    expect(r.stoppedBy).toBe('duration');
    expect(Date.now() - t0).toBeLessThan(8000);
    expect(stdout.text).toContain(COMM);
    expect(running(m)).toEqual([]);
  });

  it('renders interval snapshots and printa groups', async () => {
    const m = uniq();
    const text = [
      `BEGIN { printf("${m}\\n"); @n = 0; }`,
      `tracepoint:syscalls:sys_enter_openat /comm == "${COMM}"/ { @c[comm] = count(); }`,
      `interval:ms:300 { @n = @n + 1; printf("${MARKER_BPF}snap\\n"); print(@c); printf("${MARKER_BPF}end\\n"); if (@n >= 3) { exit(); } }`,
      `END { printf("${MARKER_BPF}printa:0\\n"); print(@c); printf("${MARKER_BPF}end\\n"); clear(@n); printf("${MARKER_BPF}final\\n"); }`,
    ].join('\n');
    const prog = program(text, [agg('@c', 'count', [key('comm')])], {
      printa: [{ format: 'opens by %s: %@d\n', aggregations: ['@c'] }],
      printedAtEnd: ['@c'],
      internalMaps: ['@n'],
    });
    const { stdout, o } = opts({ onAttached: () => poke() });
    const r = await runProgram(prog, o);
    expect(r.exitCode).toBe(0);
    expect(stdout.text.match(/^--- \d\d:\d\d:\d\d ---$/gm)?.length).toBeGreaterThanOrEqual(2);
    expect(stdout.text).toMatch(new RegExp(`^opens by ${COMM}: \\d+$`, 'm'));
    // Printed by END's printa, so not again at exit.
    expect(stdout.text.split('\n').filter((l) => l === '@c').length).toBe(stdout.text.match(/^--- /gm)!.length);
    expect(stdout.text).not.toContain('@n');
  });

  it('NDJSON output', async () => {
    const m = uniq();
    const { stdout, o } = opts({ output: 'json', onAttached: () => poke() });
    const r = await runProgram(openatProgram(m, 'interval:ms:800 { exit(); }'), o);
    expect(r.exitCode).toBe(0);
    const objs = stdout.text.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(objs[0]).toEqual({ type: 'printf', text: `${m}\n` });
    expect(objs.at(-1)).toMatchObject({ type: 'aggregation', phase: 'final', name: '@', func: 'count', keys: ['comm'], rows: [{ keys: [COMM] }] });
  });

  it('returns bpftrace errors as values with positions, exit code 1', async () => {
    const { stdout, stderr, o } = opts();
    const prog = program('BEGIN {\n  @a = count();\n  @b = foo(3);\n}\n', [], {
      sourceMap: { entries: [{ line: 3, colStart: 3, colEnd: 14, span: { start: 40, end: 50 } }] },
    });
    const r = await runProgram(prog, o);
    expect(r.exitCode).toBe(1);
    expect(r.message).toBe('bpftrace failed: Unknown function: foo');
    expect(r.errors).toMatchObject([{ severity: 'error', message: 'Unknown function: foo', line: 3, colStart: 8, colEnd: 11, span: { start: 40, end: 50 } }]);
    expect(stdout.text).toBe('');
    // Errors are the caller's to print (mapped to the user's source).
    expect(stderr.text).toBe('');
  });

  it('a failure to attach is an error too', async () => {
    const { o } = opts();
    const r = await runProgram(program('uprobe:/bin/true:ctrace_no_such_function { printf("x\\n"); }'), o);
    expect(r.exitCode).toBe(1);
    expect(r.errors.length).toBeGreaterThan(0);
    expect(r.message).toMatch(/^bpftrace failed: (No probes to attach|Could not resolve symbol)/);
  });

  it('runs the program on a bpftrace started before it (startEarly): given on stdin, one bpftrace, the same output', async () => {
    const m = uniq();
    const others = bpftraceChildren();
    const early = startEarly(path);
    let during: { pid: number; cmd: string }[] = [];
    const { stdout, stderr, o } = opts({
      early,
      onAttached: () => {
        during = bpftraceChildren(others);
        poke();
      },
    });
    const prog = openatProgram(m, 'interval:ms:800 { exit(); }');
    // Given first (as a run does before loading the session), then taken by runProgram.
    expect(early.give(path, prog)).toBe(true);
    const r = await runProgram(prog, o);
    expect(r.exitCode, stderr.text).toBe(0);
    expect(during).toHaveLength(1);
    expect(during[0]!.cmd).toMatch(/ -f json -$/);
    expect(stdout.text).toContain(m);
    expect(stdout.text).toMatch(new RegExp(`│ ${COMM}\\s+│\\s+\\d+ │`));
    expect(bpftraceChildren(others)).toEqual([]);
  });

  it('maps errors of a program given on stdin to its positions too', async () => {
    const { o } = opts({ early: startEarly(path) });
    const prog = program('BEGIN {\n  @a = count();\n  @b = foo(3);\n}\n', [], {
      sourceMap: { entries: [{ line: 3, colStart: 3, colEnd: 14, span: { start: 40, end: 50 } }] },
    });
    const r = await runProgram(prog, o);
    expect(r.exitCode).toBe(1);
    expect(r.errors).toMatchObject([{ severity: 'error', message: 'Unknown function: foo', line: 3, colStart: 8, span: { start: 40, end: 50 } }]);
  });

  it('kills an early bpftrace the program does not fit (it needs --unsafe), and runs its own', async () => {
    const m = uniq();
    const others = bpftraceChildren();
    const early = startEarly(path);
    const before = await bpftraceChildrenOnce(others, 1);
    expect(before).toHaveLength(1);
    let during: { pid: number; cmd: string }[] = [];
    const { stderr, o } = opts({ early, onAttached: () => (during = bpftraceChildren(others)) });
    const r = await runProgram(program(`BEGIN { printf("${m}\\n"); printf("${MARKER_BPF}ready\\n"); exit(); }`, [], { bpftraceArgs: ['--unsafe'] }), o);
    expect(r.exitCode, stderr.text).toBe(0);
    expect(during.map((c) => c.pid)).not.toContain(before[0]!.pid);
    expect(during[0]!.cmd).toContain('--unsafe');
    expect(bpftraceChildren(others)).toEqual([]);
  });

  it('an early bpftrace discarded (the run never happens) is killed, having run nothing', async () => {
    const others = bpftraceChildren();
    const early = startEarly(path);
    expect(await bpftraceChildrenOnce(others, 1)).toHaveLength(1);
    early.discard();
    expect(await bpftraceChildrenOnce(others, 0)).toEqual([]);
  });

  it('passes a program over 100 KiB through a temporary file', async () => {
    const { stdout, o } = opts();
    const text = `// ${'x'.repeat(110 * 1024)}\nBEGIN { @n = count(); exit(); }\nEND { printf("${MARKER_BPF}final\\n"); }\n`;
    const r = await runProgram(program(text, [agg('@n', 'count')]), o);
    expect(r.exitCode, r.message).toBe(0);
    expect(stdout.text).toMatch(/│\s+1 │/);
  });

  it('reports a missing bpftrace binary as a value', async () => {
    const { o } = opts({ bpftrace: { ...bpftrace, path: join(work, 'no-such-bpftrace') } });
    const r = await runProgram(openatProgram(uniq()), o);
    expect(r.exitCode).toBe(1);
    expect(r.message).toMatch(/^could not start bpftrace/);
  });
});

describe.each(VERSIONS)('signals to our own process, bpftrace %s', (_v, path) => {
  const bundle = join(work, 'run-child.cjs');
  beforeAll(() => {
    buildSync({ entryPoints: [join(here, 'e2e', 'run-child.ts')], bundle: true, platform: 'node', format: 'cjs', target: 'node20', outfile: bundle, logLevel: 'error' });
  });
  const child = (m: string, extra: Record<string, unknown> = {}) => {
    const cfg = JSON.stringify({ bpftrace: path, program: openatProgram(m), ...extra });
    const p = spawn(process.execPath, [bundle, cfg], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const ready = new Promise<void>((resolve, reject) => {
      p.stderr.on('data', (d: Buffer) => {
        err += d.toString();
        if (err.includes('READY\n')) resolve();
      });
      p.on('exit', () => reject(new Error(`child exited early: ${err}`)));
    });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => p.on('close', (code, signal) => resolve({ code, signal })));
    return { p, ready, exited, out: () => out, err: () => err };
  };

  it('SIGINT prints the final aggregations (Ctrl-C) and leaves no bpftrace behind', async () => {
    const m = uniq();
    const c = child(m);
    await c.ready;
    poke();
    c.p.kill('SIGINT');
    const { code } = await c.exited;
    expect(code, c.err()).toBe(0);
    expect(c.out()).toMatch(new RegExp(`│ ${COMM}\\s+│\\s+\\d+ │`));
    expect(c.err()).toContain('"stoppedBy":"signal"');
    expect(running(m)).toEqual([]);
  });

  it('SIGTERM does the same', async () => {
    const m = uniq();
    const c = child(m);
    await c.ready;
    poke();
    c.p.kill('SIGTERM');
    const { code } = await c.exited;
    expect(code, c.err()).toBe(0);
    expect(c.out()).toContain(COMM);
    expect(running(m)).toEqual([]);
  });

  it('bpftrace dies with us when our process is killed outright', async () => {
    const m = uniq();
    const c = child(m);
    await c.ready;
    expect(running(m).length).toBeGreaterThan(0);
    c.p.kill('SIGKILL');
    await c.exited;
    for (let i = 0; i < 50 && running(m).length > 0; i++) await new Promise((r) => setTimeout(r, 100));
    expect(running(m)).toEqual([]);
  });
});

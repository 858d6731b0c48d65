// `trace list`: listProbes on the demo binaries, python3's USDT notes, this node process's
// libraries, and tracefs (real and fake); listCommand's output.
import { captureStreams } from '../support/streams.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listCommand } from '../../src/commands/list.js';
import { buildDemo, type DemoBinaries } from '../../src/demo/build.js';
import { ElfFile } from '../../src/runner/elf.js';
import { globToRegExp, isNoiseFunction, listProbes, parsePattern, readTracepoints } from '../../src/runner/listing.js';

let demo: DemoBinaries;
beforeAll(async () => {
  demo = await buildDemo();
}, 600_000);

const tmp = mkdtempSync(join(tmpdir(), 'ctrace-list-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function fakeTracefs(lines: string[]): string {
  const dir = mkdtempSync(join(tmp, 'tracefs-'));
  writeFileSync(join(dir, 'available_events'), lines.join('\n') + '\n');
  return dir;
}

/** A python3 with USDT notes (Debian builds it with SystemTap probes), if installed. */
const PYTHON = ['/usr/bin/python3.11', '/usr/bin/python3'].find((p) => {
  if (!existsSync(p)) return false;
  const f = ElfFile.open(p);
  if ('error' in f) return false;
  try {
    return f.usdtProbes().length > 0;
  } finally {
    f.close();
  }
});

const streams = () => captureStreams();

describe('patterns', () => {
  it('globs', () => {
    expect(globToRegExp('main.*').test('main.handle')).toBe(true);
    expect(globToRegExp('main.*').test('mainXhandle')).toBe(false);
    expect(globToRegExp('*handle*').test('net/http.(*conn).handle')).toBe(true);
    expect(globToRegExp('main.(*Server).*').test('main.(*Server).handle')).toBe(true);
    expect(globToRegExp('sched:sched_s[wt]*').test('sched:sched_switch')).toBe(true);
    expect(globToRegExp('a?c').test('abc')).toBe(true);
    expect(globToRegExp('[!a]bc').test('abc')).toBe(false);
  });

  it('kind prefixes and binaries', () => {
    expect([...parsePattern('tracepoint:sched:*').kinds]).toEqual(['tracepoint']);
    expect([...parsePattern('t:sched:*').kinds]).toEqual(['tracepoint']);
    expect([...parsePattern('usdt:*').kinds]).toEqual(['usdt']);
    expect([...parsePattern('uprobe:main.*').kinds]).toEqual(['uprobe']);
    expect(parsePattern('main.*').kinds.size).toBe(3);
    expect(parsePattern('uprobe:/app/frontend:main.*')).toMatchObject({ binary: '/app/frontend' });
    expect(parsePattern('usdt:/usr/bin/python3:python:*')).toMatchObject({ binary: '/usr/bin/python3' });
  });

  it('noise', () => {
    expect(isNoiseFunction('type..eq.main.pair')).toBe(true);
    expect(isNoiseFunction('type..hash.[2]interface {}')).toBe(true);
    expect(isNoiseFunction('go.buildid')).toBe(true);
    expect(isNoiseFunction('main.main.func1')).toBe(false);
    expect(isNoiseFunction('runtime.morestack_noctxt.abi0')).toBe(false);
  });
});

describe('listProbes', () => {
  it("main.* on frontend: its functions, closures included, as uprobe:NAME", async () => {
    const l = await listProbes({ exeHost: demo.paths.frontend, pattern: 'main.*' });
    const names = l.probes.map((p) => p.probe);
    expect(names).toContain('uprobe:main.handle');
    expect(names).toContain('uprobe:main.main');
    expect(names.some((n) => /^uprobe:main\.main\.func\d+$/.test(n))).toBe(true);
    expect(l.probes.every((p) => p.kind === 'uprobe' && p.name.startsWith('main.'))).toBe(true);
    expect(names).toEqual([...names].sort());
    expect(new Set(names).size).toBe(names.length);
  });

  it('everything of frontend without the compiler-made helpers', async () => {
    const l = await listProbes({ exeHost: demo.paths.frontend, pattern: 'uprobe:*' });
    const names = l.probes.map((p) => p.name);
    expect(names).toContain('net/http.(*conn).serve');
    expect(names.filter((n) => n.startsWith('type..') || n === 'go.buildid')).toEqual([]);
    expect(names.length).toBeGreaterThan(3000);
  });

  it('*handle* matches functions anywhere in the name', async () => {
    const l = await listProbes({ exeHost: demo.paths.frontend, pattern: 'uprobe:*handle*' });
    expect(l.probes.map((p) => p.probe)).toContain('uprobe:main.handle');
  });

  it('a binary named in the pattern, without a target', async () => {
    const l = await listProbes({ pattern: `uprobe:${demo.paths.voting}:main.v*` });
    expect(l.probes).toContainEqual({ kind: 'uprobe', probe: `uprobe:${demo.paths.voting}:main.vote`, name: 'main.vote', binary: demo.paths.voting });
  });

  it('functions without a target or binary: a note, not an error', async () => {
    const l = await listProbes({ pattern: 'uprobe:main.*' });
    expect(l.probes).toEqual([]);
    expect(l.notes[0]).toMatch(/target \(-c NAME or -p PID\)/);
  });

  it('tracepoints from tracefs, filtered; dynamic kprobe/uprobe events left out', async () => {
    const fs = fakeTracefs(['sched:sched_switch', 'sched:sched_wakeup', 'syscalls:sys_enter_read', 'uprobes:p_foo_0x10', 'kprobes:p_bar']);
    expect(readTracepoints(fs)).toEqual(['sched:sched_switch', 'sched:sched_wakeup', 'syscalls:sys_enter_read']);
    const l = await listProbes({ pattern: 'tracepoint:sched:*', tracefs: fs });
    expect(l.probes.map((p) => p.probe)).toEqual(['tracepoint:sched:sched_switch', 'tracepoint:sched:sched_wakeup']);
    const bare = await listProbes({ pattern: '*read*', tracefs: fs });
    expect(bare.probes.map((p) => p.probe)).toEqual(['tracepoint:syscalls:sys_enter_read']);
  });

  it('tracefs missing: a note', async () => {
    const l = await listProbes({ pattern: 'tracepoint:*', tracefs: join(tmp, 'none') });
    expect(l.probes).toEqual([]);
    expect(l.notes[0]).toMatch(/tracefs is not mounted/);
  });

  it.skipIf(!existsSync('/sys/kernel/tracing/available_events'))('the real kernel has sched:sched_switch', async () => {
    const l = await listProbes({ pattern: 'tracepoint:sched:*' });
    expect(l.probes.map((p) => p.probe)).toContain('tracepoint:sched:sched_switch');
  });

  it.skipIf(!PYTHON)('USDT probes of a binary: usdt:provider:name', async () => {
    const l = await listProbes({ exeHost: PYTHON!, pattern: 'usdt:*' });
    const names = l.probes.map((p) => p.probe);
    expect(names).toContain('usdt:python:function__entry');
    expect(names).toContain('usdt:python:gc__start');
    expect(l.probes.every((p) => p.kind === 'usdt')).toBe(true);
    const some = await listProbes({ exeHost: PYTHON!, pattern: 'python:gc__*' });
    expect(some.probes.map((p) => p.probe)).toEqual(['usdt:python:gc__done', 'usdt:python:gc__start']);
  });

  it('USDT probes of the libraries a process maps (this node: libstdc++)', async () => {
    const l = await listProbes({ exeHost: process.execPath, hostPid: process.pid, pattern: 'usdt:libstdcxx:*' });
    if (!l.probes.length) return; // a node without a shared libstdc++ with SDT notes
    expect(l.probes.some((p) => /^usdt:\/[^:]*libstdc\+\+\.so[^:]*:libstdcxx:throw$/.test(p.probe))).toBe(true);
  });
});

describe('listCommand', () => {
  let child: ChildProcess | undefined;
  afterAll(() => {
    if (child?.pid) child.kill();
  });

  it('-p PID of a python3: its USDT probes, one per line, binary implicit', async () => {
    if (!PYTHON) return;
    child = spawn(PYTHON, ['-c', 'import time; time.sleep(60)'], { stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 300));
    const s = streams();
    const code = await listCommand({ pattern: 'usdt:python:*', targets: { containers: [], labels: [], pids: [child.pid!], runtime: 'auto' } }, s.io);
    expect(s.err()).toBe('');
    expect(code).toBe(0);
    const lines = s.out().trim().split('\n');
    expect(lines).toContain('usdt:python:function__entry');
  });

  it('-o json: an array of objects', async () => {
    const s = streams();
    const code = await listCommand({ pattern: `uprobe:${demo.paths.frontend}:main.handle`, output: 'json' }, s.io);
    expect(code).toBe(0);
    expect(JSON.parse(s.out())).toEqual([{ probe: `uprobe:${demo.paths.frontend}:main.handle`, kind: 'uprobe', name: 'main.handle', binary: demo.paths.frontend }]);
  });

  it('no match: exit 1 and a sentence', async () => {
    const s = streams();
    const code = await listCommand({ pattern: `uprobe:${demo.paths.frontend}:nosuch.*` }, s.io);
    expect(code).toBe(1);
    expect(s.out()).toBe('');
    expect(s.err()).toMatch(/no probes match/);
  });

  it('a target that does not exist: exit 1', async () => {
    const s = streams();
    const code = await listCommand({ targets: { containers: [], labels: [], pids: [4_194_303], runtime: 'auto' } }, s.io);
    expect(code).toBe(1);
    expect(s.err()).toMatch(/trace:/);
  });

  it('a target that cannot be one (an impossible PID, a bad name): exit 2, as for a run', async () => {
    for (const targets of [{ containers: [], labels: [], pids: [999_999_999], runtime: 'auto' as const }, { containers: ['x;y'], labels: [], pids: [], runtime: 'auto' as const }]) {
      const s = streams();
      expect(await listCommand({ targets }, s.io)).toBe(2);
      expect(s.err()).toMatch(/^trace: .* is not a valid/);
    }
  });
});

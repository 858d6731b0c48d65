// End to end: the real CLI, real bpftrace, real processes on this host (issue 2's acceptance).

import { afterEach, describe, expect, it } from 'vitest';
import { background, bpftraceProcesses, runTrace, startTrace } from '../support/trace.js';

const stoppers: (() => void)[] = [];
afterEach(() => {
  while (stoppers.length) stoppers.pop()!();
});

describe('trace on the host', () => {
  it('counts openat by process name, sorted, and exits 0 after --duration', async () => {
    stoppers.push(background('while :; do cat /etc/hostname >/dev/null; done'));
    const r = await runTrace(['tracepoint:syscalls:sys_enter_openat { @[execname] = count(); }', '--duration', '2s']);
    expect(r.stderr).not.toMatch(/error|at .*\.js:\d+/i);
    expect(r.code).toBe(0);
    const rows = [...r.stdout.matchAll(/│\s*(\S[^│]*?)\s*│\s*(\d+)\s*│/g)].map((m) => ({ name: m[1]!, count: Number(m[2]) }));
    expect(rows.find((row) => row.name === 'cat')?.count ?? 0).toBeGreaterThan(10);
    const counts = rows.map((row) => row.count);
    expect(counts).toEqual([...counts].sort((a, b) => a - b));
  });

  it('prints a power-of-two distribution of bytes read by cat (D syscall provider)', async () => {
    stoppers.push(background('while :; do cat /etc/services >/dev/null; done'));
    const r = await runTrace(['syscall::read:return /execname == "cat"/ { @bytes = quantize(arg1); }', '--duration', '2s']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/value\s+-+ Distribution -+\s+count/);
    const rows = [...r.stdout.matchAll(/^\s*(-?\d+)\s+\|(@*)\s*(\d+)\s*$/gm)].map((m) => ({ value: Number(m[1]), count: Number(m[3]) }));
    expect(rows.length).toBeGreaterThan(1);
    for (const row of rows) {
      if (row.value > 0) expect(Math.log2(row.value) % 1).toBe(0);
    }
    expect(rows.reduce((s, row) => s + row.count, 0)).toBeGreaterThan(10);
  });

  it('Ctrl-C prints the final table, exits 0 and leaves no bpftrace behind', async () => {
    const marker = 'ctrace_sigint_marker_31337';
    stoppers.push(background('while :; do cat /etc/hostname >/dev/null; done'));
    const t = startTrace([`tracepoint:syscalls:sys_enter_openat /execname != "${marker}"/ { @[execname] = count(); }`]);
    await t.waitFor(/attached|Attaching|probes/i, 30_000).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 1500));
    expect(bpftraceProcesses(marker).length).toBe(1);
    t.child.kill('SIGINT');
    const r = await t.done;
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/cat/);
    expect(bpftraceProcesses(marker)).toEqual([]);
  });
});

describe('errors are one clear message with a caret, exit 2', () => {
  const cases: [string, string, RegExp][] = [
    ['syntax error', 'syscall::read:entry { @x = count( }', /^<command line>:1:\d+: error CT1\d{3}: /m],
    ['unknown aggregating function', 'syscall::read:entry { @x = quantise(arg0); }', /^<command line>:1:28: error CT2001: unknown function 'quantise'/m],
    ['wrong arity', 'syscall::read:entry { @x = quantize(); }', /^<command line>:1:28: error CT2004: quantize\(\) takes 1 argument, but 0 were given/m],
  ];
  it.each(cases)('%s', async (_name, program, headline) => {
    const r = await runTrace([program]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(headline);
    expect(r.stderr).toMatch(/^\s+1 \| syscall::read:entry/m);
    expect(r.stderr).toMatch(/^\s+\|\s+\^/m);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(r.stdout).toBe('');
  });

  it('a missing bpftrace is one sentence, exit 1', async () => {
    const r = await runTrace(['BEGIN { exit(); }', '--bpftrace', '/nonexistent/bpftrace']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/bpftrace/);
  });

  it('--emit bpftrace prints the program without running it', async () => {
    const r = await runTrace(['--emit', 'bpftrace', 'syscall::read:entry { @[pid] = count(); }']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^tracepoint:syscalls:sys_enter_read$/m);
    expect(r.stdout).toMatch(/@\[pid\] = count\(\);/);
  });

  it('--version and --help', async () => {
    const v = await runTrace(['--version']);
    expect(v.code).toBe(0);
    expect(v.stdout).toMatch(/^trace \d+\.\d+\.\d+/);
    const h = await runTrace(['--help']);
    expect(h.code).toBe(0);
    expect(h.stdout).toMatch(/Examples:/);
  });
});

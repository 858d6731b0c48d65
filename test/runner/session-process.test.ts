// The session over a ProgramProcess that is not a local bpftrace (as a helper's relay is):
// lines in, tables and results out, with no process or clock of our own.

import { describe, expect, it } from 'vitest';
import type { ProcessEnd, ProcessHandlers, ProgramProcess } from '../../src/runner/bpftrace-process.js';
import type { BpftraceInfo } from '../../src/runner/bpftrace.js';
import { runProgram } from '../../src/runner/session.js';
import type { Aggregation } from '../../src/runner/aggregate.js';
import { agg, key, program } from './helpers.js';

const INFO = { path: '/nonexistent/bpftrace', version: { major: 0, minor: 23, patch: 2 }, text: '', features: { jsonKeysDoubleEscaped: true } } as unknown as BpftraceInfo;

/** Replays `lines`, then ends as `end` says; records interrupts. */
function replay(lines: string[], end: ProcessEnd): ProgramProcess & { interrupts: number } {
  const p = {
    interrupts: 0,
    start(h: ProcessHandlers) {
      queueMicrotask(() => {
        for (const l of lines) h.stdout(l);
        h.end(end);
      });
    },
    interrupt() {
      p.interrupts++;
    },
    kill() {},
  };
  return p;
}

function sink(): { write(s: string): boolean; text: string } {
  const s = { text: '', write: (t: string) => ((s.text += t), true) };
  return s;
}

const prog = program('BEGIN { printf("\\037ctrace:ready\\n"); }\nEND { printf("\\037ctrace:final\\n"); }', [agg('@', 'count', [key('comm')])]);
const READY = '{"type": "printf", "data": "\\u001fctrace:ready\\n"}';
const FINAL = '{"type": "printf", "data": "\\u001fctrace:final\\n"}';

describe('runProgram over a relayed process', () => {
  it('renders the final table from relayed lines and exits 0', async () => {
    const out = sink();
    const err = sink();
    const r = await runProgram(prog, { bpftrace: INFO, process: replay([READY, FINAL, '{"type": "map", "data": {"@": {"cat": 3}}}'], { kind: 'exit', code: 0, signal: null }), output: 'table', stdout: out, stderr: err, handleSignals: false, progress: false });
    expect(r.exitCode).toBe(0);
    expect(out.text).toMatch(/cat\s+│\s+3/);
    expect(err.text).toBe('');
  });

  it('says so when bpftrace exits without its final dump, instead of ending silently', async () => {
    const out = sink();
    const err = sink();
    const r = await runProgram(prog, { bpftrace: INFO, process: replay([READY], { kind: 'exit', code: 0, signal: null }), output: 'table', stdout: out, stderr: err, handleSignals: false, progress: false });
    expect(r.exitCode).toBe(0);
    expect(err.text).toMatch(/^trace: bpftrace exited without printing its final aggregations/);
  });

  it('a process that never ran is one sentence and exit 1, with no table', async () => {
    const out = sink();
    const err = sink();
    const r = await runProgram(prog, { bpftrace: INFO, process: replay([], { kind: 'failed', message: 'lost the connection to the helper on web1' }), output: 'table', stdout: out, stderr: err, handleSignals: false, progress: false });
    expect(r.exitCode).toBe(1);
    expect(r.message).toBe('lost the connection to the helper on web1');
    expect(out.text).toBe('');
  });

  it('onText takes what the program prints, instead of stdout (trace tap parses it)', async () => {
    const out = sink();
    const texts: string[] = [];
    const line = '{"type": "printf", "data": "1\\u001fweb\\n"}';
    const r = await runProgram(prog, { bpftrace: INFO, process: replay([READY, line, line, FINAL, '{"type": "map", "data": {"@": {"cat": 3}}}'], { kind: 'exit', code: 0, signal: null }), output: 'table', stdout: out, stderr: sink(), handleSignals: false, progress: false, onText: (t) => texts.push(t) });
    expect(r.exitCode).toBe(0);
    expect(texts).toEqual(['1\x1fweb\n', '1\x1fweb\n']);
    // The markers are not text, and the tables still go to stdout.
    expect(out.text).not.toContain('web');
    expect(out.text).toMatch(/cat\s+│\s+3/);
  });
});

/** A process the test drives: `h` once started; records interrupts and kills. */
function driven(): ProgramProcess & { h?: ProcessHandlers; interrupts: number; kills: number } {
  const p: ProgramProcess & { h?: ProcessHandlers; interrupts: number; kills: number } = {
    interrupts: 0,
    kills: 0,
    start: (h) => void (p.h = h),
    interrupt: () => void p.interrupts++,
    kill: () => void p.kills++,
  };
  return p;
}

const printf = (text: string) => JSON.stringify({ type: 'printf', data: text });
const SNAP = printf('\u001fctrace:snap\n');
const END = printf('\u001fctrace:end\n');
/** What earlier bpftrace runs of a followed container counted. */
const CARRIED: Aggregation[] = [{ kind: 'scalar', name: '@', func: 'count', keys: [key('comm')], rows: [{ keys: ['cat'], value: 2 }, { keys: ['dog'], value: 5 }] }];

describe('runProgram carrying earlier runs (--follow)', () => {
  it('adds the carried aggregations into snapshots, the final table and the result', async () => {
    const out = sink();
    const snaps: (readonly Aggregation[])[] = [];
    const lines = [READY, SNAP, '{"type": "map", "data": {"@": {"cat": 1}}}', END, FINAL, '{"type": "map", "data": {"@": {"cat": 3}}}'];
    const r = await runProgram(prog, { bpftrace: INFO, process: replay(lines, { kind: 'exit', code: 0, signal: null }), output: 'table', stdout: out, stderr: sink(), handleSignals: false, progress: false, carried: CARRIED, onSnapshot: (a) => snaps.push(a) });
    expect(snaps.map((s) => s[0]!.rows)).toEqual([[{ keys: ['cat'], value: 3 }, { keys: ['dog'], value: 5 }]]);
    expect(r.aggregations[0]!.rows).toEqual([{ keys: ['cat'], value: 5 }, { keys: ['dog'], value: 5 }]);
    expect(out.text).toMatch(/cat\s+│\s+5/);
    expect(out.text).toMatch(/dog\s+│\s+5/);
  });

  it('detached: interrupted once, shows nothing it prints from then on, returns its maps', async () => {
    const out = sink();
    const p = driven();
    const detach = new AbortController();
    const done = runProgram(prog, { bpftrace: INFO, process: p, output: 'table', stdout: out, stderr: sink(), handleSignals: false, progress: false, detach: detach.signal });
    p.h!.stdout(READY);
    p.h!.stdout(printf('before\n'));
    detach.abort();
    expect(p.interrupts).toBe(1);
    // What END prints, and the exit dump.
    for (const l of [printf('from END\n'), FINAL, '{"type": "map", "data": {"@": {"cat": 4}}}']) p.h!.stdout(l);
    p.h!.end({ kind: 'exit', code: 0, signal: null });
    const r = await done;
    expect(r).toMatchObject({ exitCode: 0, stoppedBy: 'detach' });
    expect(r.aggregations[0]!.rows).toEqual([{ keys: ['cat'], value: 4 }]);
    await new Promise((res) => setImmediate(res));
    expect(out.text).toBe('before\n');
    expect(p.kills).toBe(0);
  });

  it('a line printed through onStart on a terminal is not drawn over by the next snapshot', async () => {
    const tty = () => Object.assign(sink(), { isTTY: true, columns: 80 });
    const out = tty();
    const p = driven();
    let say: (line: string) => void = () => {};
    const done = runProgram(prog, { bpftrace: INFO, process: p, output: 'table', stdout: out, stderr: tty(), env: { TERM: 'xterm', NO_COLOR: '1' }, handleSignals: false, progress: false, onStart: (r) => (say = r.message) });
    const snap = (n: number) => [SNAP, `{"type": "map", "data": {"@": {"cat": ${n}}}}`, END].forEach((l) => p.h!.stdout(l));
    p.h!.stdout(READY);
    snap(1);
    snap(2);
    say('trace: a line between snapshots');
    snap(3);
    p.h!.end({ kind: 'exit', code: 0, signal: null });
    await done;
    // Redrawn in place once (over 1), then drawn below the line (3 is not drawn over it).
    expect(out.text.match(/\u001b\[\d+A/g)).toHaveLength(1);
  });

  it('detached before it attached, a bpftrace killed by the SIGINT is a clean end, not a failure', async () => {
    const p = driven();
    const detach = new AbortController();
    const done = runProgram(prog, { bpftrace: INFO, process: p, output: 'table', stdout: sink(), stderr: sink(), handleSignals: false, progress: false, detach: detach.signal, carried: CARRIED });
    detach.abort();
    p.h!.end({ kind: 'exit', code: null, signal: 'SIGINT' });
    const r = await done;
    expect(r).toMatchObject({ exitCode: 0, stoppedBy: 'detach' });
    expect(r.aggregations).toEqual(CARRIED);
  });
});

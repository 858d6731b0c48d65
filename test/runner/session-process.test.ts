// The session over a ProgramProcess that is not a local bpftrace (as a helper's relay is):
// lines in, tables and results out, with no process or clock of our own.

import { describe, expect, it } from 'vitest';
import type { ProcessEnd, ProcessHandlers, ProgramProcess } from '../../src/runner/bpftrace-process.js';
import type { BpftraceInfo } from '../../src/runner/bpftrace.js';
import { runProgram } from '../../src/runner/session.js';
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

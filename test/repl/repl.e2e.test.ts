// `trace repl` end to end (issue 7's acceptance): the built CLI in a real terminal (tmux),
// real bpftrace, the demo's Go services in podman containers, counts compared exactly with
// what the load generator sent.

import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { cleanupStale, useTestContainers, type TestContainer } from '../support/containers.js';
import { bpftraceProcesses, parseTables, runTrace, TRACE, type TextTable } from '../support/trace.js';
import { count, outputOf, Tmux } from './tmux.js';

const pool = useTestContainers();
const tmp = mkdtempSync(join(tmpdir(), 'ctrace-repl-e2e-'));
/** docker installed but not answering (no engine here): target messages name only podman. */
const ENV = { NO_COLOR: '1', HOME: tmp, DOCKER_HOST: `unix://${tmp}/no-docker.sock` };

let front: TestContainer;
const sessions: Tmux[] = [];

beforeAll(async () => {
  await cleanupStale();
  const [[voting], [emoji]] = await Promise.all([pool.start('voting', 1, { args: ['-fail-rate', '0'] }), pool.start('emoji', 1)]);
  [front] = (await pool.start('frontend', 1, { args: ['-voting', voting!.url, '-emoji', emoji!.url] })) as [TestContainer];
});

afterEach(() => {
  while (sessions.length) sessions.pop()!.kill();
});

afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** `trace repl -c FRONTEND` in a fresh terminal, at its first prompt. */
async function repl(): Promise<Tmux> {
  const t = new Tmux();
  sessions.push(t);
  t.start([process.execPath, TRACE, 'repl', '-c', front.name], ENV);
  await t.waitFor((s) => /^trace> $/m.test(s), 'the first prompt');
  return t;
}

/** { arg0: count } of a two-column table. */
const byKey = (t: TextTable | undefined): Record<string, number> => Object.fromEntries((t?.rows ?? []).map((r) => [r[0]!, Number(r[1])]));

/** Runs `:print` (the nth) and returns its tables, once its output is complete. */
async function print(t: Tmux, nth: number): Promise<TextTable[]> {
  t.line(':print');
  const s = await t.waitFor((x) => outputOf(x, ':print', nth) !== null, `the output of :print #${nth}`);
  return parseTables(outputOf(s, ':print', nth)!);
}

describe('trace repl in a terminal', () => {
  it('shows a syntax error with a caret, then runs, and keeps the counts across an added clause', async () => {
    const t = await repl();

    // A clause with a syntax error: the caret sits under the ';' where an operand is missing.
    t.line('uprobe:main.handle { @[arg0] = count() + ; }');
    let s = await t.waitForCount('error CT1010', 1);
    const lines = s.split('\n');
    const at = lines.findIndex((l) => l.includes('error CT1010: expected an expression'));
    expect(lines[at]).toMatch(/^<input>:1:42: error CT1010/);
    const [src, caret] = [lines[at + 1]!, lines[at + 2]!];
    expect(src).toMatch(/^\s+1 \| uprobe:main\.handle/);
    expect(caret).toMatch(/^\s+\| +\^$/);
    expect(caret.indexOf('^')).toBe(src.indexOf('; }'));

    // Fixed, it is added; :start attaches.
    t.line('uprobe:main.handle { @[arg0] = count(); }');
    await t.waitForCount('added as clause 1', 1);
    t.line(':start');
    await t.waitForCount('attached: tracing container', 1);

    const before = await pool.load(front, '/vote?n={n}', { requests: 30, ns: [1, 2, 3], concurrency: 3 });
    expect(before.byN).toEqual({ 1: 10, 2: 10, 3: 10 });
    const first = await print(t, 1);
    expect(first).toHaveLength(1);
    expect(first[0]!.header).toEqual(['arg0', 'count']);
    expect(byKey(first[0])).toEqual(before.byN);

    // A second clause, typed over three lines: the session re-attaches with both.
    t.line('uprobe:main.handle {');
    await t.waitFor((x) => /^\.\.\.> $/m.test(x), 'the continuation prompt');
    t.line('  @calls = count();');
    t.line('}');
    await t.waitForCount('re-attached with 2 clauses', 1);

    const after = await pool.load(front, '/vote?n={n}', { requests: 12, ns: [1, 2], concurrency: 2 });
    expect(after.byN).toEqual({ 1: 6, 2: 6 });
    const second = await print(t, 2);
    expect(second.map((x) => x.title)).toEqual(['', '@calls']);
    // The first clause's counts: everything sent before and after the swap, exactly.
    expect(byKey(second[0])).toEqual({ 1: 16, 2: 16, 3: 10 });
    expect(Number(second[1]!.rows[0]![0])).toBe(12);

    // Ctrl-D leaves, printing the final tables (the same counts: the exit dump is exact).
    t.keys('C-d');
    s = await t.waitFor(() => t.exited(), 'trace repl to exit');
    const final = parseTables(s.slice(s.lastIndexOf('trace> ')));
    expect(byKey(final[0])).toEqual({ 1: 16, 2: 16, 3: 10 });
    expect(Number(final[1]!.rows[0]![0])).toBe(12);
    // and the history was kept, in ~/.ctrace_history (HOME is the test's directory)
    expect(readFileSync(join(tmp, '.ctrace_history'), 'utf8')).toContain(':start\n');
  });

  it('Tab completes main.ha to main.handle against the container', async () => {
    const t = await repl();
    t.type('uprobe:main.ha');
    t.keys('Tab');
    await t.waitFor((s) => /^trace> uprobe:main\.handle$/m.test(s), 'the completed line');
    // in a block: builtins and aggregating functions
    t.type(' { @[exec');
    t.keys('Tab');
    t.type('] = quan');
    t.keys('Tab');
    await t.waitFor((s) => /^trace> uprobe:main\.handle \{ @\[execname\] = quantize\($/m.test(s), 'the completed clause');
    t.keys('C-c');
    await t.waitFor((s) => /\^C\ntrace> $/.test(s.trimEnd() + ' '), 'the cleared line');
    t.keys('C-d');
    await t.waitFor(() => t.exited(), 'trace repl to exit');
  });

  it('Ctrl-C during a run returns to the prompt and leaves no bpftrace running', async () => {
    const marker = `ctrlc_${randomBytes(4).toString('hex')}`;
    const t = await repl();
    t.line(`uprobe:main.handle { @${marker} = count(); }`);
    await t.waitForCount('added as clause 1', 1);
    t.line(':start');
    await t.waitForCount('attached: tracing container', 1);
    expect(bpftraceProcesses(marker)).toHaveLength(1);
    const sent = await pool.load(front, '/vote?n={n}', { requests: 8, ns: [4], concurrency: 2 });

    t.keys('C-c');
    const s = await t.waitForCount('stopped: detached', 1);
    expect(s.trimEnd().split('\n').pop()).toBe('trace>');
    expect(bpftraceProcesses(marker)).toEqual([]);
    expect(t.exited()).toBe(false);

    // Still in the session, with the clause and what it gathered.
    const [table] = await print(t, 1);
    expect(table!.title).toBe(`@${marker}`);
    expect(Number(table!.rows[0]![0])).toBe(sent.sent);
    t.line(':list');
    await t.waitFor((x) => outputOf(x, ':list') !== null, ':list');
    expect(outputOf(t.screen(), ':list')).toContain(`1  uprobe:main.handle { @${marker} = count(); }`);
    t.keys('C-d');
    await t.waitFor(() => t.exited(), 'trace repl to exit');
    expect(bpftraceProcesses(marker)).toEqual([]);
  });
});

describe('trace repl, scripted (stdin not a terminal)', () => {
  it(':save writes a .d file that `trace FILE.d --emit bpftrace` compiles to what :emit shows', async () => {
    const file = join(tmp, 'session.d');
    const script = [
      '#pragma D option quiet',
      'pid$target::main.handle:entry { self->ts = timestamp; }',
      'pid$target::main.handle:return',
      '/self->ts/',
      '{',
      '  @lat = latency(timestamp - self->ts);',
      '  self->ts = 0;',
      '}',
      'uprobe:main.call < @calls = count() >',
      ':list',
      ':emit',
      `:save ${file}`,
    ].join('\n');
    const r = await execa(process.execPath, [TRACE, 'repl', '-c', front.name], { input: script + '\n', env: ENV, reject: false, stripFinalNewline: false });
    expect(r.stderr).toContain(`saved 4 items to ${file}`);
    expect(r.exitCode).toBe(0);
    expect(existsSync(file)).toBe(true);
    const listed = r.stdout.slice(0, r.stdout.indexOf('BEGIN'));
    expect(listed).toContain('1  #pragma D option quiet\n2  pid$target::main.handle:entry { self->ts = timestamp; }\n3  pid$target::main.handle:return\n   /self->ts/\n');
    const emitted = r.stdout.slice(listed.length);
    expect(emitted).toMatch(/^BEGIN\n/);
    expect(emitted).toContain('main.handle');

    const cli = await runTrace(['-c', front.name, '--emit', 'bpftrace', file], { env: ENV });
    expect(cli.stderr).toBe('');
    expect(cli.code).toBe(0);
    expect(cli.stdout).toBe(emitted);
    expect(count(readFileSync(file, 'utf8'), 'pid$target::main.handle')).toBe(2);
  });
});

// The REPL's pure parts: reading multi-line clauses, splitting items, :commands, completion
// candidates, and keeping aggregations across attachments.

import { describe, expect, it } from 'vitest';
import type { AggregationInfo } from '../../src/compiler/program.js';
import type { ScalarAggregation } from '../../src/runner/aggregate.js';
import { parseCommand, isCommandLine, helpText, COMMANDS } from '../../src/repl/commands.js';
import { complete, cursorContext, probeCandidates, type CompletionSources } from '../../src/repl/complete.js';
import { completeness, LineAccumulator, oneLine, programText, splitItems } from '../../src/repl/input.js';
import { AggregationStore, describe as describeAgg } from '../../src/repl/store.js';
import { describeSpec, hasTarget, targetRequest, type TargetSpec } from '../../src/repl/compile.js';
import { hostOptionsFrom } from '../../src/commands/run-options.js';

describe('when a clause is complete', () => {
  it.each([
    ['', 'empty'],
    ['// only a comment', 'empty'],
    ['uprobe:main.handle { @[arg0] = count(); }', 'complete'],
    ['uprobe:main.handle < @[arg0] = count() >', 'complete'],
    ['uprobe:main.handle {', 'open'],
    ['uprobe:main.handle { if (arg0) {', 'open'],
    ['uprobe:main.handle {\n  @n = count();', 'open'],
    ['uprobe:main.handle < @x[(arg0 > 1)] = count()', 'open'],
    ['uprobe:main.handle { /* a comment', 'open'],
    ['syscall::read:entry', 'header'],
    ['syscall::read:entry\n/execname == "cat"/', 'header'],
    ['syscall::read:entry /execname == "cat"', 'header'],
    ['#pragma D option quiet', 'complete'],
    // broken beyond what more lines can fix: shown at once
    ['uprobe:main.handle { printf("unterminated); }', 'complete'],
    ['uprobe:main.handle { @x = count() + ; }', 'complete'],
  ])('%j is %s', (text, want) => {
    expect(completeness(text)).toBe(want);
  });
});

describe('LineAccumulator', () => {
  it('collects a clause over several lines, then hands it over whole', () => {
    const acc = new LineAccumulator();
    expect(acc.push('uprobe:main.handle {')).toEqual({ kind: 'more' });
    expect(acc.continuing).toBe(true);
    expect(acc.push('  @n[arg0] = count();')).toEqual({ kind: 'more' });
    expect(acc.push('')).toEqual({ kind: 'more' }); // an empty line inside a block does not submit
    expect(acc.push('}')).toEqual({ kind: 'chunk', text: 'uprobe:main.handle {\n  @n[arg0] = count();\n\n}' });
    expect(acc.continuing).toBe(false);
  });

  it('one-line clauses and commands pass at once; blank lines are nothing', () => {
    const acc = new LineAccumulator();
    expect(acc.push('  ')).toEqual({ kind: 'nothing' });
    expect(acc.push(' :start ')).toEqual({ kind: 'command', line: ':start' });
    expect(acc.push('tick-1s { @t = count(); }')).toEqual({ kind: 'chunk', text: 'tick-1s { @t = count(); }' });
  });

  it('a D-style header waits for its block, or is submitted by an empty line', () => {
    const acc = new LineAccumulator();
    expect(acc.push('syscall::read:entry')).toEqual({ kind: 'more' });
    expect(acc.push('/execname == "cat"/')).toEqual({ kind: 'more' });
    expect(acc.push('{ @r = count(); }')).toEqual({ kind: 'chunk', text: 'syscall::read:entry\n/execname == "cat"/\n{ @r = count(); }' });
    expect(acc.push('syscall::read:entry')).toEqual({ kind: 'more' });
    expect(acc.push('')).toEqual({ kind: 'chunk', text: 'syscall::read:entry' });
  });

  it('a known command in the middle of a clause runs, and the clause stays pending', () => {
    const acc = new LineAccumulator();
    acc.push('uprobe:main.handle {');
    expect(acc.push(':help')).toEqual({ kind: 'command', line: ':help' });
    expect(acc.pending).toBe('uprobe:main.handle {');
    // ...but a ternary's ':' on a continued line is clause text
    expect(acc.push('  @x = arg0 ? 1')).toEqual({ kind: 'more' });
    expect(acc.push('  : 2; }')).toEqual({ kind: 'chunk', text: 'uprobe:main.handle {\n  @x = arg0 ? 1\n  : 2; }' });
  });

  it('flush hands over an unfinished clause at the end of input; reset drops it', () => {
    const acc = new LineAccumulator();
    acc.push('uprobe:main.handle {');
    expect(acc.flush()).toBe('uprobe:main.handle {');
    expect(acc.flush()).toBeNull();
    acc.push('uprobe:main.handle {');
    acc.reset();
    expect(acc.continuing).toBe(false);
  });
});

describe('items', () => {
  it('splits text into clauses and pragmas, dropping comments between them', () => {
    const text = '#pragma D option quiet\n// hello\nuprobe:main.handle { @a = count(); } tick-1s\n{\n  printa(@a);\n}\n';
    const items = splitItems(text);
    expect(items.map(({ kind, text: t }) => [kind, t])).toEqual([
      ['pragma', '#pragma D option quiet'],
      ['clause', 'uprobe:main.handle { @a = count(); }'],
      ['clause', 'tick-1s\n{\n  printa(@a);\n}'],
    ]);
    expect(text.slice(items[1]!.start).startsWith('uprobe:main.handle')).toBe(true);
    expect(programText(items)).toBe('#pragma D option quiet\nuprobe:main.handle { @a = count(); }\ntick-1s\n{\n  printa(@a);\n}\n');
  });

  it('puts a clause on one line for editing, comments and all', () => {
    expect(oneLine('uprobe:main.handle { @a = count(); }')).toBe('uprobe:main.handle { @a = count(); }');
    expect(oneLine('uprobe:main.handle // the card\n{\n  @a[arg0] = count(); // per n\n  printf("a  b");\n}')).toBe(
      'uprobe:main.handle { @a[arg0] = count(); printf("a  b"); }',
    );
  });
});

describe(':commands', () => {
  it.each([
    [':start', { name: 'start' }],
    [':q', { name: 'quit' }],
    [':clear', { name: 'clear', aggregation: null }],
    [':clear @lat', { name: 'clear', aggregation: '@lat' }],
    [':del 2', { name: 'del', index: 2 }],
    [':edit 3', { name: 'edit', index: 3, text: null }],
    [':edit 3 uprobe:main.handle { @x = count(); }', { name: 'edit', index: 3, text: 'uprobe:main.handle { @x = count(); }' }],
    [':save /tmp/x.d', { name: 'save', file: '/tmp/x.d' }],
    [':load probes/a b.d', { name: 'load', file: 'probes/a b.d' }],
    [':interval 1s', { name: 'interval', ms: 1000 }],
    [':interval 250ms', { name: 'interval', ms: 250 }],
    [':interval off', { name: 'interval', ms: null }],
    [':interval', { name: 'interval', ms: undefined }],
    [':target web-1', { name: 'target', container: 'web-1', pid: null }],
    [':target -c web-1', { name: 'target', container: 'web-1', pid: null }],
    [':target -p 1234', { name: 'target', container: null, pid: 1234 }],
    [':sleep 2s', { name: 'sleep', ms: 2000 }],
  ])('%s', (line, command) => {
    expect(parseCommand(line)).toEqual({ ok: true, command });
  });

  it.each([
    [':frobnicate', /unknown command ':frobnicate'/],
    [':sta', /did you mean :start\?/],
    [':start now', /takes no argument/],
    [':del', /usage: :del N/],
    [':del two', /usage: :del N/],
    [':clear lat', /aggregation name/],
    [':interval soon', /bad interval 'soon'/],
    [':sleep', /usage: :sleep/],
    [':target -p abc', /bad PID 'abc'/],
    [':save', /usage: :save FILE/],
  ])('%s is refused', (line, message) => {
    const r = parseCommand(line);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.message).toMatch(message);
  });

  it('knows its commands (and nothing that merely starts with a colon)', () => {
    expect(isCommandLine(':print')).toBe(true);
    expect(isCommandLine(':edit 2 x')).toBe(true);
    expect(isCommandLine(': 2; }')).toBe(false);
    expect(isCommandLine(':arg0')).toBe(false);
    for (const c of COMMANDS) expect(helpText()).toContain(c.usage);
  });
});

describe('completion', () => {
  const src: CompletionSources = {
    functions: ['main.call', 'main.handle', 'main.main', 'main.main.func1', 'main.(*Server).ServeHTTP', 'runtime.mallocgc'],
    usdt: ['usdt:/usr/lib/libpython3.so:python:gc__start'],
    tracepoints: ['sched:sched_switch', 'sched:sched_wakeup', 'syscalls:sys_enter_openat'],
    aggregations: ['@lat', '@calls'],
    listDir: (dir) => (dir === '.' ? ['probes/', 'prog.d', 'README.md'] : dir === 'probes/' ? ['a.d', 'b.d'] : []),
  };

  it('completes a function of the target as uprobe: (the Tab test)', () => {
    expect(complete('uprobe:main.ha', '', src)).toEqual([['uprobe:main.handle'], 'uprobe:main.ha']);
    expect(complete('uretprobe:main.m', '', src)[0]).toEqual(['uretprobe:main.main', 'uretprobe:main.main.func1']);
    // quoted only when asked: names with glob characters need quotes
    expect(complete('uprobe:main.(', '', src)[0]).toEqual([]);
    expect(complete('uprobe:"main.(', '', src)[0]).toEqual(['uprobe:"main.(*Server).ServeHTTP"']);
  });

  it('completes pid$target:: functions with :entry and :return', () => {
    expect(complete('pid$target::main.ha', '', src)[0]).toEqual(['pid$target::main.handle:entry', 'pid$target::main.handle:return']);
    expect(complete('pid$target::main.handle:r', '', src)[0]).toEqual(['pid$target::main.handle:return']);
  });

  it('completes tracepoints, syscalls, usdt probes and probe heads', () => {
    expect(complete('tracepoint:sched:sched_s', '', src)[0]).toEqual(['tracepoint:sched:sched_switch']);
    expect(complete('syscall::openat', '', src)[0]).toEqual(['syscall::openat2:entry', 'syscall::openat2:return', 'syscall::openat:entry', 'syscall::openat:return']);
    expect(complete('usdt:', '', src)[0]).toEqual(['usdt:/usr/lib/libpython3.so:python:gc__start']);
    expect(complete('upr', '', src)[0]).toEqual(['uprobe:']);
    expect(complete('pid', '', src)[0]).toEqual(['pid$target::']);
    expect(complete('BE', '', src)[0]).toEqual(['BEGIN']);
    expect(complete('proc:::e', '', src)[0]).toEqual(['proc:::exec-success', 'proc:::exit']);
    // after a comma, the next probe
    expect(complete('uprobe:main.call,uprobe:main.ha', '', src)).toEqual([['uprobe:main.handle'], 'uprobe:main.ha']);
    expect(probeCandidates('uprobe:/usr/lib/x.so:f', src)).toEqual([]);
  });

  it('inside a block: builtins, functions, @names', () => {
    expect(complete('uprobe:main.handle { @x = quan', '', src)[0]).toEqual(['quantize(']);
    expect(complete('uprobe:main.handle { @x[exec', '', src)[0]).toEqual(['execname']);
    expect(complete('uprobe:main.handle { @x[pid] = count(); @c', '', src)[0]).toEqual(['@calls']);
    expect(complete('uprobe:main.handle { @', '', src)[0]).toEqual(['@calls', '@lat']);
    // an @name of the clause being typed
    expect(complete('uprobe:main.handle { @mine = count(); @mi', '', src)[0]).toEqual(['@mine']);
    expect(complete('uprobe:main.handle { self->ts = timestamp; self->t', '', src)[0]).toEqual([]);
    // in the predicate too, and across continued lines
    expect(complete('/exec', 'syscall::read:entry', src)[0]).toEqual(['execname']);
    expect(complete('  @l', 'uprobe:main.handle {', src)[0]).toEqual(['@lat']);
    // after a closed clause, probes again
    expect(cursorContext('uprobe:main.handle { @a = count(); } ')).toBe('probe');
    expect(cursorContext('uprobe:main.handle /arg0 > 1/ ')).toBe('probe');
    expect(cursorContext('uprobe:main.handle < @a = count() ')).toBe('expr');
  });

  it(':commands, @names for :clear, paths for :save and :load', () => {
    expect(complete(':st', '', src)[0]).toEqual([':start', ':stop']);
    expect(complete(':', '', src)[0]).toHaveLength(COMMANDS.length);
    expect(complete(':clear @l', '', src)[0]).toEqual(['@lat']);
    expect(complete(':load pr', '', src)[0]).toEqual(['probes/', 'prog.d']);
    expect(complete(':save probes/', '', src)[0]).toEqual(['probes/a.d', 'probes/b.d']);
  });
});

describe('aggregations across attachments', () => {
  const info = (name: string, func: AggregationInfo['func'], keys: string[] = [], valueLabel?: string): AggregationInfo => ({
    name,
    func,
    keys: keys.map((label) => ({ label, type: 'int' as const, transform: 'none' as const })),
    maps: [name],
    span: { start: 0, end: 0 },
    ...(valueLabel ? { valueLabel } : {}),
  });
  const counts = (name: string, rows: [number, number][]): ScalarAggregation => ({
    name,
    kind: 'scalar',
    func: 'count',
    keys: [{ label: 'arg0', type: 'int', transform: 'none' }],
    rows: rows.map(([k, v]) => ({ keys: [k], value: v })),
  });
  const rowsOf = (a: ScalarAggregation | undefined) => Object.fromEntries((a?.rows ?? []).map((r) => [String(r.keys[0]), r.value]));

  it('keeps what earlier runs gathered and merges it with the live snapshot', () => {
    const s = new AggregationStore();
    const first = [info('@n', 'count', ['arg0'], 'count')];
    expect(s.beginRun(first)).toEqual([]);
    s.snapshot([counts('@n', [[1, 3]])]);
    expect(rowsOf(s.merged()[0] as ScalarAggregation)).toEqual({ 1: 3 });
    s.endRun([counts('@n', [[1, 5], [2, 1]])]); // the exit dump is exact
    // a second program: same @n, plus @m
    expect(s.beginRun([...first, info('@m', 'count', [], 'count')])).toEqual([]);
    expect(rowsOf(s.merged()[0] as ScalarAggregation)).toEqual({ 1: 5, 2: 1 });
    s.snapshot([counts('@n', [[1, 2], [3, 4]])]);
    expect(s.names).toEqual(['@n']);
    expect(rowsOf(s.merged()[0] as ScalarAggregation)).toEqual({ 1: 7, 2: 1, 3: 4 });
    s.endRun([counts('@n', [[1, 2], [3, 4]])]);
    expect(rowsOf(s.merged()[0] as ScalarAggregation)).toEqual({ 1: 7, 2: 1, 3: 4 });
  });

  it('does not merge an aggregation whose definition changed, and says so', () => {
    const s = new AggregationStore();
    s.beginRun([info('@n', 'count', ['arg0'], 'count')]);
    s.endRun([counts('@n', [[1, 5]])]);
    const changed = info('@n', 'sum', ['arg0'], 'sum(arg1)');
    expect(s.beginRun([changed])).toEqual(['@n changed from count() by [arg0] to sum(arg1) by [arg0]: its earlier data is not merged (dropped)']);
    expect(s.merged()).toEqual([]);
    expect(describeAgg(info('@k', 'count', ['arg0', 'arg1'], 'count'))).toBe('count() by [arg0, arg1]');
    // other keys, same function: also a new definition
    s.endRun([{ ...counts('@n', [[1, 2]]), func: 'sum' }]);
    expect(s.beginRun([info('@n', 'sum', ['arg1'], 'sum(arg1)')])).toHaveLength(1);
  });

  it('keeps an aggregation whose clause was removed, until :clear', () => {
    const s = new AggregationStore();
    s.beginRun([info('@n', 'count', ['arg0'], 'count')]);
    s.endRun([counts('@n', [[1, 5]])]);
    s.beginRun([info('@other', 'count', [], 'count')]);
    expect(s.names).toEqual(['@n']);
    s.clear('@n');
    expect(s.merged()).toEqual([]);
    s.snapshot([counts('@other', [[1, 1]])]);
    s.clear(null);
    expect(s.merged()).toEqual([]);
  });
});

describe('the session target, as the helpers are asked for it', () => {
  const spec = (o: Partial<TargetSpec>): TargetSpec => ({ containers: [], labels: [], pids: [], runtime: 'auto', ...o });
  it('describes -c, -l and -p together, or the whole host', () => {
    expect(describeSpec(spec({}))).toBe('the whole host');
    expect(describeSpec(spec({ containers: ['web'] }))).toBe('container web');
    expect(describeSpec(spec({ containers: ['a', 'b'], labels: ['app=web'], pids: [42] }))).toBe('containers a, b, label app=web, PID 42');
    expect(hasTarget(spec({}))).toBe(false);
    expect(hasTarget(spec({ labels: ['app=web'] }))).toBe(true);
  });
  it('becomes the run request a run of the same options sends', () => {
    expect(targetRequest(spec({ containers: ['web'], runtime: 'podman' }), true)).toEqual({ containers: ['web'], labels: [], pids: [], runtime: 'podman', hostPids: true });
  });
});

describe('host options', () => {
  it('takes -H then --hosts FILE, and refuses a bad --connect-timeout in one sentence', () => {
    expect(hostOptionsFrom({ host: ['web1', 'web2'], acceptNew: true, connectTimeout: '5s' })).toEqual({ hosts: ['web1', 'web2'], ssh: { acceptNew: true, connectTimeoutMs: 5000 } });
    expect(hostOptionsFrom({})).toEqual({ hosts: [], ssh: { acceptNew: false } });
    expect(hostOptionsFrom({ connectTimeout: 'soon' })).toEqual({ error: "bad --connect-timeout 'soon': use a duration like 5s" });
    expect(hostOptionsFrom({ hosts: '/nonexistent/hosts' })).toEqual({ error: 'cannot read --hosts /nonexistent/hosts: no such file' });
  });
});

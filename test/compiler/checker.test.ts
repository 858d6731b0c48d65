// Diagnostic codes and spans of the checker, and what the compiler makes of the constructs
// it fixed up (host, probe-name arguments, quoted names, freeing, probefunc, printf widths).

import { describe, expect, it } from 'vitest';
import { compile } from '../../src/compiler/compile.js';
import { REFERENCE_FACTS, type Facts } from '../../src/compiler/facts.js';
import { expandProbeArgs, probeLines, resolveProbe } from '../../src/compiler/probes.js';
import { widenFormat } from '../../src/compiler/lower.js';
import { BUILTIN_VARS } from '../../src/compiler/builtins.js';
import { parse } from '../../src/lang/parse.js';
import { Source } from '../../src/lang/source.js';
import { GO_BINARIES, GO_TARGET, tracepoints } from '../golden/cases.js';

const base: Facts = { ...REFERENCE_FACTS, tracepoints, tracepointsComplete: true };

function run(text: string, facts: Partial<Facts> = {}) {
  const source = new Source('t.d', text);
  const r = compile(source, { ...base, ...facts });
  const errors = r.diagnostics.filter((d) => d.severity === 'error').map((d) => ({ code: d.code, at: source.slice(d.span), message: d.message }));
  return { errors, text: r.program?.text ?? '' };
}

describe('host', () => {
  it('is a string builtin with docs', () => {
    expect(BUILTIN_VARS['host']?.type).toBe('string');
    expect(BUILTIN_VARS['host']?.doc).toMatch(/host/);
  });

  it('lowers to the host fact, a constant usable as a key', () => {
    const r = run('syscall::read:entry { @[host, execname] = count(); printf("%s\\n", host); }', { host: 'web-1' });
    expect(r.errors).toEqual([]);
    expect(r.text).toContain('@["web-1", comm] = count();');
    expect(r.text).toContain('printf("%s\\n", "web-1");');
  });

  it('escapes the name as a bpftrace string', () => {
    expect(run('BEGIN { trace(host); }', { host: 'a"b' }).text).toContain('"a\\"b"');
  });

  it('is an error, on the name, when the facts name no host', () => {
    expect(run('syscall::read:entry { @[host] = count(); }').errors).toEqual([
      { code: 'CT2015', at: 'host', message: expect.stringMatching(/host is not known/) },
    ]);
  });

  it('is a string for the type checks', () => {
    expect(run('syscall::read:entry /host == 1/ { @ = count(); }', { host: 'h' }).errors.map((e) => e.code)).toEqual(['CT2007']);
    expect(run('syscall::read:entry /host == "h"/ { printf("%d\\n", host); }', { host: 'h' }).errors.map((e) => [e.code, e.at])).toEqual([['CT2007', 'host']]);
  });
});

describe('aggregation parameters', () => {
  it('reports lquantize bounds that differ between uses, on the parameters, with the first use', () => {
    const source = new Source('t.d', 'BEGIN { @a = lquantize(1, 0, 100, 10); @a = lquantize(2, 0, 50, 10); }');
    const d = compile(source, base).diagnostics.filter((x) => x.severity === 'error');
    expect(d.map((x) => [x.code, source.slice(x.span)])).toEqual([['CT2009', '0, 50, 10']]);
    expect(d[0]!.related?.map((r) => source.slice(r.span))).toEqual(['@a']);
  });

  it('treats a missing lquantize step as 1, and equal llquantize parameters as one layout', () => {
    expect(run('BEGIN { @a = lquantize(1, 0, 10); @a = lquantize(2, 0, 10, 1); @b = llquantize(1, 10, 0, 3, 10); @b = llquantize(3, 10, 0, 3, 10); }').errors).toEqual([]);
    expect(run('BEGIN { @b = llquantize(1, 10, 0, 3, 10); @b = llquantize(3, 10, 0, 4, 10); }').errors.map((e) => [e.code, e.at])).toEqual([['CT2009', '10, 0, 4, 10']]);
  });

  it('reports an lquantize step larger than the range, on the step', () => {
    expect(run('BEGIN { @a = lquantize(1, 0, 10, 11); }').errors.map((e) => [e.code, e.at])).toEqual([['CT2010', '11']]);
    expect(run('BEGIN { @a = lquantize(1, 0, 10, 10); }').errors).toEqual([]);
  });
});

describe('probefunc in syscall::*: probes', () => {
  it('is the number: comparisons with a name compare numbers, %s is refused with a hint', () => {
    const r = run('syscall::*:entry /probefunc == "write"/ { @[probefunc] = count(); }');
    expect(r.errors).toEqual([]);
    expect(r.text).toContain('/args.id == 1/');
    const bad = run('syscall::*:entry { printf("%s\\n", probefunc); }').errors;
    expect(bad.map((e) => [e.code, e.at])).toEqual([['CT2007', 'probefunc']]);
    expect(run('syscall::*:entry /probefunc == "wrte"/ { @ = count(); }').errors.map((e) => [e.code, e.at])).toEqual([['CT3005', '"wrte"']]);
  });
});

describe('script arguments in probe names', () => {
  const desc = (text: string) => {
    const ast = parse(new Source('t.d', `${text} { @ = count(); }`)).program;
    const c = ast.items[0]!;
    if (c.kind !== 'Clause') throw new Error('no clause');
    return c.probes[0]!;
  };

  it('expands $N as literal text', () => {
    const d = expandProbeArgs(desc('uprobe:$1'), ['main.(*S).h']).desc;
    expect(d.parts.map((p) => [p.value, p.quoted])).toEqual([['uprobe', false], ['main.(*S).h', true]]);
  });

  it('keeps globs written around an argument', () => {
    const d = expandProbeArgs(desc('pid$target::$1*:entry'), ['main.']).desc;
    expect(d.parts[2]).toMatchObject({ value: 'main.*', quoted: false });
  });

  it('reports a missing argument on the $N, unless defaultargs', () => {
    const r = run('syscall::$2:entry { @ = count(); }', { scriptArgs: ['x'] });
    expect(r.errors.map((e) => [e.code, e.at])).toEqual([['CT2016', '$2']]);
    expect(run('#pragma D option defaultargs\nsyscall::read$2:entry /pid != $3/ { @[$$4] = count(); }').errors).toEqual([]);
  });

  it('resolves a Go method passed as an argument with its return probe and named args', () => {
    const facts: Facts = { ...base, target: GO_TARGET, binaries: GO_BINARIES, scriptArgs: ['main.(*Server).handle'] };
    const r = resolveProbe(desc('uretprobe:$1'), facts);
    expect(r.diagnostics).toEqual([]);
    expect(r.probe?.attach).toBe('uprobe:/proc/4242/root/app/frontend:"main.(*Server).handle"+96');
    expect(run('uprobe:$1 { @[args.id] = count(); }', { target: GO_TARGET, binaries: GO_BINARIES, scriptArgs: ['main.(*Server).handle'] }).errors).toEqual([]);
  });

  it('treats a quoted name as literal, and an unquoted * as a wildcard', () => {
    const facts: Facts = { ...base, target: GO_TARGET, binaries: GO_BINARIES };
    expect(resolveProbe(desc('uprobe:"main.(*Server).handle"'), facts).probe?.func).toBe('main.(*Server).handle');
    expect(resolveProbe(desc('uprobe:main.(*Server).handle'), facts).probe?.func).toBeNull();
  });
});

describe('freeing variables', () => {
  it('accepts 0 and "" for string self-> variables and deletes the entry', () => {
    const r = run('syscall::read:entry { self->s = execname; } syscall::read:return { self->s = 0; } syscall::write:entry { self->s = ""; }');
    expect(r.errors).toEqual([]);
    expect(r.text.match(/delete\(@__self_s\[tid\]\)/g)).toHaveLength(2);
  });

  it('assigns the 0 to a map nothing else defines', () => {
    const r = run('syscall::read:entry { m[pid] = 0; }');
    expect(r.text).toContain('@__g_m[pid] = 0;');
    expect(r.text).not.toContain('delete(');
  });
});

describe('printf formats', () => {
  const e = (text: string) => {
    const ast = parse(new Source('t.d', `BEGIN { trace(${text}); }`)).program;
    const c = ast.items[0]!;
    if (c.kind !== 'Clause' || c.body[0]?.kind !== 'ExprStmt' || c.body[0].expr.kind !== 'Call') throw new Error('no call');
    return c.body[0].expr.args[0]!;
  };

  it('widens 32-bit conversions of 64-bit arguments, and %i to %lld', () => {
    expect(widenFormat('%d %5i %-3u %x %X %o %ld %s %c %% %p', [e('1'), e('2'), e('3'), e('4'), e('5'), e('6'), e('7'), e('"s"'), e('8'), e('9')])).toBe('%lld %5lld %-3llu %llx %llX %llo %ld %s %c %% %p');
  });

  it('keeps them for arguments cast to 32 bits or fewer', () => {
    expect(widenFormat('%d %x %d', [e('(int)1'), e('(unsigned short)2'), e('(long)3')])).toBe('%d %x %lld');
  });
});

describe('source-line probes', () => {
  const go = { target: GO_TARGET, binaries: GO_BINARIES };
  const descsOf = (text: string) => parse(new Source('t.d', text)).program.items.flatMap((i) => (i.kind === 'Clause' ? i.probes : []));

  it('asks the runner for each line, by the binary it is in', () => {
    const descs = descsOf('uprobe:main.go:75, pid$target::"frontend/main.go":75: { } uprobe:main.handle { } uprobe:/app/x:a.go:3 { }');
    const want = probeLines(descs, { ...base, ...go, target: { ...GO_TARGET, paths: { '/app/x': '/proc/4242/root/app/x' } } });
    expect([...want].map(([bin, specs]) => [bin, [...specs]])).toEqual([
      [GO_TARGET.exe, ['main.go:75', 'frontend/main.go:75']],
      ['/proc/4242/root/app/x', ['a.go:3']],
    ]);
  });

  it('is a source line only with a file name and a line number', () => {
    const r = run('uprobe:main.handle+4 { @ = count(); }', go);
    expect(r.errors).toEqual([]);
    expect(r.text).toContain('main.handle+4');
  });

  it('reads locals and parameters by name, and refuses them elsewhere', () => {
    expect(run('uprobe:main.go:75 { @[locals.voter, args.r] = count(); }', go).errors).toEqual([]);
    expect(run('uprobe:main.handle { @[locals.n] = count(); }', go).errors).toEqual([
      { code: 'CT2015', at: 'locals.n', message: 'locals.n is only defined in source-line probes, such as uprobe:main.go:75' },
    ]);
  });

  it('needs the line facts of the binary, and a target or binary', () => {
    expect(run('uprobe:main.go:75 { @ = count(); }', { target: GO_TARGET }).errors.map((e) => e.code)).toEqual(['CT3008']);
    expect(run('uprobe:main.go:75 { @ = count(); }').errors.map((e) => e.code)).toEqual(['CT3003']);
  });
});

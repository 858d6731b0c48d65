import { describe, expect, it } from 'vitest';
import { mapToSource, parseBpftraceError, parseStderr } from '../../src/runner/diagnostics.js';
import { VERSIONS, fixtureText } from './fixtures.js';

describe('parseBpftraceError', () => {
  it('reads stdin:L:C-C: ERROR: message', () => {
    expect(parseBpftraceError('stdin:3:8-11: ERROR: Unknown function: foo')).toEqual({
      file: 'stdin',
      line: 3,
      colStart: 8,
      colEnd: 11,
      severity: 'error',
      message: 'Unknown function: foo',
    });
  });
  it('reads files, warnings, single columns and line ranges', () => {
    expect(parseBpftraceError('/tmp/p.bt:1:21-22: ERROR: syntax error, unexpected }')).toMatchObject({ file: '/tmp/p.bt', line: 1, colStart: 21, colEnd: 22 });
    expect(parseBpftraceError('stdin:1:43-86: WARNING: ')).toMatchObject({ severity: 'warning', message: '' });
    expect(parseBpftraceError('stdin:2:5: ERROR: x')).toMatchObject({ colStart: 5, colEnd: 6 });
    expect(parseBpftraceError('stdin:2-4: ERROR: x')).toMatchObject({ line: 2, lineEnd: 4, colStart: 0 });
    expect(parseBpftraceError('ERROR: Error attaching probe')).toBeNull();
    expect(parseBpftraceError('BEGIN { @x = count( }')).toBeNull();
  });
});

describe.each(VERSIONS)('stderr of bpftrace $dir', ({ dir }) => {
  it('syntax error: one error, source excerpt dropped', () => {
    const d = parseStderr(fixtureText(dir, 'error_syntax.stderr'));
    expect(d).toHaveLength(1);
    expect(d[0]).toMatchObject({ severity: 'error', message: 'syntax error, unexpected }', line: 1, colStart: 21, colEnd: 22 });
    expect(d[0]!.raw).toHaveLength(3);
  });

  it('semantic error on line 3', () => {
    expect(parseStderr(fixtureText(dir, 'error_semantic.stderr'))).toMatchObject([{ severity: 'error', message: 'Unknown function: foo', line: 3, colStart: 8, colEnd: 11 }]);
  });

  it('kprobe on a kernel without kprobes: a warning, a context line and an error', () => {
    const d = parseStderr(fixtureText(dir, 'error_kprobe.stderr'));
    expect(d.map((x) => x.severity)).toEqual(['warning', 'info', 'error']);
    expect(d[2]!.message).toMatch(/^Error attaching probe: '?kprobe:do_sys_open'?$/);
  });

  it('plain warnings', () => {
    expect(parseStderr(fixtureText(dir, 'warning.stderr'))).toMatchObject([{ severity: 'warning', message: 'Addrspace is not set' }]);
  });

  it('drops the RLIMIT_MEMLOCK line of either version', () => {
    const line17 = `ERROR: Unknown error -1: couldn't set RLIMIT_MEMLOCK for bpftrace. If your program is not loading, you can try "ulimit -l 8192" to fix the problem`;
    expect(parseStderr(line17 + '\n' + line17.replace('ERROR', 'WARNING'))).toEqual([]);
  });
});

describe('multi-line messages (0.23)', () => {
  it('joins the message lines and drops the source excerpt', () => {
    const text = [
      'stdin:1:43-86: WARNING: ',
      'strcontains() is known to have verifier complexity issues.',
      '',
      '* `str($ptr, 16)`',
      'tracepoint:x { if (strcontains(str(args->filename), "j")) {} }',
      '               ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~',
    ].join('\n');
    expect(parseStderr(text)).toMatchObject([
      { severity: 'warning', line: 1, colStart: 43, message: 'strcontains() is known to have verifier complexity issues. * `str($ptr, 16)`' },
    ]);
  });
});

describe('mapToSource', () => {
  const map = {
    entries: [
      { line: 3, colStart: 1, colEnd: 40, span: { start: 0, end: 30 } },
      { line: 3, colStart: 8, colEnd: 12, span: { start: 10, end: 14 } },
      { line: 5, colStart: 1, colEnd: 5, span: { start: 50, end: 54 } },
      { line: 5, colStart: 20, colEnd: 25, span: { start: 60, end: 65 } },
    ],
  };
  it('picks the narrowest entry containing the range', () => {
    expect(mapToSource({ line: 3, colStart: 8, colEnd: 11 }, map)).toEqual({ start: 10, end: 14 });
    expect(mapToSource({ line: 3, colStart: 20, colEnd: 22 }, map)).toEqual({ start: 0, end: 30 });
  });
  it('falls back to overlap, then the nearest entry on the line', () => {
    expect(mapToSource({ line: 5, colStart: 3, colEnd: 8 }, map)).toEqual({ start: 50, end: 54 });
    expect(mapToSource({ line: 5, colStart: 17, colEnd: 18 }, map)).toEqual({ start: 60, end: 65 });
    expect(mapToSource({ line: 9, colStart: 1, colEnd: 2 }, map)).toBeUndefined();
  });
  it('is applied by the stderr parser when given a source map', () => {
    const d = parseStderr('stdin:3:8-11: ERROR: Unknown function: foo\n  @b = foo(3);\n       ~~~', map);
    expect(d[0]!.span).toEqual({ start: 10, end: 14 });
  });
});

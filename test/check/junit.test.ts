import { describe, expect, it } from 'vitest';
import { evaluateExpectation, parseExpectation, type Expectation } from '../../src/check/expect.js';
import { escapeXml, junitXml } from '../../src/check/junit.js';
import type { CheckReport } from '../../src/check/report.js';
import type { AggregationInfo } from '../../src/compiler/program.js';
import { Source } from '../../src/lang/source.js';
import type { Aggregation } from '../../src/runner/aggregate.js';
import { agg } from '../runner/helpers.js';
import { childrenNamed, parseXml, textOf, XmlError, type XmlElement } from '../support/xml.js';

const declared: AggregationInfo[] = [agg('@lat', 'latency'), agg('@errors', 'count'), agg('@none', 'latency')];
const aggregations: Aggregation[] = [
  { name: '@lat', kind: 'hist', func: 'latency', keys: [], scheme: { kind: 'log-linear', subBuckets: 32 }, rows: [{ keys: [], buckets: [{ lo: 14680064, hi: 15204352, count: 10 }] }] },
  { name: '@errors', kind: 'scalar', func: 'count', keys: [], rows: [{ keys: [], value: 3 }] },
];

function exp(text: string, source = new Source('--expect', text)): Expectation {
  const r = parseExpectation(source);
  if (!r.expectation) throw new Error(text);
  return r.expectation;
}

function report(texts: (string | Expectation)[], extra: Partial<CheckReport> = {}): CheckReport {
  return {
    program: 'probes/latency.d',
    verdicts: texts.map((t) => evaluateExpectation(typeof t === 'string' ? exp(t) : t, { aggregations, declared, durationMs: 1000 })),
    run: { command: "loadgen -url 'http://127.0.0.1:1/x?a=1&b=2' > out.json", exitCode: 0, signal: null, stoppedBy: null, durationMs: 1234 },
    failOnRun: false,
    durationMs: 1250,
    startedAt: new Date('2026-11-22T05:00:00.000Z'),
    ...extra,
  };
}

const testcases = (root: XmlElement) => childrenNamed(childrenNamed(root, 'testsuite')[0]!, 'testcase');

describe('JUnit XML', () => {
  it('parses back: one testcase per expectation, counts, failure with the measured value', () => {
    const xml = junitXml(report(['p99(@lat) < 10ms', 'count(@errors) == 3', 'p99(@lat) < 20ms && count(@errors) < 1', 'p50(@none) < 1ms']));
    const root = parseXml(xml);
    expect(root.name).toBe('testsuites');
    expect(root.attrs).toMatchObject({ name: 'trace check', tests: '4', failures: '2', errors: '1', time: '1.250' });
    const suite = childrenNamed(root, 'testsuite')[0]!;
    expect(suite.attrs).toMatchObject({ tests: '4', failures: '2', errors: '1', skipped: '0', timestamp: '2026-11-22T05:00:00', name: 'trace check probes/latency.d' });
    const props = childrenNamed(childrenNamed(suite, 'properties')[0]!, 'property').map((p) => [p.attrs.name, p.attrs.value]);
    expect(props).toEqual([
      ['program', 'probes/latency.d'],
      ['run.command', "loadgen -url 'http://127.0.0.1:1/x?a=1&b=2' > out.json"],
      ['run.exitCode', '0'],
    ]);
    const cases = testcases(root);
    expect(cases.map((c) => c.attrs.name)).toEqual(['p99(@lat) < 10ms', 'count(@errors) == 3', 'p99(@lat) < 20ms && count(@errors) < 1', 'p50(@none) < 1ms']);
    expect(cases.every((c) => c.attrs.classname === 'trace check probes/latency.d')).toBe(true);

    const [slow, ok, mixed, none] = cases as [XmlElement, XmlElement, XmlElement, XmlElement];
    const failure = childrenNamed(slow, 'failure')[0]!;
    expect(failure.attrs.message).toBe('p99(@lat) = 15.2ms, expected < 10ms');
    expect(failure.attrs.type).toBe('ExpectationFailed');
    expect(textOf(failure)).toContain('p99(@lat) = 15.2ms (10 events); expected < 10ms: FAILED');
    expect(childrenNamed(ok, 'failure')).toEqual([]);
    expect(textOf(childrenNamed(ok, 'system-out')[0]!)).toContain('count(@errors) = 3');
    // A compound expectation's message names the comparisons that failed.
    expect(childrenNamed(mixed, 'failure')[0]!.attrs.message).toBe('count(@errors) = 3, expected < 1');
    const error = childrenNamed(none, 'error')[0]!;
    expect(error.attrs.type).toBe('CT5007');
    expect(error.attrs.message).toBe('@none received no events: the probe never fired (is the function called? is the container under load?)');
    expect(textOf(childrenNamed(suite, 'system-out')[0]!)).toContain('exited with status 0 after 1.23 s');
  });

  it('escapes what XML needs escaped, and survives characters it cannot hold', () => {
    const nasty = 'count(@errors["<a href=\\"x\\">&amp; \'q\' \\x01 \\x1b[31m ]]> 🙂"]) == 0';
    const program = `BEGIN { @errors["<&>"] = count(); }\n#pragma ctrace expect ${nasty}\n`;
    const source = new Source('weird "<&>".d', program);
    const start = program.indexOf('count(@errors[');
    const r = parseExpectation(source, { start, end: program.indexOf('\n', start) });
    const e = r.expectation!;
    const declared2 = [agg('@errors', 'count', [{ label: 'k', type: 'string', transform: 'none' }])];
    const rep: CheckReport = {
      ...report([]),
      program: 'weird "<&>".d',
      verdicts: [evaluateExpectation(e, { aggregations: [], declared: declared2, durationMs: 1 })],
      run: { command: "sh -c 'a && b' </dev/null \u0007 \ud800", exitCode: 3, signal: null, stoppedBy: null, durationMs: 20 },
      failOnRun: true,
    };
    const xml = junitXml(rep);
    const root = parseXml(xml); // throws when not well-formed
    const cases = testcases(root);
    expect(cases).toHaveLength(2);
    expect(cases[0]!.attrs.name).toBe(e.text);
    expect(e.text).toContain('<a href=\\"x\\">&amp;');
    expect(cases[0]!.attrs.classname).toBe('trace check weird "<&>".d');
    // --fail-on-run: the command's status is a testcase of its own, failed.
    expect(cases[1]!.attrs.name).toBe('--run command exits 0');
    const f = childrenNamed(cases[1]!, 'failure')[0]!;
    expect(f.attrs.message).toBe("'sh -c 'a && b' </dev/null \\x07 \\uD800' exited with status 3 after 0.02 s");
    expect(root.attrs.failures).toBe('1');
  });

  it('escapeXml', () => {
    expect(escapeXml(`<a b="c" d='e'>&</a>`)).toBe('&lt;a b=&quot;c&quot; d=&apos;e&apos;&gt;&amp;&lt;/a&gt;');
    expect(escapeXml('a\nb\tc\rd')).toBe('a\nb\tc&#13;d');
    expect(escapeXml('a\nb\tc', true)).toBe('a&#10;b&#9;c');
    expect(escapeXml('\u0000\u0001\u001b\ufffe')).toBe('\\x00\\x01\\x1b\\uFFFE');
    expect(escapeXml('🙂')).toBe('🙂');
    expect(escapeXml('\ud83d')).toBe('\\uD83D');
    expect(escapeXml('\ude42x')).toBe('\\uDE42x');
    // Attribute values keep their newlines through a parser's normalisation.
    const el = parseXml(`<x a="${escapeXml('1\n2\t3', true)}">${escapeXml('4\n5')}</x>`);
    expect(el.attrs.a).toBe('1\n2\t3');
    expect(textOf(el)).toBe('4\n5');
  });

  it('the trace ending early is an error testcase', () => {
    const xml = junitXml(report(['count(@errors) == 3'], { error: "container 'x' exited" }));
    const root = parseXml(xml);
    expect(root.attrs).toMatchObject({ tests: '2', errors: '1', failures: '0' });
    const last = testcases(root)[1]!;
    expect(last.attrs.name).toBe('the trace ran to completion');
    expect(childrenNamed(last, 'error')[0]!.attrs.message).toBe("container 'x' exited");
  });

  it('a one-liner is named as such (its text is a property)', () => {
    const root = parseXml(junitXml(report(['count(@errors) == 3'], { program: 'syscall::read:entry { @errors = count(); }', oneLiner: true })));
    expect(testcases(root)[0]!.attrs.classname).toBe('trace check one-liner');
  });
});

describe('the test XML parser refuses what is not well-formed', () => {
  it.each([
    ['<a>', 'unclosed'],
    ['<a></b>', 'closes'],
    ['<a b="1" b="2"/>', 'duplicate'],
    ['<a>&</a>', 'entity'],
    ['<a>&bogus;</a>', 'unknown entity'],
    ['<a b="<"/>', "'<' in an attribute"],
    ['<a/><b/>', 'after the root'],
    ['<a>\u0001</a>', 'not allowed'],
    ['<a>&#1;</a>', 'not a legal'],
    ['<a b=1/>', 'quoted'],
    ['<a>]]></a>', ']]>'],
    ['text', "expected '<'"],
  ])('%j', (xml, msg) => {
    expect(() => parseXml(xml)).toThrow(XmlError);
    expect(() => parseXml(xml)).toThrow(msg);
  });

  it('and reads what is', () => {
    const el = parseXml('<?xml version="1.0"?>\n<!-- c --><a x=\'1\' y="&#x41;&#66;"><b/>t&lt;&amp;<c>u</c></a>\n');
    expect(el.attrs).toEqual({ x: '1', y: 'AB' });
    expect(el.children.map((c) => (typeof c === 'string' ? c : c.name))).toEqual(['b', 't<&', 'c']);
  });
});

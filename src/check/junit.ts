// JUnit XML for `trace check --junit FILE`: one testsuite, one testcase per expectation (and
// one for the --run command with --fail-on-run). A failed expectation has a <failure> with the
// measured value; one that could not be evaluated (no events, ...) an <error>. The format is
// the one GitHub test reporters and GitLab's `artifacts:reports:junit` read.

import { formatValue, type ComparisonResult, type Verdict } from './expect.js';
import { describeRun, measuredText, originOf, runFailed, type CheckReport } from './report.js';

/**
 * Text for XML 1.0 character data or a (double-quoted) attribute value: markup characters as
 * entities; characters XML 1.0 cannot hold at all (most C0 controls, U+FFFE/U+FFFF, lone
 * surrogates) as visible escapes (\x01, \uFFFE).
 */
export function escapeXml(s: string, attribute = false): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!;
    const code = s.charCodeAt(i);
    if (code >= 0xd800 && code <= 0xdbff) {
      const next = s.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        out += ch + s[i + 1]!;
        i++;
        continue;
      }
      out += `\\u${code.toString(16).toUpperCase()}`;
      continue;
    }
    if (code >= 0xdc00 && code <= 0xdfff) {
      out += `\\u${code.toString(16).toUpperCase()}`;
      continue;
    }
    switch (ch) {
      case '&':
        out += '&amp;';
        continue;
      case '<':
        out += '&lt;';
        continue;
      case '>':
        out += '&gt;';
        continue;
      case '"':
        out += '&quot;';
        continue;
      case "'":
        out += '&apos;';
        continue;
      case '\n':
        out += attribute ? '&#10;' : '\n';
        continue;
      case '\r':
        out += '&#13;';
        continue;
      case '\t':
        out += attribute ? '&#9;' : '\t';
        continue;
    }
    if (code < 0x20 || code === 0xfffe || code === 0xffff) {
      out += code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).toUpperCase()}`;
      continue;
    }
    out += ch;
  }
  return out;
}

const attr = (name: string, value: string | number) => ` ${name}="${escapeXml(String(value), true)}"`;

function comparisonLine(x: ComparisonResult): string {
  const events = x.events !== null && !x.noEvents && x.value !== null ? ` (${x.events} event${x.events === 1 ? '' : 's'})` : '';
  const verdict = x.pass === null ? 'not measured' : x.pass ? 'ok' : 'FAILED';
  return `${x.measure} = ${measuredText(x)}${events}; expected ${x.op} ${x.boundText}: ${verdict}${x.diagnostic ? ` (${x.diagnostic.message})` : ''}`;
}

function failureMessage(v: Verdict): string {
  const failed = v.comparisons.filter((x) => x.pass === false);
  const shown = failed.length ? failed : v.comparisons;
  return shown.map((x) => `${x.measure} = ${x.value === null ? '-' : formatValue(x.value, x.kind)}, expected ${x.op} ${x.boundText}`).join('; ');
}

function testcase(name: string, classname: string, body: string): string {
  return `    <testcase${attr('name', name)}${attr('classname', classname)}${attr('time', '0')}>${body ? `\n${body}\n    ` : ''}</testcase>`;
}

export interface JunitOptions {
  /** The suite's name; default 'trace check <program>'. */
  readonly suite?: string;
  readonly hostname?: string;
}

/** The report as a JUnit XML document (UTF-8, with an XML declaration). */
export function junitXml(r: CheckReport, o: JunitOptions = {}): string {
  // A file's name, or 'one-liner': the program's text is in the properties.
  const classname = `trace check ${r.oneLiner ? 'one-liner' : r.program}`;
  const cases: string[] = [];
  let failures = 0;
  let errors = 0;
  for (const v of r.verdicts) {
    const details = [...v.comparisons.map(comparisonLine), `(from ${originOf(v)})`].join('\n');
    let body = '';
    if (v.status === 'fail') {
      failures++;
      body = `      <failure${attr('message', failureMessage(v))}${attr('type', 'ExpectationFailed')}>${escapeXml(details)}</failure>`;
    } else if (v.status === 'error') {
      errors++;
      const d = v.comparisons.find((x) => x.diagnostic)?.diagnostic;
      body = `      <error${attr('message', d?.message ?? 'could not be evaluated')}${attr('type', d?.code ?? 'Error')}>${escapeXml(details)}</error>`;
    } else {
      body = `      <system-out>${escapeXml(details)}</system-out>`;
    }
    cases.push(testcase(v.expectation.text, classname, body));
  }
  if (r.failOnRun && r.run) {
    const text = `'${r.run.command}' ${describeRun(r.run)}`;
    if (runFailed(r)) {
      failures++;
      cases.push(testcase('--run command exits 0', classname, `      <failure${attr('message', text)}${attr('type', 'RunFailed')}>${escapeXml(text)}</failure>`));
    } else cases.push(testcase('--run command exits 0', classname, `      <system-out>${escapeXml(text)}</system-out>`));
  }
  if (r.error !== undefined) {
    errors++;
    cases.push(testcase('the trace ran to completion', classname, `      <error${attr('message', r.error)}${attr('type', 'TraceError')}>${escapeXml(r.error)}</error>`));
  }
  const tests = cases.length;
  const time = ((r.durationMs ?? 0) / 1000).toFixed(3);
  const suite = o.suite ?? classname;
  const props = [
    ['program', r.program],
    ...(r.run ? [['run.command', r.run.command], ['run.exitCode', r.run.exitCode === null ? `signal ${r.run.signal ?? ''}` : String(r.run.exitCode)]] : []),
  ]
    .map(([k, val]) => `      <property${attr('name', k!)}${attr('value', val!)}/>`)
    .join('\n');
  const systemOut = r.run ? `\n    <system-out>${escapeXml(`run: '${r.run.command}' ${describeRun(r.run)}`)}</system-out>` : '';
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites${attr('name', 'trace check')}${attr('tests', tests)}${attr('failures', failures)}${attr('errors', errors)}${attr('time', time)}>`,
    `  <testsuite${attr('name', suite)}${attr('tests', tests)}${attr('failures', failures)}${attr('errors', errors)}${attr('skipped', 0)}${attr('time', time)}${attr('timestamp', r.startedAt.toISOString().replace(/\.\d+Z$/, ''))}${o.hostname ? attr('hostname', o.hostname) : ''}>`,
    `    <properties>\n${props}\n    </properties>`,
    ...cases,
    ...(systemOut ? [systemOut.slice(1)] : []),
    '  </testsuite>',
    '</testsuites>',
    '',
  ].join('\n');
}

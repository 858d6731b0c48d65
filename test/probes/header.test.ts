// The probes/ library's plumbing, without bpftrace: header parsing, lookup by name, and the
// listing `trace probes` prints.

import { captureStreams } from '../support/streams.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { findProbeScript, listProbeScripts, parseHeader, probesCommand, probesDir } from '../../src/commands/probes.js';
import { ROOT } from '../support/trace.js';

const dir = mkdtempSync(join(tmpdir(), 'ctrace-probes-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function streams() {
  const c = captureStreams({ NO_COLOR: '1' });
  return { io: c.io, text: () => ({ stdout: c.out(), stderr: c.err() }) };
}

describe('parseHeader', () => {
  it('reads a /* */ block: NAME: description on its first line, markers removed', () => {
    const h = parseHeader('/* io-sizes: read sizes by process\n *\n * Shows things.\n * Arguments: none.\n */\nsyscall::read:return { @[execname] = quantize(arg1); }\n');
    expect(h).toEqual({ name: 'io-sizes', description: 'read sizes by process', header: 'io-sizes: read sizes by process\n\nShows things.\nArguments: none.' });
  });

  it('reads a one-line block and a // block (after a #! line)', () => {
    expect(parseHeader('/* x: one line */\nBEGIN { exit(); }').description).toBe('one line');
    const h = parseHeader('#!/usr/bin/env trace\n\n// opens.d - files opened\n// Arguments: none.\n\nsyscall::openat:entry { }\n');
    expect(h).toEqual({ name: 'opens', description: 'files opened', header: 'opens.d - files opened\nArguments: none.' });
  });

  it('no header: no name, no description', () => {
    expect(parseHeader('BEGIN { exit(); }\n')).toEqual({ name: null, description: '', header: '' });
  });
});

describe('lookup and listing', () => {
  writeFileSync(join(dir, 'b-two.d'), '/* b-two: the second */\nBEGIN { exit(); }\n');
  writeFileSync(join(dir, 'a-one.d'), '// a-one: the first\nBEGIN { exit(); }\n');
  writeFileSync(join(dir, 'notes.txt'), 'not a script\n');

  it('lists *.d by name with descriptions; finds by name, with or without .d', () => {
    expect(listProbeScripts(dir).map((s) => [s.name, s.description])).toEqual([
      ['a-one', 'the first'],
      ['b-two', 'the second'],
    ]);
    expect(findProbeScript('b-two.d', dir)).toMatchObject({ name: 'b-two', path: join(dir, 'b-two.d') });
    expect(findProbeScript('a-oen', dir)).toEqual({ error: "no script named 'a-oen' in probes/ (did you mean a-one?); list them with: trace probes" });
  });

  it('trace probes prints aligned names and descriptions; NAME prints the header', () => {
    const a = streams();
    expect(probesCommand({ output: 'table' }, a.io, dir)).toBe(0);
    expect(a.text().stdout).toBe('a-one  the first\nb-two  the second\n');
    const b = streams();
    expect(probesCommand({ name: 'b-two', output: 'table' }, b.io, dir)).toBe(0);
    expect(b.text().stdout).toMatch(/^b-two: the second\n\n\(.*b-two\.d; run it with: trace run b-two/);
    const c = streams();
    expect(probesCommand({ name: 'nope', output: 'table' }, c.io, dir)).toBe(2);
    expect(c.text().stderr).toMatch(/^trace: no script named 'nope'/);
  });

  it('probes/ is found beside the package, whatever the working directory', () => {
    expect(probesDir()).toBe(join(ROOT, 'probes') + '/');
    expect(listProbeScripts().length).toBeGreaterThanOrEqual(20);
  });
});

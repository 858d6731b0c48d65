// Every golden bpftrace output must be accepted by a real bpftrace: 0.23's --dry-run parses,
// checks and compiles it to BPF without attaching. (0.17 has no --dry-run; the e2e tests
// run programs on it for real.)

import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { loadCases } from './cases.js';

const run = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));
const BPFTRACE_023 = `${process.env.TRACE_PREFIX ?? '/opt/ctrace'}/bin/bpftrace`;

describe('golden outputs are accepted by bpftrace 0.23 --dry-run', () => {
  it('bpftrace 0.23 is installed (scripts/setup.sh)', () => {
    expect(existsSync(BPFTRACE_023)).toBe(true);
  });
  // Cases on synthetic Go binaries run for real in test/e2e instead.
  const cases = loadCases().filter((c) => !c.expectError && !c.synthetic && c.facts.bpftrace.version.minor >= 20);
  it.each(cases.map((c) => c.name))('%s', async (name) => {
    const text = readFileSync(join(here, 'cases', `${name}.bt`), 'utf8');
    const unsafe = /\b(system|signal)\(/.test(text) ? ['--unsafe'] : [];
    const { stderr } = await run(BPFTRACE_023, ['--dry-run', ...unsafe, '-e', text], { timeout: 30_000 }).catch((e: { stderr?: string; message: string }) => {
      throw new Error(`bpftrace rejected ${name}.bt:\n${e.stderr ?? e.message}`);
    });
    expect(stderr).not.toMatch(/ERROR/);
  });
});

// Runs one program through runProgram in its own plain node process (bundled by the e2e test
// with esbuild, so no test runner's signal handlers interfere), for tests to signal or kill.
// argv[2]: JSON {bpftrace, program, output?, durationMs?}. Prints READY on stderr once attached.

import type { CompiledProgram } from '../../../src/compiler/program.js';
import { getBpftraceInfo } from '../../../src/runner/bpftrace.js';
import { runProgram } from '../../../src/runner/session.js';

async function main(): Promise<void> {
  const cfg = JSON.parse(process.argv[2] ?? '{}') as { bpftrace: string; program: CompiledProgram; output?: 'table' | 'json'; durationMs?: number };
  const found = await getBpftraceInfo(cfg.bpftrace);
  if (!found.ok) {
    process.stderr.write(found.message + '\n');
    process.exit(1);
  }
  const result = await runProgram(cfg.program, {
    bpftrace: found.info,
    output: cfg.output ?? 'table',
    stdout: process.stdout,
    stderr: process.stderr,
    env: { ...process.env, NO_COLOR: '1' },
    ...(cfg.durationMs !== undefined ? { durationMs: cfg.durationMs } : {}),
    onAttached: () => process.stderr.write('READY\n'),
  });
  process.stderr.write(`RESULT ${JSON.stringify({ exitCode: result.exitCode, stoppedBy: result.stoppedBy, message: result.message ?? null })}\n`);
  process.exitCode = result.exitCode;
}

void main();

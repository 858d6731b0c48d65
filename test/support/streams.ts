// In-process stdout/stderr for calling a command function (or cli.main) and reading what it wrote.

import { PassThrough } from 'node:stream';
import type { Streams } from '../../src/commands/output.js';

export interface Captured {
  readonly io: Streams;
  out(): string;
  err(): string;
}

export function captureStreams(env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' }): Captured {
  const o = new PassThrough();
  const e = new PassThrough();
  let so = '';
  let se = '';
  o.on('data', (d: Buffer) => (so += d.toString()));
  e.on('data', (d: Buffer) => (se += d.toString()));
  return { io: { stdout: o, stderr: e, env }, out: () => so, err: () => se };
}

// The privileged helper's entry point (installed as /usr/local/bin/ctrace-helper, which runs
// `node .../dist/helper/main.js`, through `sudo -n` for a caller who is not root).
// No arguments: one JSON request line on stdin, NDJSON on stdout (see protocol.ts).

import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { LineSplitter } from '../runner/lines.js';
import { callerOf } from './caller.js';
import { loadPolicy } from './policy.js';
import { parseRequest, type Message } from './protocol.js';
import { serve } from './serve.js';

function version(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

async function main(): Promise<number> {
  const send = (m: Message) => {
    process.stdout.write(JSON.stringify(m) + '\n');
  };
  const fatal = (message: string, exitCode = 1) => {
    send({ t: 'error', message, exitCode });
    return exitCode;
  };
  if (process.getuid?.() !== 0) return fatal('the ctrace helper must run as root: install it with `trace helper install` and let the CLI start it through sudo -n');
  const { caller, via } = callerOf(process.env);
  const policy = loadPolicy(process.env.CTRACE_POLICY || undefined);
  if ('error' in policy) return fatal(policy.error);

  const stops: (() => void)[] = [];
  const closes: (() => void)[] = [];
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    for (const f of closes) f();
  };
  // The caller went away (stdin closed, SSH channel dropped, our output unreadable): kill now.
  process.stdout.on('error', close);
  for (const sig of ['SIGHUP', 'SIGTERM', 'SIGPIPE'] as const) process.on(sig, close);
  process.on('SIGINT', () => stops.forEach((f) => f()));

  const lines = new LineSplitter(1024 * 1024 * 4);
  const first = await new Promise<string | null>((resolve) => {
    let got = false;
    process.stdin.on('data', (chunk: Buffer) => {
      for (const line of lines.push(chunk)) {
        if (!got) {
          got = true;
          resolve(line);
          continue;
        }
        // Controls after the request.
        try {
          if ((JSON.parse(line) as { op?: string }).op === 'stop') stops.forEach((f) => f());
        } catch {
          // not a control: ignored
        }
      }
    });
    process.stdin.on('end', () => {
      if (!got) resolve(null);
      close();
    });
    process.stdin.on('error', close);
  });
  if (first === null) return fatal('no request on stdin');
  const req = parseRequest(first);
  if (typeof req === 'string') return fatal(req, 2);
  return serve(req, {
    caller,
    via,
    policy,
    policyNow: () => loadPolicy(process.env.CTRACE_POLICY || undefined),
    hostname: hostname(),
    version: version(),
    env: process.env,
    send,
    onStop: (f) => stops.push(f),
    onClose: (f) => {
      closes.push(f);
      if (closed) f();
    },
  });
}

main().then(
  (code) => {
    // Let stdout drain before exiting; stdin stays open otherwise and would keep us alive.
    process.stdout.write('', () => process.exit(code));
  },
  (e: unknown) => {
    process.stdout.write(JSON.stringify({ t: 'error', message: `helper internal error: ${(e as Error).message}`, exitCode: 1 }) + '\n', () => process.exit(1));
  },
);

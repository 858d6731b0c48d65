// One caller's conversation with the helper, wherever its bytes come from (the exec'd helper's
// stdin/stdout, or a connection to the persistent helper's socket): the first line is the
// request, later lines are controls (`{"op":"stop"}`), and the input ending, or the output
// becoming unwritable, means the caller went away: whatever runs is killed at once.

import { readFileSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { LineSplitter } from '../runner/lines.js';
import type { Caller } from './policy.js';
import { loadPolicy } from './policy.js';
import { parseRequest, type Message } from './protocol.js';
import { serve } from './serve.js';

export interface ConnectionContext {
  readonly caller: Caller;
  readonly via: string;
  readonly hostname: string;
  readonly version: string;
  readonly env: NodeJS.ProcessEnv;
  send(m: Message): void;
}

export interface Conversation {
  /** The exit code of the request (as the exec'd helper exits with it). */
  readonly done: Promise<number>;
  /** The caller went away: kill what runs. */
  close(): void;
  /** As `{"op":"stop"}` (SIGINT to the exec'd helper). */
  stop(): void;
}

export function converse(input: Readable, ctx: ConnectionContext): Conversation {
  const stops: (() => void)[] = [];
  const closes: (() => void)[] = [];
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    for (const f of closes) f();
  };
  const stop = () => stops.forEach((f) => f());
  const fatal = (message: string, exitCode = 1) => {
    ctx.send({ t: 'error', message, exitCode });
    return exitCode;
  };
  const done = (async () => {
    const lines = new LineSplitter(1024 * 1024 * 4);
    const first = await new Promise<string | null>((resolve) => {
      let got = false;
      input.on('data', (chunk: Buffer) => {
        for (const line of lines.push(chunk)) {
          if (!got) {
            got = true;
            resolve(line);
            continue;
          }
          try {
            if ((JSON.parse(line) as { op?: string }).op === 'stop') stop();
          } catch {
            // not a control: ignored
          }
        }
      });
      input.on('end', () => {
        if (!got) resolve(null);
        close();
      });
      input.on('error', () => {
        if (!got) resolve(null);
        close();
      });
    });
    if (first === null) return fatal('no request on stdin');
    const req = parseRequest(first);
    if (typeof req === 'string') return fatal(req, 2);
    // Read per request: a policy edited while the persistent helper runs applies to the next run.
    const policy = loadPolicy(ctx.env.CTRACE_POLICY || undefined);
    if ('error' in policy) return fatal(policy.error);
    return serve(req, {
      caller: ctx.caller,
      via: ctx.via,
      policy,
      policyNow: () => loadPolicy(ctx.env.CTRACE_POLICY || undefined),
      hostname: ctx.hostname,
      version: ctx.version,
      env: ctx.env,
      send: ctx.send,
      onStop: (f) => stops.push(f),
      onClose: (f) => {
        closes.push(f);
        if (closed) f();
      },
    });
  })();
  return { done, close, stop };
}

/** This helper's ctrace version (package.json beside dist/). */
export function helperVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

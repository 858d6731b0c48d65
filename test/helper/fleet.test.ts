// runFleet over fake transports whose "helpers" speak the protocol from a script: merging,
// per-host output, a host that fails to start, one that is refused, one that drops mid-run.
// No bpftrace, no SSH: the real thing is test/e2e/fleet.e2e.test.ts.

import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { compile } from '../../src/compiler/compile.js';
import { REFERENCE_FACTS } from '../../src/compiler/facts.js';
import type { Message } from '../../src/helper/protocol.js';
import { Source } from '../../src/lang/source.js';
import type { BpftraceInfo } from '../../src/runner/bpftrace.js';
import { runFleet } from '../../src/runner/fleet.js';
import type { HelperProcess, Transport } from '../../src/runner/transport/types.js';

const INFO = { path: '/usr/bin/bpftrace', version: { major: 0, minor: 23, patch: 2 }, text: '', features: { jsonKeysDoubleEscaped: true } } as unknown as BpftraceInfo;
const TEXT = 'uprobe:/usr/bin/bash:readline { @n = count(); @[host] = count(); @lat = quantize(arg0); printf("v\\n"); }';

function compiledFor(host: string) {
  const r = compile(new Source('<command line>', TEXT), { ...REFERENCE_FACTS, host });
  if (!r.program) throw new Error(JSON.stringify(r.diagnostics));
  return r.program;
}

type Script = (send: (m: Message) => void, end: (code: number | null) => void, stdin: PassThrough) => void;

/** A transport whose helper plays `script` once it has the request. */
function fake(label: string, script: Script | { startError: string }): Transport & { requests: unknown[] } {
  const requests: unknown[] = [];
  return {
    label,
    requests,
    async start() {
      if ('startError' in script) return { ok: false, message: script.startError };
      const stdin = new PassThrough();
      const stdout = new PassThrough();
      const stderr = new PassThrough();
      let resolveExit!: (v: { code: number | null; signal: string | null }) => void;
      const exited = new Promise<{ code: number | null; signal: string | null }>((r) => (resolveExit = r));
      let ended = false;
      const end = (code: number | null) => {
        if (ended) return;
        ended = true;
        stdout.end();
        setImmediate(() => resolveExit({ code, signal: null }));
      };
      let buf = '';
      stdin.on('data', (d: Buffer) => {
        buf += d.toString();
        if (requests.length === 0 && buf.includes('\n')) {
          requests.push(JSON.parse(buf.slice(0, buf.indexOf('\n'))));
          script((m) => void (ended || stdout.write(JSON.stringify(m) + '\n')), end, stdin);
        }
      });
      const proc: HelperProcess = { stdin, stdout, stderr, exited, kill: () => end(null) };
      return { ok: true, proc };
    },
    close() {},
  };
}

/** A helper that runs the program: `votes` calls of main.vote with arg0 = the given values. */
function healthy(host: string, votes: number[]): Script {
  return (send, end, stdin) => {
    const program = compiledFor(host);
    send({ t: 'compiled', program, bpftrace: INFO });
    send({ t: 'out', line: '{"type": "attached_probes", "data": {"probes": 2}}' });
    send({ t: 'out', line: '{"type": "printf", "data": "\\u001fctrace:ready\\n"}' });
    for (let i = 0; i < votes.length; i++) send({ t: 'out', line: '{"type": "printf", "data": "v\\n"}' });
    stdin.on('data', (d: Buffer) => {
      if (!d.toString().includes('"stop"')) return;
      send({ t: 'out', line: '{"type": "printf", "data": "\\u001fctrace:final\\n"}' });
      send({ t: 'out', line: `{"type": "map", "data": {"@n": ${votes.length}}}` });
      send({ t: 'out', line: `{"type": "map", "data": {"@": {"${host}": ${votes.length}}}}` });
      const buckets = new Map<number, number>();
      for (const v of votes) buckets.set(v, (buckets.get(v) ?? 0) + 1);
      const hist = [...buckets].map(([v, c]) => `{"min": ${v}, "max": ${v * 2 - 1}, "count": ${c}}`).join(', ');
      send({ t: 'out', line: `{"type": "hist", "data": {"@lat": [${hist}]}}` });
      send({ t: 'exit', code: 0, signal: null });
      end(0);
    });
  };
}

function sink() {
  const s = { text: '', isTTY: false, write: (t: string) => ((s.text += t), true) };
  return s;
}

async function run(transports: Transport[], output: 'table' | 'json' = 'json') {
  const out = sink();
  const err = sink();
  const messages: string[] = [];
  const stop = new AbortController();
  const p = runFleet(transports, { program: { name: '<command line>', text: TEXT }, args: [], intervalMs: null, quiet: false, destructive: false }, {
    output,
    durationMs: null,
    quiet: false,
    stdout: out,
    stderr: err,
    env: { NO_COLOR: '1' },
    signal: stop.signal,
    onHostMessage: (h, m) => messages.push(`${h}: ${m}`),
    onAttached: () => setTimeout(() => stop.abort(), 20),
  });
  // Hosts that never attach would leave onAttached unfired: stop anyway.
  setTimeout(() => stop.abort(), 500);
  const r = await p;
  return { r, out: out.text, err: err.text, messages };
}

describe('runFleet', () => {
  it('sends each host its own name for `host`, merges counts and histograms, and marks each printf with its host', async () => {
    const a = fake('root@web1', healthy('web1', [1, 1, 4]));
    const b = fake('web2', healthy('web2', [4, 8]));
    const { r, out } = await run([a, b]);
    expect(a.requests[0]).toMatchObject({ v: 1, op: 'run', host: 'web1', program: { text: TEXT } });
    expect(b.requests[0]).toMatchObject({ host: 'web2' });
    expect(r.exitCode).toBe(0);
    const lines = out.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const printfs = lines.filter((l) => l.type === 'printf');
    expect(printfs.filter((l) => l.host === 'web1')).toHaveLength(3);
    expect(printfs.filter((l) => l.host === 'web2')).toHaveLength(2);
    const finals = Object.fromEntries(lines.filter((l) => l.phase === 'final').map((l) => [l.name, l]));
    expect(finals['@n']).toMatchObject({ rows: [{ keys: [], value: 5 }] });
    expect(finals['@']).toMatchObject({ rows: expect.arrayContaining([{ keys: ['web1'], value: 3 }, { keys: ['web2'], value: 2 }]) });
    const counts = Object.fromEntries((finals['@lat'] as { rows: { buckets: { lo: number; count: number }[] }[] }).rows[0]!.buckets.map((x) => [x.lo, x.count]));
    expect(counts).toMatchObject({ 1: 2, 4: 2, 8: 1 });
  });

  it('goes on without a host that cannot be started, or is refused, naming each with its reason; exit 1', async () => {
    const ok = fake('web1', healthy('web1', [2]));
    const dead = fake('web2', { startError: 'cannot connect to web2: connection refused' });
    const refusing = fake('web3', (send, end) => {
      send({ t: 'error', message: "user 'alice' may not trace container 'svc' (no grant in the ctrace policy matches it)", exitCode: 1, refused: true });
      end(1);
    });
    const { r, out, err, messages } = await run([ok, dead, refusing], 'table');
    expect(r.exitCode).toBe(1);
    expect(messages).toEqual(['web2: cannot connect to web2: connection refused', "web3: user 'alice' may not trace container 'svc' (no grant in the ctrace policy matches it)"]);
    expect(out).toMatch(/@n\n[\s\S]*│\s+1 │/);
    expect(err).toContain('trace: 1 of 3 hosts reported; failed: web2, web3');
  });

  it('a host that drops mid-run is reported as lost; the others still print their results', async () => {
    const ok = fake('web1', healthy('web1', [2, 2]));
    const drops = fake('web2', (send, end) => {
      send({ t: 'compiled', program: compiledFor('web2'), bpftrace: INFO });
      send({ t: 'out', line: '{"type": "printf", "data": "\\u001fctrace:ready\\n"}' });
      setTimeout(() => end(null), 5);
    });
    const { r, out, messages } = await run([ok, drops]);
    expect(r.exitCode).toBe(1);
    expect(messages).toEqual(['web2: lost the connection to the helper on web2']);
    const n = out.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.name === '@n');
    expect(n).toMatchObject({ rows: [{ value: 2 }] });
  });

  it('when every host fails with the same compile errors, the diagnostics come once and the exit is 2', async () => {
    const bad: Script = (send, end) => {
      send({ t: 'diagnostics', diagnostics: [{ code: 'CT2001', severity: 'error', message: "unknown function 'quantise'", span: { start: 0, end: 3 } }] });
      end(2);
    };
    const seen: unknown[] = [];
    const out = sink();
    const err = sink();
    const r = await runFleet([fake('a', bad), fake('b', bad)], { program: { name: 'x', text: TEXT }, args: [], intervalMs: null, quiet: false, destructive: false }, {
      output: 'table', durationMs: null, quiet: false, stdout: out, stderr: err, env: {}, onDiagnostics: (d) => seen.push(d),
    });
    expect(r.exitCode).toBe(2);
    expect(seen).toHaveLength(1);
  });
});

describe('runFleet --follow', () => {
  it('an older helper that does not say it follows is ended, in one sentence naming the host', async () => {
    const old = fake('web1', healthy('web1', [1]));
    const messages: string[] = [];
    const r = await runFleet([old], { program: { name: '<command line>', text: TEXT }, args: [], intervalMs: null, quiet: true, destructive: false, follow: true }, {
      output: 'table',
      durationMs: null,
      quiet: true,
      stdout: sink(),
      stderr: sink(),
      env: { NO_COLOR: '1' },
      onHostMessage: (h, m) => messages.push(`${h}: ${m}`),
    });
    expect(old.requests[0]).toMatchObject({ op: 'run', follow: true });
    expect(r.exitCode).toBe(1);
    expect(messages).toEqual(['web1: the helper on web1 does not support --follow: install the same ctrace version there']);
  });
});

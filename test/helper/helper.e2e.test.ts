// The helper for real (`node dist/helper/main.js`), on this machine, against podman
// containers of the demo's Go services. The caller is given as sudo gives it (SUDO_USER,
// SUDO_UID), with a policy and audit log of the test's own (CTRACE_POLICY).

import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Message } from '../../src/helper/protocol.js';
import { cleanupStale, useTestContainers, type TestContainer } from '../support/containers.js';
import { bpftraceProcesses, ROOT } from '../support/trace.js';

const HELPER = join(ROOT, 'dist', 'helper', 'main.js');
const pool = useTestContainers();
const tmp = mkdtempSync(join(tmpdir(), 'ctrace-helper-e2e-'));
const audit = join(tmp, 'audit.log');
const policyFile = join(tmp, 'policy.json');
let allowed: TestContainer;
let other: TestContainer;

beforeAll(async () => {
  await cleanupStale();
  [allowed, other] = (await pool.start('voting', 2, { args: ['-fail-rate', '0'] })) as [TestContainer, TestContainer];
  writeFileSync(policyFile, JSON.stringify({ version: 1, audit, grants: [{ users: ['ctrace-e2e'], containers: [allowed.name] }] }));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface Helper {
  child: ChildProcessWithoutNullStreams;
  messages: Message[];
  /** Resolves with the first message matching `pred`. */
  waitFor(pred: (m: Message) => boolean, timeoutMs?: number): Promise<Message>;
  done: Promise<number | null>;
}

function startHelper(request: object, env: NodeJS.ProcessEnv = {}): Helper {
  const child = spawn(process.execPath, [HELPER], { env: { PATH: process.env.PATH, CTRACE_POLICY: policyFile, ...env } });
  const messages: Message[] = [];
  const waiters: { pred: (m: Message) => boolean; resolve: (m: Message) => void }[] = [];
  let buf = '';
  child.stdout.on('data', (c: Buffer) => {
    buf += c.toString();
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const m = JSON.parse(buf.slice(0, nl)) as Message;
      buf = buf.slice(nl + 1);
      messages.push(m);
      for (const w of waiters.splice(0)) if (w.pred(m)) w.resolve(m);
      else waiters.push(w);
    }
  });
  child.stdin.write(JSON.stringify(request) + '\n');
  return {
    child,
    messages,
    done: new Promise((r) => child.on('close', (code) => r(code))),
    waitFor: (pred, timeoutMs = 30_000) =>
      new Promise((resolve, reject) => {
        const hit = messages.find(pred);
        if (hit) return resolve(hit);
        const t = setTimeout(() => reject(new Error(`no such message in ${timeoutMs} ms; got ${JSON.stringify(messages.map((m) => m.t))}`)), timeoutMs);
        waiters.push({ pred, resolve: (m) => (clearTimeout(t), resolve(m)) });
      }),
  };
}

const asUser = { SUDO_USER: 'ctrace-e2e', SUDO_UID: '4242', SUDO_GID: '4242' };
function runRequest(marker: string, containers: string[], text = `uprobe:main.vote { @["${marker}"] = count(); }`) {
  return { v: 1, op: 'run', program: { name: '<command line>', text }, args: [], targets: { containers, labels: [], pids: [], runtime: 'podman', hostPids: false }, intervalMs: null, quiet: false, destructive: false };
}
const auditLines = () => readFileSync(audit, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);

describe('the helper', () => {
  it('answers hello with its version, the caller and bpftrace', async () => {
    const h = startHelper({ v: 1, op: 'hello' }, asUser);
    expect(await h.done).toBe(0);
    expect(h.messages).toEqual([expect.objectContaining({ t: 'hello', v: 1, caller: 'ctrace-e2e', bpftrace: expect.stringMatching(/^\d+\.\d+\.\d+$/) })]);
  });

  it('refuses a caller with no grant, says so in one sentence, and audits the refusal', async () => {
    const marker = `nogrant${randomBytes(3).toString('hex')}`;
    const h = startHelper(runRequest(marker, [allowed.name]), { SUDO_USER: 'nobody-here', SUDO_UID: '4343' });
    expect(await h.done).toBe(1);
    expect(h.messages).toEqual([{ t: 'error', message: expect.stringMatching(/^user 'nobody-here' may not trace anything on this host: no grant/), exitCode: 1, refused: true }]);
    expect(bpftraceProcesses(marker)).toEqual([]);
    expect(auditLines().at(-1)).toMatchObject({ caller: 'nobody-here', uid: 4343, via: 'sudo', outcome: 'refused', targets: [allowed.name] });
  });

  it('with a grant for one container: that one is traced, another is refused', async () => {
    const refusedMarker = `other${randomBytes(3).toString('hex')}`;
    const r = startHelper(runRequest(refusedMarker, [other.name]), asUser);
    expect(await r.done).toBe(1);
    expect(r.messages.at(-1)).toEqual({ t: 'error', message: `user 'ctrace-e2e' may not trace container '${other.name}' (no grant in the ctrace policy matches it)`, exitCode: 1, refused: true });

    const marker = `granted${randomBytes(3).toString('hex')}`;
    const h = startHelper(runRequest(marker, [allowed.name]), asUser);
    await h.waitFor((m) => m.t === 'out' && m.line.includes('ctrace:ready'));
    const s = await pool.load(allowed, '/vote?n={n}', { requests: 25, ns: [1], concurrency: 2 });
    expect(s.sent).toBe(25);
    h.child.stdin.write('{"op":"stop"}\n');
    expect(await h.done).toBe(0);
    const maps = h.messages.filter((m): m is Extract<Message, { t: 'out' }> => m.t === 'out' && m.line.includes(marker));
    expect(maps.at(-1)!.line).toContain(`"${marker}": 25`);
    expect(h.messages.at(-1)).toEqual({ t: 'exit', code: 0, signal: null });
    const lines = auditLines().filter((l) => l.program && (l.targets as string[]).includes(allowed.name) && l.caller === 'ctrace-e2e');
    expect(lines.slice(-2).map((l) => l.outcome)).toEqual(['started', 'interrupted']);
    expect(lines.at(-1)).toMatchObject({ program: { sha256: expect.stringMatching(/^[0-9a-f]{64}$/), name: '<command line>' }, end: expect.any(String) });
  });

  it('refuses host-wide and kernel probes to a container-only grant', async () => {
    const wide = startHelper({ ...runRequest('x', []), targets: undefined }, asUser);
    expect(await wide.done).toBe(1);
    expect(wide.messages.at(-1)).toMatchObject({ t: 'error', refused: true, message: expect.stringMatching(/may not trace the whole host/) });
    const k = startHelper(runRequest('x', [allowed.name], 'kprobe:vfs_read { @ = count(); }'), asUser);
    expect(await k.done).toBe(1);
    expect(k.messages.at(-1)).toMatchObject({ t: 'error', refused: true, message: expect.stringMatching(/may not use kernel probes \(kprobe:vfs_read\)/) });
    // A provider given as a script argument is judged after expansion.
    const viaArg = startHelper({ ...runRequest('x', [allowed.name], '$1:vfs_read { @ = count(); }'), args: ['kprobe'] }, asUser);
    expect(await viaArg.done).toBe(1);
    expect(viaArg.messages.at(-1)).toMatchObject({ t: 'error', refused: true, message: expect.stringMatching(/may not use kernel probes \(kprobe:vfs_read\)/) });
  });

  it('kills bpftrace within 2 s when its stdin closes (the caller died), and audits it', async () => {
    const marker = `closed${randomBytes(3).toString('hex')}`;
    const h = startHelper(runRequest(marker, [allowed.name]), asUser);
    await h.waitFor((m) => m.t === 'out' && m.line.includes('ctrace:ready'));
    expect(bpftraceProcesses(marker)).toHaveLength(1);
    const t0 = Date.now();
    h.child.stdin.end();
    await h.done;
    while (bpftraceProcesses(marker).length && Date.now() - t0 < 2000) await new Promise((r) => setTimeout(r, 50));
    expect(bpftraceProcesses(marker)).toEqual([]);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(auditLines().at(-1)).toMatchObject({ outcome: 'killed', caller: 'ctrace-e2e' });
  });

  it('kills bpftrace when the helper itself is killed (parent-death signal)', async () => {
    const marker = `sigkill${randomBytes(3).toString('hex')}`;
    const h = startHelper(runRequest(marker, [allowed.name]), asUser);
    await h.waitFor((m) => m.t === 'out' && m.line.includes('ctrace:ready'));
    h.child.kill('SIGKILL');
    const t0 = Date.now();
    while (bpftraceProcesses(marker).length && Date.now() - t0 < 2000) await new Promise((r) => setTimeout(r, 50));
    expect(bpftraceProcesses(marker)).toEqual([]);
  });

  it('rejects a malformed request and a newer protocol version in one sentence', async () => {
    const h = startHelper({ v: 9, op: 'hello' });
    expect(await h.done).toBe(2);
    expect(h.messages).toEqual([{ t: 'error', message: expect.stringMatching(/^protocol version 9 is not supported/), exitCode: 2 }]);
  });
});

// End to end: source-line probes (issue 13, item 1) on the demo's frontend in a real podman
// container, real bpftrace 0.23. A probe on the handler's line `status := handle(n)` fires
// exactly once per request sent, and its locals n (int), voter (string) and early (bool) equal
// what each request carried; a line without code, a file not in the binary and a local DWARF
// does not locate there are each refused in one sentence, exit 2.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { demoSourceDir } from '../../src/demo/build.js';
import { cleanupStale, useTestContainers, type TestContainer } from '../support/containers.js';
import { runTrace, traceWhile } from '../support/trace.js';

const pool = useTestContainers();
/** docker installed but not answering (no engine here): only podman is asked. */
const NO_DOCKER = { DOCKER_HOST: 'unix:///nonexistent/ctrace-lines-no-docker.sock' };
let frontend: TestContainer;

/** The 1-based line of the frontend's source holding `text`. */
function lineOf(text: string): number {
  const lines = readFileSync(join(demoSourceDir(), 'services/frontend/main.go'), 'utf8').split('\n');
  const i = lines.findIndex((l) => l.includes(text));
  if (i < 0) throw new Error(`no line with ${text}`);
  return i + 1;
}
const HANDLER = lineOf('status := handle(n)');

beforeAll(async () => {
  await cleanupStale();
  // Its downstream services refuse connections at once: the handler still runs its lines
  // (and answers 502), which is all the line probe needs.
  [frontend] = (await pool.start('frontend', 1, { args: ['-voting', 'http://127.0.0.1:1', '-emoji', 'http://127.0.0.1:1'] })) as [TestContainer];
});

interface Agg {
  readonly name: string;
  readonly rows: { keys: (number | string)[]; value?: number }[];
}

function finalAggs(stdout: string): Record<string, Agg> {
  const out: Record<string, Agg> = {};
  for (const line of stdout.split('\n')) {
    if (!line.trim()) continue;
    const ev = JSON.parse(line) as Agg & { type: string; phase: string };
    if (ev.type === 'aggregation' && ev.phase === 'final') out[ev.name] = ev;
  }
  return out;
}

/** Sends `n` requests, `concurrency` at a time; request i carries n=i-50, voter=v<i>, early=(i%3==0). */
async function send(n: number, concurrency = 8): Promise<{ n: number; voter: string; early: number }[]> {
  const sent: { n: number; voter: string; early: number }[] = [];
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      const req = { n: i - 50, voter: `v${i}`, early: i % 3 === 0 ? 1 : 0 };
      const res = await fetch(`${frontend.url}/vote?n=${req.n}&voter=${req.voter}&early=${req.early}`);
      await res.arrayBuffer();
      sent.push(req);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return sent;
}

describe('source-line probes on the demo frontend', () => {
  it('fire exactly once per request, with each request\'s int, string and bool locals', async () => {
    const program = [
      `uprobe:main.go:${HANDLER} { @hits = count(); @seen[locals.n, locals.voter, locals.early] = count(); }`,
      // The D spelling and a longer path suffix (quoted: a '/' would start a predicate) name the same address.
      `pid$target::"services/frontend/main.go":${HANDLER}: { @pid = count(); }`,
    ].join('\n');
    let sent: { n: number; voter: string; early: number }[] = [];
    const r = await traceWhile(['-c', frontend.name, '-o', 'json', program], async () => {
      sent = await send(300);
    }, { env: NO_DOCKER, probes: 2, timeoutMs: 90_000 });
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    const aggs = finalAggs(r.stdout);
    expect(sent).toHaveLength(300);
    expect(aggs['@hits']!.rows[0]!.value).toBe(300);
    expect(aggs['@pid']!.rows[0]!.value).toBe(300);
    const seen = aggs['@seen']!.rows.map((row) => `${row.keys.join(',')}=${row.value}`).sort();
    expect(seen).toEqual(sent.map((s) => `${s.n},${s.voter},${s.early}=1`).sort());
  }, 150_000);

  const refused = async (program: string, code: string) => {
    const r = await runTrace(['-c', frontend.name, '-d', '1s', program], { env: NO_DOCKER });
    expect(r.code).toBe(2);
    const errors = r.stderr.split('\n').filter((l) => / error CT\d{4}: /.test(l));
    expect(errors, r.stderr).toHaveLength(1);
    expect(errors[0]).toContain(`error ${code}: `);
    // One sentence: no stack trace, and the message has no second sentence.
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(errors[0]!.split(`error ${code}: `)[1]).not.toMatch(/\.\s+\S/);
    return errors[0]!;
  };

  it('refuses a line with no code, a file not in the binary, and a local not readable there', async () => {
    const blank = lineOf('// voter and early are optional');
    expect(await refused(`uprobe:main.go:${blank} { @ = count(); }`, 'CT3009')).toContain(`line ${blank} of ctrace.dev/demo/services/frontend/main.go has no code`);
    expect(await refused('uprobe:nosuch.go:10 { @ = count(); }', 'CT3008')).toContain('was not built from a file nosuch.go');
    // status is assigned by that very line: DWARF has no location for it there yet.
    expect(await refused(`uprobe:main.go:${HANDLER} { @[locals.status] = count(); }`, 'CT2018')).toContain('locals.status (int) cannot be read');
  }, 90_000);

  it('lists the lines of a file that can be probed', async () => {
    const r = await runTrace(['list', '-c', frontend.name, 'main.go:*'], { env: NO_DOCKER });
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toContain(`uprobe:main.go:${HANDLER}`);
    expect(lines).not.toContain(`uprobe:main.go:${lineOf('// voter and early are optional')}`);
  }, 60_000);
});

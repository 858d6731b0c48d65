// Every fenced code block in docs/*.md is executed, following the convention at the top of
// docs/README.md:
//
//   ```d        a program: compiled with `trace --emit bpftrace` (against the container
//               `checkout` unless the marker's args say otherwise), and the bpftrace program
//               attached and detached by bpftrace 0.23 --dry-run
//   ```sh       commands, run for real with bash (a page's blocks share shell variables), with
//               `trace` and `wrk` bounded in time (test/docs/bin/, trace-shim.mjs)
//   ```expect   one `trace check` expectation per line: each must parse
//   ```json     must be valid JSON
//   ```text     sample output or grammar: not run
//
// Container names and addresses in examples (checkout, ctrace-demo-frontend, ...,
// http://127.0.0.1:8080) are mapped to containers of the demo services started here.
// A block is opted out only with `<!-- test: skip="reason" -->`; those are counted.
//
// A page that starts with `<!-- test: hosts=N -->` gets N SSH test hosts
// (test/support/hosts.ts) for its own time: web1..webN are aliases of them in the ~/.ssh of
// the page's shell session, each runs a frontend container named `checkout` under a light
// load, and the page's sh blocks run inside web1's mount and UTS namespaces, so that
// what they install "on this machine" lands in web1's /etc, /usr/local and /var/log.

import { captureStreams } from '../support/streams.js';
import { spawn } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli.js';
import { parseExpectation } from '../../src/check/expect.js';
import { BUILTIN_VARS, FUNCTIONS, UNAVAILABLE } from '../../src/compiler/builtins.js';
import { Source } from '../../src/lang/source.js';
import { ROOT } from '../support/trace.js';
import { useTestContainers, type TestContainer } from '../support/containers.js';
import { startTestHosts, type TestHost } from '../support/hosts.js';
import { stubDownstream } from '../support/safety-containers.js';
import { buildDemo } from '../../src/demo/build.js';
import { runLoadgen } from '../../src/demo/stack.js';
import { docsBlocks, type Block } from './blocks.js';

const BPFTRACE_023 = `${process.env.TRACE_PREFIX ?? '/opt/ctrace'}/bin/bpftrace`;
const BIN = join(ROOT, 'test', 'docs', 'bin');
const KINDS = new Set(['d', 'sh', 'text', 'json', 'expect']);
/** Opted-out blocks allowed in all of docs/: keep them for what cannot run here. */
const MAX_SKIPPED = 6;
/** Keys a page marker (`<!-- test: ... -->` at the top of a page) may have. */
const PAGE_KEYS = new Set(['hosts']);
/** At most this many hosts for a page (each is an sshd, a podman store and a container). */
const MAX_HOSTS = 5;

const blocks = docsBlocks(join(ROOT, 'docs'));
const skipped = blocks.filter((b) => b.marker.skip !== undefined);
const counts = new Map<string, number>();

const pool = useTestContainers();
let fe: TestContainer;
let work: string;
let names: [RegExp, string][] = [];
const stopLoad = new AbortController();

beforeAll(async () => {
  const [voting] = await pool.start('voting', 1);
  const [emoji] = await pool.start('emoji', 1);
  [fe] = (await pool.start('frontend', 1, { args: ['-voting', voting!.url, '-emoji', emoji!.url] })) as [TestContainer];
  // Light, steady load, so that probes on main.handle see calls.
  pool.load(fe, '/vote?n={n}', { durationMs: 600_000, rate: 20, concurrency: 2, ns: [1, 2, 3], signal: stopLoad.signal }).catch(() => undefined);
  work = mkdtempSync(join(tmpdir(), 'ctrace-docs-'));
  symlinkSync(join(ROOT, 'probes'), join(work, 'probes'));
  const map: Record<string, string> = {
    'ctrace-demo-frontend': fe.name,
    'ctrace-demo-voting': voting!.name,
    'ctrace-demo-emoji': emoji!.name,
    checkout: fe.name,
  };
  names = [
    [/http:\/\/127\.0\.0\.1:8080\/checkout/g, `${fe.url}/vote?n=1`],
    [/http:\/\/127\.0\.0\.1:8080/g, fe.url],
    ...Object.keys(map)
      .sort((a, b) => b.length - a.length)
      .map((n): [RegExp, string] => [new RegExp(`(?<![\\w.-])${n.replace(/[-.]/g, '\\$&')}(?![\\w-])`, 'g'), map[n]!]),
  ];
}, 120_000);

afterAll(() => {
  stopLoad.abort();
  if (work) rmSync(work, { recursive: true, force: true });
  const lines = [...counts].map(([k, n]) => `${k}: ${n}`).join(', ');
  const samples = blocks.filter((b) => b.kind === 'text' && b.marker.skip === undefined).length;
  console.log(`docs examples: ${blocks.length} blocks; executed ${lines}; ${samples} text samples not run; opted out ${skipped.length}`);
  for (const b of skipped) console.log(`  opted out: ${b.file}:${b.line}: ${b.marker.skip}`);
});

const mapNames = (s: string): string => names.reduce((t, [re, to]) => t.replace(re, to), s);
const count = (kind: string) => counts.set(kind, (counts.get(kind) ?? 0) + 1);

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}): Promise<Ran> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const killer = setTimeout(() => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // gone
      }
    }, opts.timeoutMs ?? 60_000);
    child.on('close', (code) => {
      clearTimeout(killer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** `trace ARGS` in this process, for --emit: returns its exit code and output. */
async function traceInProcess(argv: string[]): Promise<Ran> {
  const c = captureStreams();
  const code = await main(['node', 'trace', ...argv], c.io);
  return { code, stdout: c.out(), stderr: c.err() };
}

const describeBlock = (b: Block, r: Ran) => `${b.file}:${b.line}\n--- block ---\n${b.text}--- exit ${r.code}; stdout ---\n${r.stdout}--- stderr ---\n${r.stderr}`;

function checkOutput(b: Block, r: Ran): void {
  const want = b.marker.exit !== undefined ? Number(b.marker.exit) : 0;
  expect(r.code, describeBlock(b, r)).toBe(want);
  if (b.marker.stderr !== undefined) expect(r.stderr, describeBlock(b, r)).toContain(b.marker.stderr);
  if (b.marker.stdout !== undefined) expect(r.stdout, describeBlock(b, r)).toContain(b.marker.stdout);
}

async function runProgram(b: Block, n: number): Promise<void> {
  const file = join(work, b.marker.file ?? `example-${n}.d`);
  writeFileSync(file, b.text);
  const opts = mapNames(b.marker.args ?? '-c checkout').split(/\s+/).filter(Boolean);
  const scriptArgs = (b.marker['script-args'] ?? '').split(/\s+/).filter(Boolean);
  const emitted = await traceInProcess(['--emit', 'bpftrace', ...opts, file, ...scriptArgs]);
  checkOutput(b, emitted);
  if (emitted.code !== 0) return;
  const unsafe = /\b(system|signal)\(/.test(emitted.stdout) ? ['--unsafe'] : [];
  const dry = await run(BPFTRACE_023, ['--dry-run', ...unsafe, '-e', emitted.stdout], { timeoutMs: 30_000 });
  expect(dry.code, `bpftrace --dry-run rejected the program of ${describeBlock(b, emitted)}\n--- bpftrace ---\n${dry.stderr}`).toBe(0);
  expect(dry.stderr).not.toMatch(/ERROR/);
}

async function runShell(b: Block, state: string, fleet?: PageHosts): Promise<void> {
  // On a hosts page, names are not rewritten: web1.. are the hosts, `checkout` is on each.
  const text = fleet ? b.text : mapNames(b.text);
  const script = [
    'set -a',
    `[ -f ${JSON.stringify(state)} ] && . ${JSON.stringify(state)}`,
    `cd ${JSON.stringify(work)}`,
    'set -e',
    text,
    'set +e',
    `export -p | grep -v '^declare -[a-zA-Z]*r' > ${JSON.stringify(state)}`,
  ].join('\n');
  const env: NodeJS.ProcessEnv = { PATH: `${BIN}:${process.env.PATH}`, NO_COLOR: '1', DOCS_CAP_S: '2' };
  const r = fleet
    ? await run('nsenter', ['-t', String(fleet.hosts[0]!.sshdPid), '-m', '-u', '--', 'bash', '-c', script], { cwd: work, env: { ...env, HOME: fleet.home, DOCS_TEST_HOST: fleet.name }, timeoutMs: 90_000 })
    : await run('bash', ['-c', script], { cwd: work, env, timeoutMs: 90_000 });
  checkOutput(b, r);
}

/** A page's SSH test hosts, as the shell session of a `hosts=N` page sees them. */
interface PageHosts {
  readonly hosts: TestHost[];
  /** web1's real name (ctrace-h1, ...): the host the shell session runs in. */
  readonly name: string;
  /** HOME of the page's shell session: ~/.ssh with the key, known_hosts and web1..webN aliases. */
  readonly home: string;
  stop(): Promise<void>;
}

async function startPageHosts(n: number): Promise<PageHosts> {
  const t = await startTestHosts(n);
  const stopLoad = new AbortController();
  let stub: Awaited<ReturnType<typeof stubDownstream>> | undefined;
  const stop = async () => {
    stopLoad.abort();
    await t.stop();
    await stub?.close();
  };
  try {
    const home = join(t.dir, 'docs-home');
    const ssh = join(home, '.ssh');
    mkdirSync(ssh, { recursive: true, mode: 0o700 });
    copyFileSync(t.clientKey, join(ssh, 'id_ed25519'));
    chmodSync(join(ssh, 'id_ed25519'), 0o600);
    copyFileSync(t.knownHostsFile, join(ssh, 'known_hosts'));
    const alias = (name: string, h: TestHost) =>
      `Host ${name}\n  HostName 127.0.0.1\n  Port ${h.port}\n  User root\n  IdentityFile ${join(ssh, 'id_ed25519')}\n  UserKnownHostsFile ${join(ssh, 'known_hosts')}\n`;
    writeFileSync(join(ssh, 'config'), t.hosts.flatMap((h, i) => [alias(`web${i + 1}`, h), alias(h.name, h)]).join('\n'));
    // Each host's `checkout`: a frontend whose downstream calls (voting, emoji) go to a stub.
    stub = await stubDownstream();
    const downstream = ['-voting', stub.url, '-emoji', stub.url];
    const [bins, services] = await Promise.all([buildDemo(), Promise.all(t.hosts.map((h) => h.startService('frontend', { name: 'checkout', args: downstream })))]);
    for (const svc of services) {
      runLoadgen(bins.paths.loadgen, `${svc.url}/vote?n={n}`, { durationMs: 600_000, rate: 10, concurrency: 1, ns: [1, 2, 3], signal: stopLoad.signal }).catch(() => undefined);
    }
    return { hosts: t.hosts, name: t.hosts[0]!.name, home, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

function checkExpectations(b: Block): void {
  for (const line of b.text.split('\n')) {
    if (line.trim() === '' || line.trim().startsWith('//')) continue;
    const parsed = parseExpectation(new Source('--expect', line));
    expect(parsed.diagnostics.map((d) => d.message), `${b.file}:${b.line}: ${line}`).toEqual([]);
  }
}

describe('docs/ code blocks', () => {
  it('every block says what it is (d, sh, text, json, expect), or is opted out with a reason', () => {
    const bad = blocks.filter((b) => !KINDS.has(b.kind) && b.marker.skip === undefined).map((b) => `${b.file}:${b.line} (${b.kind || 'no info string'})`);
    expect(bad).toEqual([]);
    for (const b of skipped) expect(b.marker.skip, `${b.file}:${b.line}: give the reason: skip="..."`).not.toBe('');
  });

  it(`a page marker has only known keys, and hosts=N with 1 <= N <= ${MAX_HOSTS}`, () => {
    const bad = new Set<string>();
    for (const b of blocks) {
      for (const k of Object.keys(b.page)) if (!PAGE_KEYS.has(k)) bad.add(`${b.file}: unknown page marker key ${k}`);
      const n = b.page.hosts;
      if (n !== undefined && !(/^\d+$/.test(n) && Number(n) >= 1 && Number(n) <= MAX_HOSTS)) bad.add(`${b.file}: hosts=${n}`);
    }
    expect([...bad]).toEqual([]);
  });

  it(`opt-outs stay rare (at most ${MAX_SKIPPED})`, () => {
    expect(skipped.map((b) => `${b.file}:${b.line}: ${b.marker.skip}`).length).toBeLessThanOrEqual(MAX_SKIPPED);
  });

  it('docs/language.md has a program example for every builtin variable and function', () => {
    const programs = blocks.filter((b) => b.file === 'docs/language.md' && b.kind === 'd').map((b) => b.text).join('\n');
    const names = [...Object.keys(BUILTIN_VARS), ...Object.keys(FUNCTIONS)].filter((n) => !UNAVAILABLE[n]);
    const missing = names.filter((n) => !new RegExp(`(?<![\\w>.])${n}\\b`).test(programs));
    expect(missing).toEqual([]);
  });

  const byFile = new Map<string, Block[]>();
  for (const b of blocks) byFile.set(b.file, [...(byFile.get(b.file) ?? []), b]);
  for (const [file, list] of byFile) {
    describe(file, () => {
      const state = () => join(work, `.state-${file.replace(/\W/g, '_')}`);
      const hostsPage = list[0]!.page.hosts !== undefined;
      const nHosts = Number(list[0]!.page.hosts ?? 0);
      let fleet: PageHosts | undefined;
      if (Number.isInteger(nHosts) && nHosts >= 1 && nHosts <= MAX_HOSTS) {
        beforeAll(async () => {
          fleet = await startPageHosts(nHosts);
        }, 180_000);
        afterAll(async () => {
          await fleet?.stop();
        }, 60_000);
      }
      list.forEach((b, i) => {
        const title = `line ${b.line}: ${b.kind}${b.marker.skip !== undefined ? ` (opted out: ${b.marker.skip})` : ''}`;
        if (b.kind === 'text' && b.marker.skip === undefined) return; // sample output: nothing to run
        if (b.marker.skip !== undefined) {
          it.skip(title, () => undefined);
          return;
        }
        it(title, async () => {
          count(b.kind);
          if (b.kind === 'd') await runProgram(b, i);
          else if (b.kind === 'sh') {
            // Never on the real machine: a hosts page installs things "on this machine".
            if (hostsPage && !fleet) throw new Error(`${file}: its test hosts (hosts=${list[0]!.page.hosts}) did not start`);
            await runShell(b, state(), fleet);
          }
          else if (b.kind === 'json') expect(() => JSON.parse(b.text), `${b.file}:${b.line}`).not.toThrow();
          else if (b.kind === 'expect') checkExpectations(b);
          else throw new Error(`${b.file}:${b.line}: a block's info string must be d, sh, text, json or expect (or opt it out with a reason)`);
        }, 120_000);
      });
      it('(cleanup)', () => {
        if (work && existsSync(state())) rmSync(state());
      });
    });
  }
});

// End to end: the issue's two safety items, against real podman containers and the built CLI.
//
// (5) A container name, label or host name holding shell metacharacters is refused (one
//     sentence, non-zero exit) or taken as a literal name, and never run: each case would
//     create its own marker file if any shell ran it, and the runtimes (behind spies that
//     record their argv) never receive it, let alone as an option. The same for requests sent
//     straight to the privileged helper. A real container with an unusual but valid name works.
// (6) A container whose probed binary is reached through an absolute symlink (/svc ->
//     /usr/bin/bash, where the container's /usr/bin/bash is the Go service and the host's is
//     bash) gets its own file traced, never the host's: counts are exact, and the emitted
//     program names /proc/PID/root/usr/bin/bash. Escaping links resolve inside the root;
//     missing ones are refused in one sentence.

import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDemo, type DemoBinaries } from '../../src/demo/build.js';
import { removeContainer } from '../../src/demo/podman.js';
import { demoRootfs } from '../../src/demo/rootfs.js';
import { runLoadgen, type LoadSummary } from '../../src/demo/stack.js';
import type { TargetRequest } from '../../src/runner/request.js';
import { findExecutable } from '../../src/runner/targets/exec.js';
import { cleanupStale } from '../support/containers.js';
import {
  LINKS,
  oddName,
  runHelper,
  runtimeSpies,
  startRootfsContainer,
  stubDownstream,
  symlinkRootfs,
  type HelperRun,
  type RootfsContainer,
} from '../support/safety-containers.js';
import { parseTables, runTrace, traceWhile as traceWhileIn, type TraceRun } from '../support/trace.js';

const RUN = randomBytes(4).toString('hex');
const tmp = mkdtempSync(join(tmpdir(), 'ctrace-safety-'));
/** docker is installed but nothing answers it here: the same on every machine. */
const NO_DOCKER = { DOCKER_HOST: `unix://${tmp}/no-docker.sock` };

const realBpftrace = process.env.TRACE_BPFTRACE || (existsSync('/opt/ctrace/bin/bpftrace') ? '/opt/ctrace/bin/bpftrace' : findExecutable('bpftrace'));
const spy = runtimeSpies(join(tmp, 'spy'), {
  podman: findExecutable('podman') ?? 'podman',
  docker: findExecutable('docker') ?? 'docker',
  ...(realBpftrace ? { bpftrace: realBpftrace } : {}),
});
/** For runs that are refused: every runtime (and bpftrace) behind a spy. */
const SPIED = { ...NO_DOCKER, ...spy.env };

// The helper's policy (root may do everything anyway) with its audit log kept in tmp.
const POLICY = join(tmp, 'policy.json');
writeFileSync(POLICY, JSON.stringify({ version: 1, audit: join(tmp, 'audit.log'), grants: [] }));
const HELPER_ENV = { ...SPIED, CTRACE_POLICY: POLICY };

/** A fresh marker path: a case that would run a shell creates it. */
const markers: string[] = [];
function marker(): string {
  const m = join(tmp, `m${markers.length + 1}`);
  markers.push(m);
  return m;
}

const PROGRAM = 'uprobe:main.handle { @ = count(); }';

// The odd container carries a label whose value is all shell syntax (taken literally, it
// must select this container).
const LITERAL_LABEL = `ctrace.test.safety=$(touch ${marker()}) \`touch ${marker()}\`; touch ${marker()} | x & y > ${marker()}`;

let bins: DemoBinaries;
let stub: Awaited<ReturnType<typeof stubDownstream>>;
/** Runs /svc, a symlink to its /usr/bin/bash (the frontend). */
let sym: RootfsContainer;
/** A plain frontend with dots, dashes and an underscore in its name. */
let odd: RootfsContainer;

beforeAll(async () => {
  await cleanupStale();
  [bins, stub] = await Promise.all([buildDemo(), stubDownstream()]);
  const downstream = ['-voting', stub.url, '-emoji', stub.url];
  const symName = `ctrace-test-safety-sym-${RUN}`;
  const name = oddName();
  [sym, odd] = await Promise.all([
    symlinkRootfs(bins, join(tmp, 'rootfs-sym')).then((rootfs) =>
      startRootfsContainer({ name: symName, rootfs, cmd: [LINKS.abs, '-name', symName, '-port', '0', ...downstream] }),
    ),
    demoRootfs(bins, 'frontend').then((rootfs) =>
      startRootfsContainer({ name, rootfs, cmd: ['/app/frontend', '-name', name, '-port', '0', ...downstream], labels: { 'ctrace.test.safety': LITERAL_LABEL.slice(LITERAL_LABEL.indexOf('=') + 1) } }),
    ),
  ]);
});

afterAll(async () => {
  await Promise.all([sym, odd].filter(Boolean).map((c) => removeContainer(c.name).catch(() => {})));
  await stub?.close();
  rmSync(tmp, { recursive: true, force: true });
});

// --- helpers -----------------------------------------------------------------------------

/** One line on stderr, `trace: ...`, no stack trace, nothing on stdout, a non-zero exit. */
function oneSentence(r: TraceRun): string {
  expect(r.stdout).toBe('');
  expect(r.stderr).toMatch(/^trace: [^\n]+\n$/);
  expect(r.stderr).not.toMatch(/\n\s+at |node:internal|TypeError|Error:/);
  expect(r.signal).toBeNull();
  expect(r.code).not.toBe(0);
  return r.stderr.slice('trace: '.length, -1);
}

/** No runtime or bpftrace call so far received `s` in any argument. */
function neverPassed(s: string): void {
  if (s === '') return;
  const hits = spy.calls().filter((argv) => argv.some((a) => a.includes(s)));
  expect(hits).toEqual([]);
}

function noMarkers(...ms: string[]): void {
  for (const m of ms) expect(existsSync(m), `${m} was created`).toBe(false);
}

/** A template's markers, and the string it makes. */
function instantiate(make: (m: () => string) => string): { value: string; ms: string[] } {
  const ms: string[] = [];
  const value = make(() => {
    const m = marker();
    ms.push(m);
    return m;
  });
  return { value, ms };
}

/** Starts `trace args`, waits until `probes` are attached, runs `during`, then Ctrl-C. */
function traceWhile(args: string[], during: () => Promise<unknown>, probes = 1): Promise<TraceRun> {
  return traceWhileIn(args, during, { env: NO_DOCKER, probes });
}

/**
 * `requests` requests spread over `ns`; returns how many were sent per n. Each n is first sent
 * once alone: bpftrace's count() can lose an increment when two CPUs create the same new key at
 * the same moment, so keys are made before the concurrent load.
 */
async function load(c: RootfsContainer, requests: number, ns: number[]): Promise<Record<string, number>> {
  const url = `${c.url}/vote?n={n}`;
  const first: LoadSummary = await runLoadgen(bins.paths.loadgen, url, { requests: ns.length, ns, concurrency: 1 });
  const rest: LoadSummary = await runLoadgen(bins.paths.loadgen, url, { requests: requests - ns.length, ns, concurrency: 3 });
  const byN: Record<string, number> = { ...first.byN };
  for (const [n, k] of Object.entries(rest.byN)) byN[n] = (byN[n] ?? 0) + k;
  return byN;
}

/** { key: count } of the only table, keyed by every column but the last. */
function counts(r: TraceRun): Record<string, number> {
  const tables = parseTables(r.stdout);
  expect(tables).toHaveLength(1);
  return Object.fromEntries(tables[0]!.rows.map((row) => [row.slice(0, -1).join(' '), Number(row[row.length - 1])]));
}

function request(targets: Partial<TargetRequest>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    v: 1,
    op: 'run',
    program: { name: '<command line>', text: PROGRAM },
    args: [],
    targets: { containers: [], labels: [], pids: [], runtime: 'auto', hostPids: false, ...targets },
    intervalMs: null,
    quiet: false,
    destructive: false,
    ...extra,
  };
}

/** The helper answered exactly one `error` message, in one sentence, and exited with its code. */
function helperError(h: HelperRun, exitCode: number): string {
  expect(h.junk).toEqual([]);
  expect(h.stderr).toBe('');
  expect(h.messages).toHaveLength(1);
  const m = h.messages[0]!;
  expect(m.t).toBe('error');
  expect(m.exitCode).toBe(exitCode);
  expect(m.refused).toBeUndefined();
  expect(typeof m.message).toBe('string');
  expect(m.message as string).not.toMatch(/\n|\s+at |internal error/);
  expect(h.code).toBe(exitCode);
  return m.message as string;
}

// --- (5) names with shell metacharacters ----------------------------------------------------

/** Container names no runtime may ever see; `m()` gives a fresh marker path. */
const BAD_NAMES: [string, (m: () => string) => string][] = [
  ['a semicolon', (m) => `x;touch ${m()}`],
  ['command substitution', (m) => `$(touch ${m()})`],
  ['backticks', (m) => `\`touch ${m()}\``],
  ['a space', () => 'a b'],
  ['a leading dash (-rf)', () => '-rf'],
  ['a long option with a payload', (m) => `--log-level=debug;touch ${m()}`],
  ['a newline and a command', (m) => `ok\ntouch ${m()}`],
  ['a newline and an option', () => 'ok\n--privileged'],
  ['a tab', () => 'a\tb'],
  ['single quotes', (m) => `a';touch ${m()};'`],
  ['double quotes', (m) => `a";touch ${m()};"`],
  ['a pipe', (m) => `a|touch ${m()}`],
  ['an ampersand', (m) => `a&touch ${m()}&`],
  ['a redirection', (m) => `a>${m()}`],
  ['a glob', () => '*'],
  ['a relative path', () => '../../etc/passwd'],
  ['nothing (empty)', () => ''],
  ['254 characters', () => 'a'.repeat(254)],
];

describe.concurrent('trace -c NAME with shell metacharacters: refused in one sentence, never run', () => {
  for (const [what, make] of BAD_NAMES) {
    it(`-c with ${what}`, async () => {
      const { value, ms } = instantiate(make);
      const r = await runTrace(['-c', value, PROGRAM], { env: SPIED });
      const msg = oneSentence(r);
      expect(msg).toBe(`${JSON.stringify(value)} is not a valid container name (use letters, digits and _ . - only)`);
      expect(r.code).toBe(2);
      noMarkers(...ms);
      neverPassed(value);
    });
  }

  it('-p with shell syntax is refused the same way', async () => {
    const made = [instantiate((m) => `1;touch ${m()}`), instantiate((m) => `$(touch ${m()})`), instantiate(() => '-1')];
    const values = made.map((x) => x.value);
    const ms = made.flatMap((x) => x.ms);
    const rs = await Promise.all(values.map((v) => runTrace(['-p', v, PROGRAM], { env: SPIED })));
    for (const [i, r] of rs.entries()) {
      expect(oneSentence(r)).toBe(`bad --pid '${values[i]}': give a process id`);
      expect(r.code).toBe(2);
    }
    noMarkers(...ms);
  });

  it('--container=VALUE, a bad name after a good one, and the list, check and repl commands', async () => {
    const never = `ctrace-test-safety-never-${RUN}`; // valid, but must not be looked up either
    const runs: [string[], string][] = [];
    const add = (args: (v: string) => string[], make: (m: () => string) => string) => {
      const { value, ms } = instantiate(make);
      runs.push([args(value), value]);
      return ms;
    };
    const ms = [
      ...add((v) => [`--container=${v}`, PROGRAM], (m) => `-v/:/host;touch ${m()}`),
      ...add((v) => ['-c', never, '-c', v, PROGRAM], (m) => `x;touch ${m()}`),
      ...add((v) => ['list', '-c', v, 'main.*'], (m) => `$(touch ${m()})`),
      ...add((v) => ['check', '-c', v, '-d', '1s', 'BEGIN { }'], (m) => `\`touch ${m()}\``),
      ...add((v) => ['repl', '-c', v], (m) => `a|touch ${m()}`),
    ];
    const results = await Promise.all(runs.map(([args]) => runTrace(args, { env: SPIED, timeoutMs: 20_000 })));
    for (const [i, r] of results.entries()) {
      const value = runs[i]![1];
      expect(oneSentence(r)).toBe(`${JSON.stringify(value)} is not a valid container name (use letters, digits and _ . - only)`);
      neverPassed(value);
    }
    neverPassed(never);
    noMarkers(...ms);
  });
});

describe.concurrent('trace --label SELECTOR with shell metacharacters', () => {
  const REFUSED: [string, (m: () => string) => string][] = [
    ['command substitution in the key', (m) => `$(touch ${m()})=v`],
    ['a semicolon in the key', (m) => `k;touch ${m()}=v`],
    ['backticks as the key', (m) => `\`touch ${m()}\``],
    ['a leading dash', () => '-rf'],
    ['a newline in the value', (m) => `k=a\ntouch ${m()}`],
  ];
  for (const [what, make] of REFUSED) {
    it(`refused: ${what}`, async () => {
      const { value, ms } = instantiate(make);
      const r = await runTrace(['--label', value, PROGRAM], { env: SPIED });
      expect(oneSentence(r)).toBe(`${JSON.stringify(value)} is not a valid label selector (expected key=value)`);
      noMarkers(...ms);
      neverPassed(value);
    });
  }

  const LITERAL: [string, (m: () => string) => string][] = [
    ['command substitution', (m) => `ctrace.test.safety=$(touch ${m()})`],
    ['backticks', (m) => `ctrace.test.safety=\`touch ${m()}\``],
    ['a semicolon', (m) => `ctrace.test.safety=;touch ${m()}`],
    ['a pipe and a redirection', (m) => `ctrace.test.safety=a|touch ${m()}>${m()}`],
    ['an option', () => 'ctrace.test.safety=--all'],
  ];
  for (const [what, make] of LITERAL) {
    it(`a value with ${what} is a literal value (matching no container)`, async () => {
      const { value, ms } = instantiate(make);
      const r = await runTrace(['--label', value, PROGRAM], { env: SPIED });
      expect(oneSentence(r)).toMatch(/^no running container has the label /);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(value);
      noMarkers(...ms);
      // podman got it as one argument, the value of --filter, never as an option or command.
      const filters = spy.calls().filter((argv) => argv.some((a) => a.includes(value)));
      expect(filters.length).toBeGreaterThan(0);
      for (const argv of filters) {
        const i = argv.indexOf(`label=${value}`);
        expect(i).toBeGreaterThan(0);
        expect(argv[i - 1]).toBe('--filter');
        expect(argv.filter((a) => a.includes(value))).toHaveLength(1);
      }
    });
  }

  it('a container really labelled with shell syntax is found by that literal label and traced', async () => {
    const r = await runTrace(['--label', LITERAL_LABEL, '--emit', 'bpftrace', PROGRAM], { env: SPIED });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`uprobe:/proc/${odd.hostPid}/root/app/frontend:main.handle`);
    noMarkers(...markers.slice(0, 4));
  });
});

describe.concurrent('trace -H HOST with shell metacharacters: refused in one sentence, nothing contacted', () => {
  const BAD_HOSTS: [string, (m: () => string) => string][] = [
    ['a semicolon', (m) => `x;touch ${m()}`],
    ['a semicolon, no space', () => 'x;id'],
    ['command substitution', (m) => `$(touch ${m()})`],
    ['command substitution, no space', () => '$(id)'],
    ['backticks', () => '`id`'],
    ['a space', () => 'a b'],
    ['an ssh option', (m) => `-oProxyCommand=touch ${m()}`],
    ['an ssh option, no space', () => '-oProxyCommand=id'],
    ['a newline', () => 'h\nid'],
    ['a pipe', () => 'h|id'],
    ['an ampersand', () => 'h&id'],
    ['a redirection', (m) => `h>${m()}`],
    ['quotes', () => `h'"x`],
    ['a user with a semicolon', () => 'u;id@h'],
    ['a port with a semicolon', () => 'u@h:22;id'],
    ['an IPv6 address with a semicolon', () => '[::1;id]:22'],
  ];
  for (const [what, make] of BAD_HOSTS) {
    it(`-H with ${what}`, async () => {
      const { value, ms } = instantiate(make);
      const r = await runTrace(['-H', value, 'BEGIN { exit(); }'], { env: SPIED });
      expect(oneSentence(r)).toMatch(new RegExp(`^bad (host|user name in host|address in host) ${escapeRe(JSON.stringify(value))}`));
      expect(r.code).toBe(2);
      noMarkers(...ms);
      neverPassed(value);
    });
  }

  it('--hosts FILE with such a line', async () => {
    const m = marker();
    const file = join(tmp, 'hosts');
    writeFileSync(file, `# fleet\n127.0.0.1:1\nweb;touch ${m}\n`);
    const r = await runTrace(['--hosts', file, 'BEGIN { exit(); }'], { env: SPIED });
    expect(oneSentence(r)).toBe(`bad host ${JSON.stringify(`web;touch ${m}`)}: it contains whitespace or control characters; use user@host[:port], [ipv6]:port, or an ssh config alias`);
    expect(r.code).toBe(2);
    noMarkers(m);
  });

  it('an ssh config alias whose HostName is an option or shell, or that sets ProxyCommand/LocalCommand', async () => {
    const home = join(tmp, 'home');
    mkdirSync(join(home, '.ssh'), { recursive: true });
    const [m1, m2, m3, m4, m5] = [marker(), marker(), marker(), marker(), marker()];
    writeFileSync(
      join(home, '.ssh', 'config'),
      [
        'Host evil-option',
        `  HostName -oProxyCommand=touch ${m1}`,
        'Host evil-shell',
        `  HostName a;touch ${m2}`,
        'Host evil-proxy',
        '  HostName 127.0.0.1',
        '  Port 1',
        `  ProxyCommand touch ${m3}`,
        `  LocalCommand touch ${m4}`,
        '  PermitLocalCommand yes',
        `  KnownHostsCommand touch ${m5}`,
        '',
      ].join('\n'),
    );
    const env = { ...SPIED, HOME: home };
    const [a, b, c] = await Promise.all(['evil-option', 'evil-shell', 'evil-proxy'].map((h) => runTrace(['-H', h, 'BEGIN { exit(); }'], { env })));
    expect(oneSentence(a!)).toMatch(/^bad HostName "-oProxyCommand=touch.*" for evil-option in /);
    expect(oneSentence(b!)).toMatch(/^bad HostName "a;touch.*" for evil-shell in /);
    // The commands in the config are never run: ProxyCommand is refused before anything is contacted.
    expect(oneSentence(c!)).toBe('~/.ssh/config:8: ProxyCommand is not supported: trace never runs commands from the ssh config; use ProxyJump');
    expect([a!.code, b!.code, c!.code]).toEqual([2, 2, 2]);
    noMarkers(m1, m2, m3, m4, m5);
  });

  it('a bad container name with -H is refused before any host is contacted', async () => {
    const m = marker();
    const value = `x;touch ${m}`;
    const r = await runTrace(['-H', '127.0.0.1:1', '-c', value, PROGRAM], { env: SPIED });
    expect(oneSentence(r)).toBe(`${JSON.stringify(value)} is not a valid container name (use letters, digits and _ . - only)`);
    expect(r.code).toBe(2);
    noMarkers(m);
  });
});

describe.concurrent('the helper (node dist/helper/main.js) sent such names directly', () => {
  const HELPER_NAMES: [string, (m: () => string) => string][] = [
    ...BAD_NAMES,
    ['a NUL character', (m) => `a\u0000;touch ${m()}`],
    ['a runtime option', () => '--rootfs=/'],
    ['a volume option', (m) => `-v/:/host;touch ${m()}`],
  ];
  for (const [what, make] of HELPER_NAMES) {
    it(`run request, a container name with ${what}: one error message`, async () => {
      const { value, ms } = instantiate(make);
      const h = await runHelper(request({ containers: ['ok-name', value] }), HELPER_ENV);
      expect(helperError(h, 2)).toBe(`${JSON.stringify(value)} is not a valid container name (use letters, digits and _ . - only)`);
      noMarkers(...ms);
      neverPassed(value);
      neverPassed('ok-name');
    });
  }

  it('resolve and list requests, and an explicit runtime, refuse them the same way', async () => {
    const ms: string[] = [];
    const bad = (i: number) => {
      const m = marker();
      ms.push(m);
      return `c${i};touch ${m}`;
    };
    const t = (c: string, runtime = 'auto') => ({ containers: [c], labels: [], pids: [], runtime, hostPids: false });
    const reqs = [
      { v: 1, op: 'resolve', targets: t(bad(1)) },
      { v: 1, op: 'list', pattern: 'main.*', targets: t(bad(2)) },
      request({ containers: [bad(3)], runtime: 'podman' }),
      request({ containers: [bad(4)], runtime: 'docker' }),
      request({ containers: [bad(5)] }, { emitOnly: true }),
    ];
    for (const r of reqs) {
      const name = (r.targets as { containers: string[] }).containers[0]!;
      const h = await runHelper(r, HELPER_ENV);
      expect(helperError(h, 2)).toBe(`${JSON.stringify(name)} is not a valid container name (use letters, digits and _ . - only)`);
      neverPassed(name);
    }
    noMarkers(...ms);
  });

  it('malformed targets (a string instead of a list, a PID that is not a number) are refused', async () => {
    const [m1, m2] = [marker(), marker()];
    const a = await runHelper({ ...request({}), targets: { containers: `x;touch ${m1}`, labels: [], pids: [], runtime: 'auto', hostPids: false } }, HELPER_ENV);
    expect(helperError(a, 2)).toBe('the request has malformed targets');
    const b = await runHelper({ ...request({}), targets: { containers: [], labels: [], pids: [`1;touch ${m2}`], runtime: 'auto', hostPids: false } }, HELPER_ENV);
    expect(helperError(b, 2)).toBe('the request has malformed targets');
    noMarkers(m1, m2);
    neverPassed(`touch ${m1}`);
    neverPassed(`touch ${m2}`);
  });

  it('label selectors: a bad key is refused, a value with shell syntax is a literal filter', async () => {
    const [m1, m2] = [marker(), marker()];
    const badKey = `$(touch ${m1})=v`;
    expect(helperError(await runHelper(request({ labels: [badKey] }), HELPER_ENV), 2)).toBe(`${JSON.stringify(badKey)} is not a valid label selector (expected key=value)`);
    neverPassed(badKey);
    const literal = `ctrace.test.safety=;touch ${m2}`;
    expect(helperError(await runHelper(request({ labels: [literal] }), HELPER_ENV), 1)).toMatch(/^no running container has the label /);
    const filters = spy.calls().filter((argv) => argv.some((a) => a.includes(literal)));
    expect(filters.length).toBeGreaterThan(0);
    for (const argv of filters) expect(argv[argv.indexOf(`label=${literal}`) - 1]).toBe('--filter');
    noMarkers(m1, m2);
  });

  it('the `host` value of a run request is a literal string in the program', async () => {
    const m = marker();
    const host = `h";system("touch ${m}");"$(touch ${m})`;
    const h = await runHelper(request({}, { program: { name: '<command line>', text: 'BEGIN { printf("%s\\n", host); exit(); }' }, host }), HELPER_ENV);
    expect(h.stderr).toBe('');
    expect(h.messages.filter((x) => x.t === 'error')).toEqual([]);
    // `out` lines are bpftrace's JSON events: the one printf of the program printed the value as is.
    const printed = h.messages
      .filter((x) => x.t === 'out' && x.line !== '')
      .map((x) => JSON.parse(x.line as string) as { type: string; data: unknown })
      .filter((e) => e.type === 'printf' && !String(e.data).startsWith('\u001fctrace:'))
      .map((e) => e.data);
    expect(printed).toEqual([`${host}\n`]);
    expect(h.messages.at(-1)).toMatchObject({ t: 'exit', code: 0 });
    expect(h.code).toBe(0);
    noMarkers(m);
  });

  it('a real container with an unusual valid name: resolved, and compiled against its own files', async () => {
    const r = await runHelper({ v: 1, op: 'resolve', targets: { containers: [odd.name], labels: [], pids: [], runtime: 'auto', hostPids: false } }, HELPER_ENV);
    expect(r.messages).toEqual([{ t: 'targets', targets: [{ runtime: 'podman', id: odd.id, name: odd.name, hostPid: odd.hostPid }] }]);
    expect(r.code).toBe(0);
    const e = await runHelper(request({ containers: [odd.name] }, { emitOnly: true }), HELPER_ENV);
    expect(e.code).toBe(0);
    const compiled = e.messages.find((x) => x.t === 'compiled') as { program: { text: string } } | undefined;
    expect(compiled?.program.text).toContain(`uprobe:/proc/${odd.hostPid}/root/app/frontend:main.handle`);
    // podman got the name after `--`: it cannot be an option.
    const inspects = spy.calls().filter((argv) => argv.includes(odd.name));
    expect(inspects.length).toBeGreaterThan(0);
    expect(inspects.some((argv) => argv[0] === 'podman')).toBe(true);
    for (const argv of inspects) {
      expect(['podman', 'docker']).toContain(argv[0]);
      expect(argv.slice(1)).toEqual(['inspect', '--type', 'container', '--', odd.name]);
    }
  });
});

describe('a real container with an unusual valid name', () => {
  it(`-c NAME (dots, dashes, underscore) counts its requests exactly`, async () => {
    expect(odd.name).toMatch(/^ctrace-test-safety\.odd--name_v1\.2-[0-9a-f]{6}$/);
    let sent: Record<string, number> = {};
    const r = await traceWhile(['-c', odd.name, 'uprobe:main.handle { @[container, arg0] = count(); }'], async () => {
      sent = await load(odd, 25, [3, 4]);
    });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(sent).toEqual({ 3: 13, 4: 12 });
    expect(counts(r)).toEqual({ [`${odd.name} 3`]: 13, [`${odd.name} 4`]: 12 });
  });
});

// --- (6) absolute symlinks inside the container ---------------------------------------------

describe('a probed path that is a symlink is resolved inside the container', () => {
  const pidRoot = () => `/proc/${sym.hostPid}/root`;
  /** Every uprobe line of an emitted program names the container's /usr/bin/bash. */
  const containersBash = (r: TraceRun) => {
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const probes = r.stdout.split('\n').filter((l) => /^u(probe)?:/.test(l));
    expect(probes.length).toBeGreaterThan(0);
    for (const p of probes) expect(p).toMatch(new RegExp(`^uprobe:${escapeRe(pidRoot())}/usr/bin/bash:main\\.handle(\\+\\d+)?$`));
    expect(r.stdout).not.toMatch(/uprobe:\/usr\/bin\/bash/);
    expect(r.stdout).not.toMatch(/uprobe:\/(?!proc\/)/);
  };

  it("the trap is real: the kernel follows /svc to the host's bash, which has no main.handle", () => {
    // Opening /proc/PID/root/svc naively lands on the HOST's /usr/bin/bash.
    const host = statSync('/usr/bin/bash');
    const naive = statSync(`${pidRoot()}${LINKS.abs}`);
    expect(`${naive.dev}:${naive.ino}`).toBe(`${host.dev}:${host.ino}`);
    const mine = statSync(`${pidRoot()}/usr/bin/bash`);
    expect(`${mine.dev}:${mine.ino}`).not.toBe(`${host.dev}:${host.ino}`);
    expect(readFileSync('/usr/bin/bash').includes('main.handle')).toBe(false);
    expect(readFileSync(`${pidRoot()}/usr/bin/bash`).includes('main.handle')).toBe(true);
    // The container's process is that very file (run as /svc).
    const exe = statSync(`/proc/${sym.hostPid}/exe`);
    expect(`${exe.dev}:${exe.ino}`).toBe(`${mine.dev}:${mine.ino}`);
  });

  it('uprobe:/svc:main.handle (/svc -> /usr/bin/bash) counts exactly the requests sent', async () => {
    let sent: Record<string, number> = {};
    const r = await traceWhile(['-c', sym.name, `uprobe:${LINKS.abs}:main.handle { @[arg0] = count(); }`], async () => {
      sent = await load(sym, 31, [1, 2]);
    });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(sent).toEqual({ 1: 16, 2: 15 });
    expect(counts(r)).toEqual(sent);
  });

  it('uprobe:/svc2 (-> ../../../../usr/bin/bash, climbing above the root) stays inside it: exact counts', async () => {
    let sent: Record<string, number> = {};
    const r = await traceWhile(['-c', sym.name, `uprobe:${LINKS.up}:main.handle { @[arg0] = count(); }`], async () => {
      sent = await load(sym, 20, [7]);
    });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(sent).toEqual({ 7: 20 });
    expect(counts(r)).toEqual(sent);
  });

  it("--emit bpftrace names /proc/PID/root/usr/bin/bash, never the host's /usr/bin/bash", async () => {
    const paths = [LINKS.abs, LINKS.up, '/usr/bin/bash', `${LINKS.dir}/bin/bash`, '/app/../../../svc', '/./svc'];
    const runs = await Promise.all([
      ...paths.map((p) => runTrace(['-c', sym.name, '--emit', 'bpftrace', `uprobe:${p}:main.handle { @ = count(); }`], { env: NO_DOCKER })),
      // A return probe (its RET offsets are read from the file), the pid provider's module
      // name (found through the process's mappings), the main executable (no path), and -p PID.
      runTrace(['-c', sym.name, '--emit', 'bpftrace', `uretprobe:${LINKS.abs}:main.handle { @ = count(); }`], { env: NO_DOCKER }),
      runTrace(['-c', sym.name, '--emit', 'bpftrace', 'pid$target:bash:main.handle:entry { @ = count(); }'], { env: NO_DOCKER }),
      runTrace(['-c', sym.name, '--emit', 'bpftrace', PROGRAM], { env: NO_DOCKER }),
      runTrace(['-p', String(sym.hostPid), '--emit', 'bpftrace', `uprobe:${LINKS.abs}:main.handle { @ = count(); }`], { env: NO_DOCKER }),
    ]);
    for (const r of runs) containersBash(r);
  });

  it('trace list -c lists the functions of the container\'s file (the host\'s bash has no main.handle)', async () => {
    const r = await runTrace(['list', '-c', sym.name, 'main.handl*'], { env: NO_DOCKER });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('uprobe:main.handle');
  });

  it('a link through the container\'s /proc (/magic -> /proc/1/root/usr/bin/bash): its own file, or a refusal', async () => {
    const r = await runTrace(['-c', sym.name, '--emit', 'bpftrace', `uprobe:${LINKS.magic}:main.handle { @ = count(); }`], { env: NO_DOCKER });
    if (r.code === 0) containersBash(r);
    else expect(oneSentence(r)).toContain(LINKS.magic);
  });

  describe.concurrent('links that cannot be followed inside the root: one sentence, exit 1', () => {
    const cases: [string, string, (name: string) => string][] = [
      ['to a missing file', LINKS.missing, (n) => `/usr/bin/nothing-here does not exist in the container (${LINKS.missing} leads there) (container '${n}')`],
      ["to a file only the host has (/bin/sh)", LINKS.hostOnly, (n) => `/bin does not exist in the container (${LINKS.hostOnly} leads there) (container '${n}')`],
      ['in a loop', LINKS.loop, (n) => `${LINKS.loop} needs more than 40 symbolic links to resolve in the container (a loop?) (container '${n}')`],
      ['used as a directory', `${LINKS.abs}/x`, (n) => `/usr/bin/bash is not a directory in the container (container '${n}')`],
    ];
    for (const [what, path, message] of cases) {
      it(`a link ${what}`, async () => {
        const [run, emit] = await Promise.all([
          runTrace(['-c', sym.name, '-d', '1s', `uprobe:${path}:main.handle { @ = count(); }`], { env: NO_DOCKER }),
          runTrace(['-c', sym.name, '--emit', 'bpftrace', `uprobe:${path}:main.handle { @ = count(); }`], { env: NO_DOCKER }),
        ]);
        for (const r of [run, emit]) {
          expect(oneSentence(r)).toBe(message(sym.name));
          expect(r.code).toBe(1);
        }
      });
    }
  });
});

describe('afterwards', () => {
  it('no marker file was ever created, by any case', async () => {
    await new Promise((r) => setTimeout(r, 300)); // anything run in the background has had time
    expect(markers.length).toBeGreaterThan(40);
    expect(markers.filter((m) => existsSync(m))).toEqual([]);
    expect(readdirSync(tmp).filter((f) => /^m\d+$/.test(f))).toEqual([]);
  });
});

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

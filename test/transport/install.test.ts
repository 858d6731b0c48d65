// `trace helper install` onto real sshd test hosts (each with its own /usr/local, /etc and
// /var/log), then the installed helper is reached over SSH as root and as an unprivileged
// user (through the sudo rule), as the CLI will reach it.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sshTransport, type SshOptions } from '../../src/runner/transport/ssh.js';
import { HELPER_COMMAND, HELPER_LIB_DIR, SUDOERS_FILE } from '../../src/runner/transport/types.js';
import { useTestHosts, type TestHost, type TestHosts } from '../support/hosts.js';
import { runTrace, TRACE } from '../support/trace.js';

const scratch = mkdtempSync(join(tmpdir(), 'ctrace-install-test-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** `stat -c '%a %U %F'` of paths inside a host. */
async function modes(h: TestHost, paths: string[]): Promise<Record<string, string>> {
  const r = await h.exec(['stat', '-c', '%n|%a %U %F', ...paths]);
  const out: Record<string, string> = {};
  for (const line of r.stdout.trim().split('\n')) {
    const [p, rest] = line.split('|');
    if (p && rest) out[p] = rest;
  }
  return out;
}

/** Runs the helper once over SSH with a hello request; returns its first NDJSON message. */
async function hello(spec: string, o: SshOptions): Promise<Record<string, unknown>> {
  const t = await sshTransport(spec, o);
  if (!t.ok) throw new Error(t.message);
  try {
    const s = await t.transport.start();
    if (!s.ok) throw new Error(s.message);
    let out = '';
    let err = '';
    s.proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
    s.proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
    s.proc.stdin.write('{"v":1,"op":"hello"}\n');
    for (let i = 0; i < 500 && !out.includes('\n'); i++) await new Promise((r) => setTimeout(r, 20));
    s.proc.kill();
    await s.proc.exited;
    if (!out.includes('\n')) throw new Error(`no answer from the helper on ${spec}: ${err}`);
    return JSON.parse(out.split('\n')[0] ?? '') as Record<string, unknown>;
  } finally {
    t.transport.close();
  }
}

describe('trace helper install --host', () => {
  const fleet = useTestHosts(2);
  let t: TestHosts;
  let h1: TestHost;
  let h2: TestHost;
  let sshArgs: string[];
  let sshOpts: SshOptions;

  beforeAll(async () => {
    t = await fleet.ready;
    [h1, h2] = t.hosts as [TestHost, TestHost];
    sshArgs = ['--known-hosts', t.knownHostsFile, '-i', t.clientKey];
    sshOpts = { knownHostsFile: t.knownHostsFile, identityFiles: [t.clientKey], sshConfigFile: null, agent: null, env: { HOME: scratch } };
  });

  it('installs on two hosts: one line per host, a summary, exit 0', async () => {
    const r = await runTrace(['helper', 'install', '--host', h1.spec, '--host', h2.spec, ...sshArgs], { env: { HOME: scratch, SSH_AUTH_SOCK: '' }, timeoutMs: 120_000 });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(3);
    for (const [i, h] of [h1, h2].entries()) {
      expect(lines[i]).toMatch(new RegExp(`^${h.spec.replace(/\./g, '\\.')}: installed ctrace helper \\d+\\.\\d+\\.\\d+, node /\\S+ \\(v\\d+\\.\\d+\\.\\d+\\); created /etc/ctrace/policy\\.json \\(no grants\\)$`));
    }
    expect(lines[2]).toBe('helper installed on 2 of 2 hosts');
  });

  it('puts each file in place with the right mode, inside each host only', async () => {
    for (const h of [h1, h2]) {
      const m = await modes(h, [HELPER_COMMAND, SUDOERS_FILE, '/etc/ctrace/policy.json', '/var/log/ctrace', HELPER_LIB_DIR, `${HELPER_LIB_DIR}/package.json`, `${HELPER_LIB_DIR}/dist/cli.js`]);
      expect(m[HELPER_COMMAND]).toBe('755 root regular file');
      expect(m[SUDOERS_FILE]).toBe('440 root regular file');
      expect(m['/etc/ctrace/policy.json']).toBe('644 root regular file');
      expect(m['/var/log/ctrace']).toBe('750 root directory');
      expect(m[HELPER_LIB_DIR]).toBe('755 root directory');
      expect(m[`${HELPER_LIB_DIR}/package.json`]).toBe('644 root regular file');
      expect(m[`${HELPER_LIB_DIR}/dist/cli.js`]).toMatch(/^644 root/);
      expect((await h.exec(['cat', '/etc/ctrace/policy.json'])).stdout).toBe('{"version":1,"grants":[]}\n');
      expect((await h.exec(['cat', SUDOERS_FILE])).stdout).toContain(`ALL ALL=(root) NOPASSWD: ${HELPER_COMMAND}\n`);
      expect((await h.exec(['visudo', '-c'])).code).toBe(0);
      // Production dependencies only.
      const mods = (await h.exec(['ls', `${HELPER_LIB_DIR}/node_modules`])).stdout.split('\n');
      expect(mods).toEqual(expect.arrayContaining(['ssh2', 'commander', 'chevrotain']));
      expect(mods).not.toContain('vitest');
      expect(mods).not.toContain('typescript');
      const wrapper = (await h.exec(['cat', HELPER_COMMAND])).stdout;
      expect(wrapper).toMatch(/^#!\/bin\/sh\n/);
      expect(wrapper).toContain(`exec sudo -n ${HELPER_COMMAND} "$@"`);
      expect(wrapper).toMatch(new RegExp(`exec /\\S+/node ${HELPER_LIB_DIR}/dist/helper/main\\.js "\\$@"`));
      expect((await h.exec(['ls', '/usr/local/lib/ctrace'])).stdout).toBe('helper\n');
    }
    // Nothing leaked to the machine itself.
    expect((await h1.exec(['true'])).code).toBe(0);
    expect(() => readFileSync('/etc/ctrace/policy.json.test-probe')).toThrow();
  });

  it('the wrapper runs node: the helper answers over SSH as root, and as a plain user through sudo -n', async () => {
    const asRoot = await hello(h1.spec, sshOpts);
    expect(asRoot).toMatchObject({ t: 'hello', hostname: 'ctrace-h1' });
    const asUser = await hello(h2.userSpec, sshOpts);
    expect(asUser).toMatchObject({ t: 'hello', hostname: 'ctrace-h2' });
    expect(String(asUser.caller)).toContain('ctrace-test');
  });

  it('is idempotent, and keeps an existing policy.json', async () => {
    const policy = '{"version":1,"grants":[{"users":["alice"],"containers":["web*"]}]}\n';
    await h1.exec(['sh', '-c', 'cat > /etc/ctrace/policy.json'], { input: policy });
    const before = (await h2.exec(['sha256sum', HELPER_COMMAND, SUDOERS_FILE, '/etc/ctrace/policy.json'])).stdout;
    const r = await runTrace(['helper', 'install', '--host', h1.spec, '--host', h2.spec, ...sshArgs], { env: { HOME: scratch, SSH_AUTH_SOCK: '' }, timeoutMs: 120_000 });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`${h1.spec}: installed ctrace helper`);
    expect(r.stdout.match(/kept \/etc\/ctrace\/policy\.json/g)).toHaveLength(2);
    expect((await h1.exec(['cat', '/etc/ctrace/policy.json'])).stdout).toBe(policy);
    expect((await h2.exec(['sha256sum', HELPER_COMMAND, SUDOERS_FILE, '/etc/ctrace/policy.json'])).stdout).toBe(before);
    // No leftovers of the replace.
    expect((await h2.exec(['ls', '-a', '/usr/local/lib/ctrace'])).stdout.split('\n').filter((x) => x && !x.startsWith('.'))).toEqual(['helper']);
    expect((await h2.exec(['ls', '/etc/sudoers.d'])).stdout).not.toContain('ctrace.new');
    expect(await hello(h1.spec, sshOpts)).toMatchObject({ t: 'hello' });
  });

  it('refuses a login that is neither root nor allowed sudo, in one sentence', async () => {
    const r = await runTrace(['helper', 'install', '--host', h1.userSpec, ...sshArgs], { env: { HOME: scratch, SSH_AUTH_SOCK: '' } });
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(`trace: cannot install on 127.0.0.1:${h1.port}: ctrace-test is not root and \`sudo -n\` does not work for it there; log in as root, or give ctrace-test passwordless sudo`);
    expect(r.stdout).toBe('');
  });

  it('exits 1 when one host of several fails, 2 on a bad host spec', async () => {
    const r = await runTrace(['helper', 'install', '--host', h1.spec, '--host', 'root@127.0.0.1:1', ...sshArgs], { env: { HOME: scratch, SSH_AUTH_SOCK: '' }, timeoutMs: 120_000 });
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`${h1.spec}: installed`);
    expect(r.stderr).toContain('trace: cannot connect to 127.0.0.1:1: connection refused');
    expect(r.stderr).toContain('helper installed on 1 of 2 hosts; 1 failed');
    const bad = await runTrace(['helper', 'install', '--host', 'h;rm -rf /', ...sshArgs], { env: { HOME: scratch } });
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toContain('bad host "h;rm -rf /"');
  });

  it('refuses an unknown host key unless --accept-new, which records it', async () => {
    const known = join(scratch, 'known_new');
    writeFileSync(known, '');
    const args = ['helper', 'install', '--host', h2.spec, '--known-hosts', known, '-i', t.clientKey];
    const r = await runTrace(args, { env: { HOME: scratch, SSH_AUTH_SOCK: '' } });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`host key for 127.0.0.1:${h2.port} is not known`);
    expect(r.stderr).toContain(h2.fingerprint);
    const ok = await runTrace([...args, '--accept-new'], { env: { HOME: scratch, SSH_AUTH_SOCK: '' }, timeoutMs: 120_000 });
    expect(ok.code).toBe(0);
    expect(readFileSync(known, 'utf8')).toBe(`${h2.knownHostsLine}\n`);
  });

  it('installs locally without --host (run inside a test host, as root there)', async () => {
    // Fresh state in h2 for the local path, with a policy that must survive.
    await h2.exec(['rm', '-rf', HELPER_LIB_DIR, HELPER_COMMAND, SUDOERS_FILE, '/var/log/ctrace']);
    const r = await h2.exec([process.execPath, TRACE, 'helper', 'install'], { timeoutMs: 120_000 });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^local: installed ctrace helper \\S+, node ${process.execPath.replace(/\./g, '\\.')} \\(v[\\d.]+\\); kept /etc/ctrace/policy\\.json\\n$`));
    const m = await modes(h2, [HELPER_COMMAND, SUDOERS_FILE, '/var/log/ctrace', `${HELPER_LIB_DIR}/dist/helper/main.js`]);
    expect(m).toEqual({
      [HELPER_COMMAND]: '755 root regular file',
      [SUDOERS_FILE]: '440 root regular file',
      '/var/log/ctrace': '750 root directory',
      [`${HELPER_LIB_DIR}/dist/helper/main.js`]: expect.stringMatching(/^644 root regular file$/),
    });
    expect(await hello(h2.userSpec, sshOpts)).toMatchObject({ t: 'hello', hostname: 'ctrace-h2' });
    // Not root: one sentence, nothing touched.
    const user = await h2.exec(['setpriv', '--reuid', 'ctrace-test', '--regid', 'ctrace-test', '--clear-groups', process.execPath, TRACE, 'helper', 'install']);
    expect(user.code).toBe(1);
    expect(user.stderr.trim()).toBe('trace: installing the helper on this machine needs root: run trace helper install as root (or with sudo)');
  });
});

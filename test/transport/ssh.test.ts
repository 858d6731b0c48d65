// The SSH transport against real sshd test hosts (test/support/hosts.ts): host specs, ssh
// config aliases, known_hosts (known, unknown, --accept-new, changed), connection failures
// (refused, timeout, one retry), exec and the helper channel.

import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseHostSpec, resolveTarget, shellQuote, sshConnect, sshExec, sshTransport, type SshOptions } from '../../src/runner/transport/ssh.js';
import { checkHostKey, fingerprintSha256, hostFieldMatches, knownHostName } from '../../src/runner/transport/known-hosts.js';
import { HELPER_COMMAND } from '../../src/runner/transport/types.js';
import { freePort, useTestHosts, type TestHosts } from '../support/hosts.js';
import { createHmac, randomBytes } from 'node:crypto';

const scratch = mkdtempSync(join(tmpdir(), 'ctrace-ssh-test-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('parseHostSpec', () => {
  it('reads user@host[:port], IPv6 in brackets, and bare aliases', () => {
    expect(parseHostSpec('root@10.0.0.5:2222')).toEqual({ ok: true, spec: { raw: 'root@10.0.0.5:2222', user: 'root', host: '10.0.0.5', port: 2222 } });
    expect(parseHostSpec('web-1')).toEqual({ ok: true, spec: { raw: 'web-1', host: 'web-1' } });
    expect(parseHostSpec('deploy@db.example.com')).toMatchObject({ ok: true, spec: { user: 'deploy', host: 'db.example.com' } });
    expect(parseHostSpec('[::1]:22')).toMatchObject({ ok: true, spec: { host: '::1', port: 22 } });
    expect(parseHostSpec('admin@[fe80::1%eth0]')).toMatchObject({ ok: true, spec: { user: 'admin', host: 'fe80::1%eth0' } });
    expect(parseHostSpec('root@::1')).toMatchObject({ ok: true, spec: { host: '::1' } });
  });

  it('refuses shell characters, whitespace, control characters and a leading dash, in one sentence', () => {
    for (const bad of ['a;b', 'host$(id)', 'h`id`', 'a|b', 'a&b', "a'b", 'a"b', 'a b', 'a\tb', 'a\nb', 'a\x1bb', '-oProxyCommand=x', 'root@-x', 'a>b', 'a\\b', 'h*', '']) {
      const r = parseHostSpec(bad);
      expect(r.ok, bad).toBe(false);
      if (!r.ok) {
        expect(r.message).not.toContain('\n');
        expect(r.message).toMatch(/host/);
      }
    }
    const r = parseHostSpec('web;rm -rf /');
    expect(r).toMatchObject({ ok: false });
    expect(!r.ok && r.message).toMatch(/^bad host "web;rm -rf \/": it contains whitespace or control characters; use user@host\[:port\]/);
    expect(parseHostSpec('-x')).toMatchObject({ ok: false, message: expect.stringContaining("cannot start with '-'") });
    expect(parseHostSpec('h:0')).toMatchObject({ ok: false, message: expect.stringContaining('bad port') });
    expect(parseHostSpec('h:99999')).toMatchObject({ ok: false });
    expect(parseHostSpec('[::1')).toMatchObject({ ok: false });
  });

  it('quotes every exec argument for the remote shell', () => {
    expect(shellQuote('abc')).toBe('abc');
    expect(shellQuote("it's")).toBe(`'it'\\''s'`);
    expect(shellQuote('$(id)')).toBe(`'$(id)'`);
    expect(shellQuote('-n')).toBe(`'-n'`);
    expect(shellQuote('')).toBe(`''`);
  });
});

describe('ssh config', () => {
  const text = `
# comment
Host web-*  !web-9
  HostName %h.example.com
  User deploy
  Port 2200
  IdentityFile ~/.ssh/web_key

Host web-1
  User ignored-first-match-wins
  IdentityFile /keys/second
  ConnectTimeout 3

Host db?
  HostName=10.1.2.3
  UserKnownHostsFile ~/.ssh/known_db /etc/ssh/known_more
  StrictHostKeyChecking accept-new

Host *
  User fallback
  ConnectTimeout 7
`;
  it('resolves an alias into address, port, user, key files and known_hosts files', () => {
    const file = join(scratch, 'config-resolve');
    writeFileSync(file, text);
    const r = resolveTarget('web-1', { sshConfigFile: file, env: { HOME: '/home/me' } });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.target).toMatchObject({ address: 'web-1.example.com', port: 2200, user: 'deploy', knownHostsName: '[web-1.example.com]:2200', display: 'web-1:2200', connectTimeoutMs: 3000 });
    expect(r.target.identityFiles).toEqual(['/home/me/.ssh/web_key', '/keys/second']);
    const d = resolveTarget('ops@db1:2022', { sshConfigFile: file, env: { HOME: '/home/me' } });
    expect(d.ok && d.target).toMatchObject({ user: 'ops', port: 2022, address: '10.1.2.3', acceptNew: true });
    expect(d.ok && d.target.knownHostsFiles).toEqual(['/home/me/.ssh/known_hosts', '/home/me/.ssh/known_db', '/etc/ssh/known_more']);
    const plain = resolveTarget('10.0.0.1', { sshConfigFile: null, env: { HOME: '/home/me', USER: 'me' } });
    expect(plain.ok && plain.target.identityFiles).toEqual(['/home/me/.ssh/id_ed25519', '/home/me/.ssh/id_ecdsa', '/home/me/.ssh/id_rsa']);
  });
});

describe('known_hosts matching', () => {
  const blob = Buffer.concat([Buffer.from([0, 0, 0, 11]), Buffer.from('ssh-ed25519'), Buffer.from([0, 0, 0, 32]), randomBytes(32)]);
  const other = Buffer.concat([Buffer.from([0, 0, 0, 11]), Buffer.from('ssh-ed25519'), Buffer.from([0, 0, 0, 32]), randomBytes(32)]);

  it('matches plain patterns, negations and hashed names, with [host]:port for other ports', () => {
    expect(knownHostName('h', 22)).toBe('h');
    expect(knownHostName('127.0.0.1', 2222)).toBe('[127.0.0.1]:2222');
    expect(hostFieldMatches('a,b*.example.com,!bad.example.com', 'box.example.com')).toBe(true);
    expect(hostFieldMatches('a,b*.example.com,!bad.example.com', 'bad.example.com')).toBe(false);
    expect(hostFieldMatches('web?', 'web1')).toBe(true);
    const salt = randomBytes(20);
    const hash = createHmac('sha1', salt).update('[10.0.0.1]:2200').digest('base64');
    expect(hostFieldMatches(`|1|${salt.toString('base64')}|${hash}`, '[10.0.0.1]:2200')).toBe(true);
    expect(hostFieldMatches(`|1|${salt.toString('base64')}|${hash}`, '10.0.0.1')).toBe(false);
  });

  it('classifies a key as known, unknown, changed or revoked', () => {
    const f = join(scratch, 'kh-classify');
    const salt = randomBytes(20);
    const hashed = `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update('hashed.example').digest('base64')}`;
    writeFileSync(f, `plain.example ssh-ed25519 ${blob.toString('base64')}\n${hashed} ssh-ed25519 ${blob.toString('base64')}\n@revoked * ssh-ed25519 ${other.toString('base64')}\n`);
    expect(checkHostKey([f], 'plain.example', blob).status).toBe('known');
    expect(checkHostKey([f], 'hashed.example', blob).status).toBe('known');
    expect(checkHostKey([f], 'new.example', blob).status).toBe('unknown');
    expect(checkHostKey([f], 'plain.example', other).status).toBe('revoked');
    writeFileSync(f, `plain.example ssh-ed25519 ${blob.toString('base64')}\n`);
    expect(checkHostKey([f], 'plain.example', other)).toMatchObject({ status: 'changed', entry: { line: 1 } });
    expect(fingerprintSha256(blob)).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
  });
});

describe('ssh to test hosts', () => {
  const fleet = useTestHosts(2);
  let t: TestHosts;
  const opts = (extra: SshOptions = {}): SshOptions => ({
    knownHostsFile: t.knownHostsFile,
    identityFiles: [t.clientKey],
    sshConfigFile: null,
    agent: null,
    env: { HOME: scratch },
    connectTimeoutMs: 5_000,
    ...extra,
  });
  beforeAll(async () => {
    t = await fleet.ready;
  });

  it('connects to a known host and runs a fixed argv, quoting arguments', async () => {
    const [h1] = t.hosts;
    const c = await sshConnect(h1!.spec, opts());
    expect(c.ok ? 'ok' : c.message).toBe('ok');
    if (!c.ok) return;
    try {
      const r = await sshExec(c.conn, ['printf', '%s|', 'a b', "it's", '$(id)', '`x`', ';']);
      expect(r.ok && r.stdout.toString()).toBe("a b|it's|$(id)|`x`|;|");
      const h = await sshExec(c.conn, ['hostname']);
      expect(h.ok && h.stdout.toString().trim()).toBe('ctrace-h1');
      const cat = await sshExec(c.conn, ['cat'], Buffer.from('through stdin'));
      expect(cat.ok && cat.stdout.toString()).toBe('through stdin');
      const fail = await sshExec(c.conn, ['sh', '-c', 'echo oops >&2; exit 3']);
      expect(fail.ok && { code: fail.code, err: fail.stderr.toString() }).toEqual({ code: 3, err: 'oops\n' });
    } finally {
      c.conn.close();
    }
  });

  it('logs in as the unprivileged test user too', async () => {
    const [h1] = t.hosts;
    const c = await sshConnect(h1!.userSpec, opts());
    expect(c.ok ? 'ok' : c.message).toBe('ok');
    if (!c.ok) return;
    const r = await sshExec(c.conn, ['id', '-un']);
    expect(r.ok && r.stdout.toString().trim()).toBe('ctrace-test');
    c.conn.close();
  });

  it('resolves an ssh config alias', async () => {
    const [, h2] = t.hosts;
    const c = await sshConnect('ctrace-h2', { sshConfigFile: t.sshConfigFile, agent: null, env: { HOME: scratch } });
    expect(c.ok ? 'ok' : c.message).toBe('ok');
    if (!c.ok) return;
    expect(c.conn.target).toMatchObject({ address: '127.0.0.1', port: h2!.port, user: 'root' });
    const r = await sshExec(c.conn, ['hostname']);
    expect(r.ok && r.stdout.toString().trim()).toBe('ctrace-h2');
    c.conn.close();
  });

  it('refuses an unknown host key, naming the host and the SHA256 fingerprint', async () => {
    const [h1] = t.hosts;
    const empty = join(scratch, 'known_empty');
    writeFileSync(empty, '');
    const c = await sshConnect(h1!.spec, opts({ knownHostsFile: empty }));
    expect(c.ok).toBe(false);
    const msg = c.ok ? '' : c.message;
    expect(msg).toContain(`host key for 127.0.0.1:${h1!.port} is not known`);
    expect(msg).toContain(h1!.fingerprint);
    expect(msg).toContain('--accept-new');
    expect(msg).toContain(`ssh-keyscan -p ${h1!.port} 127.0.0.1`);
    expect(msg).not.toContain('\n');
    expect(readFileSync(empty, 'utf8')).toBe('');
  });

  it('with acceptNew, accepts an unknown key and appends it; the next connection knows it', async () => {
    const [h1] = t.hosts;
    const file = join(scratch, 'known_accept');
    writeFileSync(file, '# mine\nother.example ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGz5yq4bOaLhnOe2iQZbqnE+mQsq2r0dGw7kJgq8A2hK');
    const c = await sshConnect(h1!.spec, opts({ knownHostsFile: file, acceptNew: true }));
    expect(c.ok ? 'ok' : c.message).toBe('ok');
    if (c.ok) c.conn.close();
    const lines = readFileSync(file, 'utf8').split('\n');
    expect(lines[1]).toMatch(/^other\.example /);
    expect(lines[2]).toBe(h1!.knownHostsLine);
    const again = await sshConnect(h1!.spec, opts({ knownHostsFile: file }));
    expect(again.ok ? 'ok' : again.message).toBe('ok');
    if (again.ok) again.conn.close();
    expect(readFileSync(file, 'utf8').split('\n').filter(Boolean)).toHaveLength(3);
  });

  it('refuses a changed host key loudly, even with acceptNew', async () => {
    const [h1, h2] = t.hosts;
    const file = join(scratch, 'known_changed');
    // h2's key recorded under h1's name: what a reinstalled host or an interceptor looks like.
    writeFileSync(file, h2!.knownHostsLine.replace(`[127.0.0.1]:${h2!.port}`, `[127.0.0.1]:${h1!.port}`) + '\n');
    for (const acceptNew of [false, true]) {
      const c = await sshConnect(h1!.spec, opts({ knownHostsFile: file, acceptNew }));
      expect(c.ok).toBe(false);
      const msg = c.ok ? '' : c.message;
      expect(msg).toMatch(/^WARNING: THE HOST KEY OF 127\.0\.0\.1:\d+ HAS CHANGED/);
      expect(msg).toContain(h1!.fingerprint);
      expect(msg).toContain('~/known_changed:1');
      expect(msg).toContain(`ssh-keygen -R '[127.0.0.1]:${h1!.port}' -f ~/known_changed`);
    }
    expect(readFileSync(file, 'utf8').split('\n').filter(Boolean)).toHaveLength(1);
  });

  it('fails fast with "connection refused" on a closed port (after its one retry)', async () => {
    const port = await freePort();
    const t0 = Date.now();
    const c = await sshConnect(`root@127.0.0.1:${port}`, opts({ retryDelayMs: 300 }));
    expect(c).toEqual({ ok: false, message: `cannot connect to 127.0.0.1:${port}: connection refused` });
    expect(Date.now() - t0).toBeLessThan(2_000);
  });

  it('times out within the configured timeout on a host that never answers, without a retry', async () => {
    // Accepts TCP and then says nothing: from the client's side, a black hole.
    const sockets: Socket[] = [];
    const server: Server = createServer((s) => sockets.push(s));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    try {
      const t0 = Date.now();
      const c = await sshConnect(`root@127.0.0.1:${port}`, opts({ connectTimeoutMs: 1_500, retryDelayMs: 100 }));
      const took = Date.now() - t0;
      expect(c).toEqual({ ok: false, message: `cannot connect to 127.0.0.1:${port}: timed out after 1.5 s` });
      expect(took).toBeGreaterThanOrEqual(1_400);
      expect(took).toBeLessThan(2_500);
      expect(sockets).toHaveLength(1);
    } finally {
      for (const s of sockets) s.destroy();
      server.close();
    }
  });

  it('retries a refused connection once: an sshd that starts ~1 s later is reached', async () => {
    const port = await freePort();
    const t0 = Date.now();
    const connecting = sshConnect(`root@127.0.0.1:${port}`, opts({ retryDelayMs: 2_500, acceptNew: true, knownHostsFile: join(scratch, 'known_late') }));
    await new Promise((r) => setTimeout(r, 1_000));
    const late = await t.add({ port });
    const c = await connecting;
    expect(c.ok ? 'ok' : c.message).toBe('ok');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(2_400);
    if (!c.ok) return;
    const r = await sshExec(c.conn, ['hostname']);
    expect(r.ok && r.stdout.toString().trim()).toBe(late.name);
    c.conn.close();
  });

  it('authenticates with an ssh-agent holding the key (SSH_AUTH_SOCK)', async () => {
    const [h1] = t.hosts;
    const sock = join(scratch, 'agent.sock');
    const agent = spawn('ssh-agent', ['-D', '-a', sock], { stdio: 'ignore' });
    try {
      for (let i = 0; i < 100 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 20));
      execFileSync('ssh-add', ['-q', t.clientKey], { env: { ...process.env, SSH_AUTH_SOCK: sock }, stdio: 'ignore' });
      const c = await sshConnect(h1!.spec, opts({ agent: undefined, identityFiles: [join(scratch, 'missing_key')], env: { HOME: scratch, SSH_AUTH_SOCK: sock } }));
      expect(c.ok ? 'ok' : c.message).toBe('ok');
      if (c.ok) c.conn.close();
    } finally {
      agent.kill();
    }
  });

  it('with HOME set to the fleet home, defaults find the key, known_hosts and config', async () => {
    const [h1, h2] = t.hosts;
    for (const spec of [h1!.spec, 'ctrace-h2']) {
      const c = await sshConnect(spec, { agent: null, env: { HOME: t.home } });
      expect(c.ok ? 'ok' : c.message).toBe('ok');
      if (!c.ok) continue;
      const r = await sshExec(c.conn, ['hostname']);
      expect(r.ok && r.stdout.toString().trim()).toBe(spec === 'ctrace-h2' ? h2!.name : h1!.name);
      c.conn.close();
    }
  });

  it('skips a dead agent socket and goes on with the key files', async () => {
    const [h1] = t.hosts;
    const c = await sshConnect(h1!.spec, opts({ agent: join(scratch, 'no-agent.sock') }));
    expect(c.ok ? 'ok' : c.message).toBe('ok');
    if (c.ok) c.conn.close();
  });

  it('says which keys were tried when authentication fails', async () => {
    const [h1] = t.hosts;
    const wrong = join(scratch, 'wrong_key');
    copyFileSync(join(h1!.dir, 'ssh_host_ed25519_key'), wrong); // a valid key, not authorized
    const c = await sshConnect(h1!.spec, opts({ identityFiles: [wrong] }));
    expect(c).toEqual({ ok: false, message: `authentication failed for root@127.0.0.1:${h1!.port} (tried ~/wrong_key)` });
    const none = await sshConnect(h1!.spec, opts({ identityFiles: [join(scratch, 'missing_key')] }));
    expect(none.ok ? '' : none.message).toMatch(/^authentication failed for root@127\.0\.0\.1:\d+ \(no key to offer/);
  });

  it('starts the helper command in a channel; kill() closes it and exited settles', async () => {
    const [h1] = t.hosts;
    // A stand-in helper inside h1: echoes its stdin line back, then waits for stdin to close.
    const stub = '#!/bin/sh\nread line\necho "got $line"\necho "err" >&2\ncat >/dev/null\necho closed > /tmp/ctrace-stub-closed\n';
    await h1!.exec(['sh', '-c', `cat > ${HELPER_COMMAND} && chmod 755 ${HELPER_COMMAND}`], { input: stub });
    await h1!.exec(['rm', '-f', '/tmp/ctrace-stub-closed']);
    const r = await sshTransport(h1!.spec, opts());
    expect(r.ok ? 'ok' : r.message).toBe('ok');
    if (!r.ok) return;
    const tr = r.transport;
    expect(tr.label).toBe(h1!.spec);
    const s = await tr.start();
    expect(s.ok).toBe(true);
    if (!s.ok) return;
    let out = '';
    let err = '';
    s.proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
    s.proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
    s.proc.stdin.write('{"hello":1}\n');
    for (let i = 0; i < 100 && !out.includes('\n'); i++) await new Promise((res) => setTimeout(res, 20));
    expect(out).toBe('got {"hello":1}\n');
    s.proc.kill();
    const exit = await s.proc.exited;
    expect(exit.signal === null || typeof exit.signal === 'string').toBe(true);
    expect(err).toContain('err');
    // Its stdin closed with the channel, so the stand-in ran to its end.
    let closed = '';
    for (let i = 0; i < 100 && !closed; i++) {
      closed = (await h1!.exec(['cat', '/tmp/ctrace-stub-closed'])).stdout;
      if (!closed) await new Promise((res) => setTimeout(res, 30));
    }
    expect(closed).toBe('closed\n');
    // A second helper on the same connection, ended normally by closing stdin.
    const s2 = await tr.start();
    expect(s2.ok).toBe(true);
    if (s2.ok) {
      s2.proc.stdout.resume();
      s2.proc.stderr.resume();
      s2.proc.stdin.end('x\n');
      expect(await s2.proc.exited).toEqual({ code: 0, signal: null });
    }
    tr.close();
    const s3 = await tr.start();
    await new Promise((res) => setTimeout(res, 50));
    const s4 = await tr.start();
    expect([s3.ok, s4.ok]).toContain(false);
    await h1!.exec(['rm', '-f', HELPER_COMMAND]);
  });

  it('when the SSH session drops, exited settles and the remote helper sees its stdin close', async () => {
    const [, h2] = t.hosts;
    const stub = '#!/bin/sh\necho started\ncat >/dev/null\necho closed > /tmp/ctrace-stub-dropped\n';
    await h2!.exec(['sh', '-c', `cat > ${HELPER_COMMAND} && chmod 755 ${HELPER_COMMAND} && rm -f /tmp/ctrace-stub-dropped`], { input: stub });
    const children = () => readFileSync(`/proc/${h2!.sshdPid}/task/${h2!.sshdPid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    const before = new Set(children());
    const r = await sshTransport(h2!.spec, opts({ keepaliveMs: 500 }));
    if (!r.ok) throw new Error(r.message);
    const s = await r.transport.start();
    if (!s.ok) throw new Error(s.message);
    let out = '';
    s.proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
    s.proc.stderr.resume();
    for (let i = 0; i < 100 && !out; i++) await new Promise((res) => setTimeout(res, 20));
    expect(out).toBe('started\n');
    // Our connection's sshd process (a child of the listener), killed: the session is gone.
    const ours = children().filter((p) => !before.has(p));
    expect(ours.length).toBeGreaterThan(0);
    for (const p of ours) process.kill(p, 'SIGKILL');
    const exit = await Promise.race([s.proc.exited, new Promise((res) => setTimeout(() => res('still running'), 5_000))]);
    expect(exit).toEqual({ code: null, signal: null });
    let closed = '';
    for (let i = 0; i < 100 && !closed; i++) {
      closed = (await h2!.exec(['cat', '/tmp/ctrace-stub-dropped'])).stdout;
      if (!closed) await new Promise((res) => setTimeout(res, 30));
    }
    expect(closed).toBe('closed\n');
    expect((await r.transport.start()).ok).toBe(false);
    r.transport.close();
    await h2!.exec(['rm', '-f', HELPER_COMMAND, '/tmp/ctrace-stub-dropped']);
  });
});

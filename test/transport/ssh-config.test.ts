// The ~/.ssh/config reader against ssh_config(5)'s rules: first value obtained wins,
// Include (globs, ~/.ssh-relative, conditional inside blocks, loops), Match (host after
// HostName, originalhost, user, localuser, all, !, final), ProxyJump chains and their
// resolution into hops, and the constructs refused because they would run a command.

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { hostConfig, parseProxyJump, type ConfigQuery } from '../../src/runner/transport/ssh-config.js';
import { resolveTarget } from '../../src/runner/transport/ssh.js';

const home = mkdtempSync(join(tmpdir(), 'ctrace-sshconfig-'));
afterAll(() => rmSync(home, { recursive: true, force: true }));
mkdirSync(join(home, '.ssh', 'conf.d'), { recursive: true });

let n = 0;
/** Writes `text` as ~/.ssh/<name> (a fresh config file when no name) and returns its path. */
function file(text: string, name = `config-${++n}`): string {
  const p = join(home, '.ssh', name);
  writeFileSync(p, text);
  return p;
}

const q = (host: string, extra: Partial<ConfigQuery> = {}): ConfigQuery => ({ host, home, localUser: 'me', ...extra });

function cfg(path: string, query: ConfigQuery) {
  const r = hostConfig(path, query);
  if (!r.ok) throw new Error(r.message);
  return r.config;
}

function err(path: string, query: ConfigQuery): string {
  const r = hostConfig(path, query);
  expect(r.ok).toBe(false);
  return r.ok ? '' : r.message;
}

describe('options: first value obtained wins', () => {
  const f = file(`
# comment
Host web-*  !web-9
  HostName %h.example.com
  User deploy
  Port 2200
  IdentityFile ~/.ssh/web_key

Host web-1
  User ignored   # a trailing comment
  IdentityFile /keys/second
  IdentityFile ~/.ssh/web_key
  ConnectTimeout 3

Host db?
  HostName=10.1.2.3
  UserKnownHostsFile ~/.ssh/known_db "/etc/ssh/known more"
  StrictHostKeyChecking accept-new

Host *
  User fallback
  ConnectTimeout 7
`);

  it('takes each option from the first block that sets it; IdentityFile accumulates without duplicates', () => {
    const w1 = cfg(f, q('web-1'));
    expect(w1).toMatchObject({ hostName: 'web-1.example.com', user: 'deploy', port: 2200, connectTimeoutMs: 3000 });
    expect(w1.identityFiles).toEqual(['~/.ssh/web_key', '/keys/second']);
    expect(cfg(f, q('web-9'))).toMatchObject({ user: 'fallback', connectTimeoutMs: 7000 });
    expect(cfg(f, q('web-9')).hostName).toBeUndefined();
    expect(cfg(f, q('db1'))).toMatchObject({ hostName: '10.1.2.3', strictHostKeyChecking: 'accept-new', userKnownHostsFiles: ['~/.ssh/known_db', '/etc/ssh/known more'] });
    expect(cfg(f, q('db12')).hostName).toBeUndefined();
  });

  it('lets the command line (user@, :port) win over the file, as ssh does', () => {
    expect(cfg(f, q('web-1', { user: 'ops', port: 2022 }))).toMatchObject({ user: 'ops', port: 2022 });
  });

  it('reads a missing file as empty, and refuses a malformed value anywhere, naming file:line', () => {
    expect(cfg(join(home, 'nope'), q('x'))).toEqual({ identityFiles: [], proxyJump: [] });
    const bad = file('Host unrelated\n  Port 99999\n');
    expect(err(bad, q('other'))).toBe(`~/.ssh/${bad.split('/').pop()}:2: bad Port "99999": give a number from 1 to 65535`);
    expect(err(file('Host\n'), q('x'))).toMatch(/:1: Host needs at least one pattern$/);
    expect(err(file('StrictHostKeyChecking maybe\n'), q('x'))).toMatch(/:1: bad StrictHostKeyChecking "maybe"/);
  });
});

describe('Include', () => {
  it('reads files relative to ~/.ssh, globs in lexical order, and keeps first-value-wins across them', () => {
    file('Host *\n  User from-b\n  Port 2001\n', 'conf.d/b.conf');
    file('Host *\n  User from-a\n', 'conf.d/a.conf');
    file('Host *\n  User hidden\n', 'conf.d/.hidden.conf');
    file('Host *\n  User not-conf\n', 'conf.d/x.txt');
    const f = file('Include conf.d/*.conf missing.conf\nHost *\n  User last\n  HostName h.example\n');
    expect(cfg(f, q('any'))).toMatchObject({ user: 'from-a', port: 2001, hostName: 'h.example' });
  });

  it('inside a Host block, applies only to that host; Host lines in the included file do not leak out', () => {
    file('HostName jump.internal\nHost other-in-include\n  User nobody\n', 'inc-jump');
    const f = file('Host bastion\n  Include inc-jump\n  User b-user\nHost *\n  User star\n');
    // After the include, the including block (bastion) still applies: User b-user is set.
    expect(cfg(f, q('bastion'))).toMatchObject({ hostName: 'jump.internal', user: 'b-user' });
    expect(cfg(f, q('web'))).toMatchObject({ user: 'star' });
    expect(cfg(f, q('web')).hostName).toBeUndefined();
    // The included file's own Host block never applies from inside a block that does not.
    expect(cfg(f, q('other-in-include')).user).toBe('star');
  });

  it('takes absolute and ~/ paths, and refuses a loop naming the files', () => {
    const abs = join(home, 'abs.conf');
    writeFileSync(abs, 'User absolute\n');
    expect(cfg(file(`Include ${abs}\n`), q('x')).user).toBe('absolute');
    expect(cfg(file('Include ~/abs.conf\n'), q('x')).user).toBe('absolute');
    file('Include loop-b\n', 'loop-a');
    file('Host *\n  Include loop-a\n', 'loop-b');
    const top = file('Include loop-a\n');
    expect(err(top, q('x'))).toBe('~/.ssh/loop-b:2: Include loop: ~/.ssh/loop-a -> ~/.ssh/loop-b -> ~/.ssh/loop-a');
    const self = file('Include config-self\n', 'config-self');
    expect(err(self, q('x'))).toBe('~/.ssh/config-self:1: Include loop: ~/.ssh/config-self -> ~/.ssh/config-self');
  });
});

describe('Match', () => {
  it('host compares the HostName obtained so far, originalhost the typed name', () => {
    const f = file('Host db\n  HostName db.prod.example\nMatch host *.prod.example\n  User prod\nMatch originalhost db\n  Port 2202\n');
    expect(cfg(f, q('db'))).toMatchObject({ user: 'prod', port: 2202 });
    expect(cfg(f, q('db.prod.example'))).toMatchObject({ user: 'prod' });
    expect(cfg(f, q('db.prod.example')).port).toBeUndefined();
  });

  it('user (the login so far, else the local user), localuser, all, and ! negation', () => {
    const f = file('Match user admin\n  Port 2001\nMatch localuser me !host skip-*\n  IdentityFile ~/.ssh/mine\nMatch !user admin,root\n  ConnectTimeout 4\nMatch all\n  User late\n');
    expect(cfg(f, q('h', { user: 'admin' }))).toMatchObject({ port: 2001, user: 'admin', identityFiles: ['~/.ssh/mine'] });
    expect(cfg(f, q('h', { user: 'admin' })).connectTimeoutMs).toBeUndefined();
    const plain = cfg(f, q('h'));
    expect(plain).toMatchObject({ connectTimeoutMs: 4000, user: 'late' });
    expect(plain.port).toBeUndefined();
    expect(cfg(f, q('skip-1')).identityFiles).toEqual([]);
    expect(cfg(f, q('h', { localUser: 'other' })).identityFiles).toEqual([]);
  });

  it('final: a second pass in which Host matches the HostName, keeping values obtained in the first', () => {
    const f = file('Host short\n  HostName short.example\nMatch final host *.example\n  User final-user\nHost short.example\n  Port 2003\nHost *\n  Port 2004\n');
    // Port 2004 is obtained in the first pass, where Host short.example does not match "short" yet.
    expect(cfg(f, q('short'))).toMatchObject({ hostName: 'short.example', user: 'final-user', port: 2004 });
    const g = file('Host short\n  HostName short.example\nMatch final\n  Include conf-final\n', 'with-final');
    file('Host short.example\n  Port 2005\n', 'conf-final');
    expect(cfg(g, q('short'))).toMatchObject({ port: 2005 });
    expect(cfg(file('Match canonical\n  User c\n'), q('x')).user).toBeUndefined();
  });

  it('refuses exec only when its line depends on it, and malformed criteria anywhere', () => {
    expect(err(file('Match host web exec "test -e /tmp/x"\n  User u\n'), q('web'))).toMatch(/:1: Match exec is not supported: trace never runs commands from the ssh config$/);
    expect(cfg(file('Match host web exec "touch /tmp/x"\n  User u\n'), q('db')).user).toBeUndefined();
    expect(err(file('Match localnetwork 10.0.0.0/8\n'), q('x'))).toMatch(/:1: Match localnetwork is not supported by trace$/);
    expect(err(file('Match hots web\n'), q('x'))).toMatch(/:1: unknown Match criterion "hots"/);
    expect(err(file('Match host\n'), q('x'))).toMatch(/:1: Match host needs a pattern$/);
    expect(err(file('Match\n'), q('x'))).toMatch(/:1: Match needs criteria/);
    expect(err(file('Match all host x\n'), q('x'))).toMatch(/:1: Match all cannot be combined with other criteria$/);
    expect(cfg(file('Match final all\n  User fa\n'), q('x')).user).toBe('fa');
  });
});

describe('ProxyJump', () => {
  it('parses chains of [user@]host[:port] and ssh:// hops, and none', () => {
    const r = parseProxyJump('bastion,ops@10.0.0.1:2222,ssh://root@[fe80::1]:22/');
    expect(r.ok && r.hops.map((h) => [h.user, h.host, h.port])).toEqual([
      [undefined, 'bastion', undefined],
      ['ops', '10.0.0.1', 2222],
      ['root', 'fe80::1', 22],
    ]);
    expect(parseProxyJump('none')).toEqual({ ok: true, hops: [] });
    for (const bad of ['a,,b', 'a,', 'host:0', 'a;id', '-oProxyCommand=x']) expect(parseProxyJump(bad).ok, bad).toBe(false);
  });

  it('is one of the first-wins options, competes with ProxyCommand, and refuses a malformed value with file:line', () => {
    const f = file('Host n1\n  ProxyJump none\nHost n*\n  ProxyJump bastion\nHost x\n  ProxyCommand none\n  ProxyJump ignored\nHost y\n  ProxyCommand nc %h %p\n');
    expect(cfg(f, q('n1')).proxyJump).toEqual([]);
    expect(cfg(f, q('n2')).proxyJump.map((h) => h.host)).toEqual(['bastion']);
    expect(cfg(f, q('x')).proxyJump).toEqual([]);
    expect(err(f, q('y'))).toMatch(/:9: ProxyCommand is not supported: trace never runs commands from the ssh config; use ProxyJump$/);
    expect(err(file('Host far\n  ProxyJump ok,,x\n'), q('near'))).toMatch(/:2: bad ProxyJump "ok,,x": an empty hop$/);
    expect(err(file('ProxyJump b:99999\n'), q('n'))).toMatch(/:1: bad ProxyJump "b:99999": hop "b:99999": bad port/);
  });
});

describe('resolving a host into its hops', () => {
  const f = file(`
Host node*
  HostName 10.9.0.%h
  ProxyJump bastion
Host node1
  HostName 10.9.0.1
Host inner
  ProxyJump ops@bastion:2222,relay
Host relay
  HostName 10.8.0.1
  ProxyJump nowhere
Host bastion
  HostName bastion.example
  User jump
Host self
  ProxyJump self
Host * !bastion !relay !node* !inner
  ProxyJump bastion
`);
  const o = { sshConfigFile: f, env: { HOME: home, USER: 'me' }, agent: null };

  it('a ProxyJump host is reached through the jump host, each hop with its own config and known_hosts name', () => {
    const r = resolveTarget('root@node1', o);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.target).toMatchObject({ address: '10.9.0.node1', user: 'root', knownHostsName: '10.9.0.node1', shown: 'node1 (through bastion)' });
    expect(r.target.jumps.map((j) => [j.label, j.address, j.user, j.port, j.knownHostsName, j.shown])).toEqual([
      ['bastion', 'bastion.example', 'jump', 22, 'bastion.example', 'bastion (jump host for node1)'],
    ]);
  });

  it('ProxyJump a,b reaches b through a (b own ProxyJump overridden), and a through its own config', () => {
    const r = resolveTarget('inner', o);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.target.jumps.map((j) => `${j.user}@${j.address}:${j.port}`)).toEqual(['ops@bastion.example:2222', `${userInfo().username}@10.8.0.1:22`]);
    expect(r.target.jumps.map((j) => j.shown)).toEqual(['bastion:2222 (jump host for inner)', 'relay (jump host for inner, through bastion:2222)']);
    // The second hop knows its own way, for messages (ssh-keyscan through the first).
    expect(r.target.jumps[1]?.jumps.map((j) => j.label)).toEqual(['ops@bastion:2222']);
  });

  it('refuses a loop, and a malformed config before anything is contacted', () => {
    expect(resolveTarget('self', o)).toMatchObject({ ok: false, message: expect.stringMatching(/^ProxyJump loop: self -> self \(a jump host cannot be reached through itself/) });
    const loop = file('Host *\n  ProxyJump bastion\n');
    expect(resolveTarget('web', { ...o, sshConfigFile: loop })).toMatchObject({ ok: false, message: expect.stringMatching(/^ProxyJump loop: web -> bastion -> bastion /) });
    const bad = file('Host web\n  ProxyJump jump;id\n');
    expect(resolveTarget('web', { ...o, sshConfigFile: bad })).toMatchObject({ ok: false, message: expect.stringMatching(/:2: bad ProxyJump "jump;id": hop "jump;id": bad host/) });
    expect(resolveTarget('web', { ...o, sshConfigFile: null })).toMatchObject({ ok: true, target: { jumps: [] } });
  });
});

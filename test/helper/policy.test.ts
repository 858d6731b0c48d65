import { describe, expect, it } from 'vitest';
import { decide, kernelProbes, parsePolicy, ROOT, type Access, type Caller, type Policy } from '../../src/helper/policy.js';

const alice: Caller = { user: 'alice', uid: 1001, groups: ['alice', 'dev'] };
const bob: Caller = { user: 'bob', uid: 1002, groups: ['bob', 'sre'] };
const none: Access = { containers: [], processes: [], hostWide: false, kernelProbes: [], destructive: false };

function policy(json: unknown): Policy {
  const p = parsePolicy(JSON.stringify(json));
  if ('error' in p) throw new Error(p.error);
  return p;
}

const P = policy({
  version: 1,
  grants: [
    { users: ['alice'], containers: ['checkout*', 'web'] },
    { groups: ['sre'], containers: ['*'], hostWide: true, kernel: true },
    { users: ['carol'], containers: ['x'], ownProcesses: true, destructive: true },
  ],
});

describe('decide', () => {
  it('allows root everything, even with an empty policy', () => {
    expect(decide(policy({ version: 1, grants: [] }), ROOT, { ...none, hostWide: true, kernelProbes: ['kprobe:f'], destructive: true })).toEqual({ allowed: true });
  });
  it('refuses a user no grant names, in one sentence naming the user and the file', () => {
    const d = decide(P, { user: 'mallory', uid: 1234, groups: ['mallory'] }, { ...none, containers: ['checkout'] });
    expect(d.allowed).toBe(false);
    if (!d.allowed) {
      expect(d.reason).toMatch(/^user 'mallory' may not trace anything on this host: no grant in the ctrace policy \(\/etc\/ctrace\/policy.json\)/);
      expect(d.reason).not.toMatch(/\n/);
    }
  });
  it('matches container globs per grant', () => {
    expect(decide(P, alice, { ...none, containers: ['checkout-7f'] }).allowed).toBe(true);
    expect(decide(P, alice, { ...none, containers: ['web'] }).allowed).toBe(true);
    const d = decide(P, alice, { ...none, containers: ['web', 'payments'] });
    expect(d).toEqual({ allowed: false, reason: "user 'alice' may not trace container 'payments' (no grant in the ctrace policy matches it)" });
    // a glob is anchored: 'web' does not grant 'web2'
    expect(decide(P, alice, { ...none, containers: ['web2'] }).allowed).toBe(false);
  });
  it('grants by group', () => {
    expect(decide(P, bob, { ...none, containers: ['anything'], hostWide: true, kernelProbes: ['kprobe:vfs_read'] }).allowed).toBe(true);
  });
  it('needs hostWide for a run with no target, kernel for kernel probes, destructive for -w', () => {
    expect(decide(P, alice, { ...none, hostWide: true })).toMatchObject({ allowed: false, reason: expect.stringMatching(/whole host/) });
    expect(decide(P, alice, { ...none, containers: ['web'], kernelProbes: ['kprobe:vfs_read'] })).toMatchObject({ allowed: false, reason: expect.stringMatching(/kernel probes \(kprobe:vfs_read\)/) });
    expect(decide(P, alice, { ...none, containers: ['web'], destructive: true })).toMatchObject({ allowed: false, reason: expect.stringMatching(/destructive/) });
    expect(decide(P, { user: 'carol', uid: 7, groups: [] }, { ...none, containers: ['x'], destructive: true }).allowed).toBe(true);
  });
  it('allows -p of the caller\'s own process only with ownProcesses, anyone\'s with hostWide', () => {
    const carol: Caller = { user: 'carol', uid: 7, groups: [] };
    expect(decide(P, carol, { ...none, processes: [{ pid: 10, uid: 7 }] }).allowed).toBe(true);
    expect(decide(P, carol, { ...none, processes: [{ pid: 11, uid: 0 }] })).toMatchObject({ allowed: false, reason: expect.stringMatching(/PID 11 \(it is not the user's own process\)/) });
    expect(decide(P, alice, { ...none, processes: [{ pid: 12, uid: 1001 }] })).toMatchObject({ allowed: false, reason: expect.stringMatching(/no ownProcesses/) });
    expect(decide(P, bob, { ...none, processes: [{ pid: 13, uid: 0 }] }).allowed).toBe(true);
  });
});

describe('parsePolicy', () => {
  it('defaults every permission to false and the audit path', () => {
    const p = policy({ version: 1, grants: [{ users: ['a'] }] });
    expect(p.grants[0]).toEqual({ users: ['a'], groups: [], containers: [], ownProcesses: false, hostWide: false, kernel: false, destructive: false });
    expect(p.audit).toBe('/var/log/ctrace/audit.log');
  });
  it.each([
    ['not json', '{', /is not valid JSON/],
    ['wrong version', '{"version":2,"grants":[]}', /"version" must be 1/],
    ['grants not a list', '{"version":1,"grants":{}}', /"grants" must be a list/],
    ['unknown field (a typo must not silently grant or deny)', '{"version":1,"grants":[{"user":["a"]}]}', /unknown field "user"/],
    ['bad type', '{"version":1,"grants":[{"users":"a"}]}', /"users" must be a list of strings/],
    ['bad boolean', '{"version":1,"grants":[{"kernel":"yes"}]}', /"kernel" must be true or false/],
    ['relative audit path', '{"version":1,"audit":"audit.log","grants":[]}', /"audit" must be an absolute path/],
  ])('refuses %s with one sentence', (_name, text, re) => {
    const p = parsePolicy(text, '/etc/ctrace/policy.json');
    expect(p).toHaveProperty('error');
    if ('error' in p) {
      expect(p.error).toMatch(re);
      expect(p.error).toMatch(/^the ctrace policy \/etc\/ctrace\/policy.json /);
    }
  });
});

describe('kernelProbes', () => {
  it('picks kernel-only providers in both naming styles', () => {
    expect(kernelProbes(['kprobe:vfs_read', 'fbt::vfs_read:entry', 'kfunc:vfs_read', 'uprobe:main.handle', 'tracepoint:syscalls:sys_enter_read', 'syscall::read:entry', 'pid$target::main.f:entry', 'profile:hz:99', 'BEGIN', 'hardware:cache-misses:1000'])).toEqual([
      'kprobe:vfs_read',
      'fbt::vfs_read:entry',
      'kfunc:vfs_read',
      'hardware:cache-misses:1000',
    ]);
  });
});

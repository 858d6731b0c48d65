// The test-host infrastructure itself: own hostname, own podman store, own /etc, cleanup.
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { useTestHosts } from '../support/hosts.js';

describe('test hosts', () => {
  const fleet = useTestHosts(2);

  it('each host has its own hostname, /etc and podman store, and serves a demo service', async () => {
    const t0 = Date.now();
    const { hosts } = await fleet.ready;
    const [h1, h2] = hosts as [NonNullable<(typeof hosts)[0]>, NonNullable<(typeof hosts)[0]>];
    expect((await h1.exec(['hostname'])).stdout.trim()).toBe('ctrace-h1');
    expect((await h2.exec(['hostname'])).stdout.trim()).toBe('ctrace-h2');
    await h1.exec(['mkdir', '-p', '/etc/ctrace']);
    await h1.exec(['sh', '-c', 'echo h1 > /etc/ctrace/mark']);
    expect((await h1.exec(['cat', '/etc/ctrace/mark'])).stdout).toBe('h1\n');
    expect((await h2.exec(['cat', '/etc/ctrace/mark'])).code).not.toBe(0);
    expect(existsSync('/etc/ctrace/mark')).toBe(false);
    const svc = await h1.startService('emoji');
    const ps1 = await h1.podman(['ps', '--format', '{{.Names}}']);
    const ps2 = await h2.podman(['ps', '--format', '{{.Names}}']);
    expect(ps1.stdout).toContain(svc.name);
    expect(ps2.stdout).not.toContain(svc.name);
    const r = await h1.load(svc, 50);
    expect(r.ok).toBe(50);
    expect(readFileSync(`/proc/${svc.hostPid}/cmdline`, 'utf8')).toContain('/app/emoji');
    console.log(`hosts up and service loaded in ${Date.now() - t0} ms`);
  });
});

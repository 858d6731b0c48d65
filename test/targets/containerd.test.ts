// The ctr client's pure parts: `ctr tasks ls` and `ctr containers info` as ctr 1.6 prints
// them, names from labels, and the by-id entry point's validation. Real containerd
// containers are in test/e2e/containerd.e2e.test.ts.

import { describe, expect, it } from 'vitest';
import { containerdName, parseCtrInfo, parseCtrTasks } from '../../src/runner/targets/containerd.js';
import { resolveContainerdId } from '../../src/runner/targets/resolve.js';

// Printed by ctr 1.6.20 (Debian bookworm) against the e2e test's containerd.
const TASKS = 'TASK       PID      STATUS    \nemo1-id    13750    RUNNING\nemo2-id    14359    PAUSED\nemo3-id    0        STOPPED\n';
const INFO = JSON.stringify(
  {
    ID: 'emo1-id',
    Labels: { 'ctrace.test': '1', 'io.containerd.image.config.stop-signal': 'SIGTERM', 'nerdctl/name': 'emo1' },
    Image: 'ctrace.test/emoji:x',
    Runtime: { Name: 'io.containerd.runc.v2', Options: { type_url: 'containerd.runc.v1.Options' } },
    SnapshotKey: 'emo1-id',
    Snapshotter: 'overlayfs',
    Spec: { ociVersion: '1.0.2-dev', process: { args: ['/app/emoji'] } },
  },
  null,
  4,
);

describe('ctr output', () => {
  it('parses `ctr tasks ls` (header skipped, status in lower case)', () => {
    expect([...parseCtrTasks(TASKS)]).toEqual([
      ['emo1-id', { pid: 13750, status: 'running' }],
      ['emo2-id', { pid: 14359, status: 'paused' }],
      ['emo3-id', { pid: 0, status: 'stopped' }],
    ]);
    expect(parseCtrTasks('TASK    PID    STATUS    \n').size).toBe(0);
  });

  it('parses `ctr containers info` with its task: running, paused, stopped, no task', () => {
    const tasks = parseCtrTasks(TASKS);
    const labels = { 'ctrace.test': '1', 'io.containerd.image.config.stop-signal': 'SIGTERM', 'nerdctl/name': 'emo1' };
    expect(parseCtrInfo(INFO, tasks.get('emo1-id'))).toEqual({ runtime: 'containerd', id: 'emo1-id', name: 'emo1', state: 'running', running: true, pid: 13750, labels });
    expect(parseCtrInfo(INFO, tasks.get('emo2-id'))).toMatchObject({ state: 'paused', running: true, pid: 14359 });
    expect(parseCtrInfo(INFO, tasks.get('emo3-id'))).toMatchObject({ state: 'stopped', running: false, pid: 0 });
    expect(parseCtrInfo(INFO, undefined)).toMatchObject({ state: 'stopped', running: false, pid: 0 });
    expect(parseCtrInfo('ctr: container "x" in namespace "default": not found', undefined)).toBeNull();
    expect(parseCtrInfo('{"Labels": {}}', undefined)).toBeNull();
  });

  it("a CRI container's name from the CRI plugin's metadata (as ctr prints it: base64 JSON); a sandbox by its id", () => {
    // The shape the CRI plugin of containerd 1.6.20 stored for a container made through its socket.
    const meta = { Version: 'v1', Metadata: { ID: 'c0ffee', Name: 'emoji_emoji-pod_ctrace-test_uid-123_0', SandboxID: 'abc', Config: { metadata: { name: 'emoji' }, image: { image: 'ctrace.test/pause:1' } } } };
    const info = (labels: Record<string, string>, m: unknown = meta) =>
      JSON.stringify({ ID: 'c0ffee', Labels: labels, Extensions: { 'io.cri-containerd.container.metadata': { type_url: 'github.com/containerd/cri/pkg/store/container/Metadata', value: Buffer.from(JSON.stringify(m)).toString('base64') } } });
    expect(parseCtrInfo(info({ 'io.cri-containerd.kind': 'container' }), undefined)?.name).toBe('emoji');
    expect(parseCtrInfo(info({ 'io.cri-containerd.kind': 'sandbox', app: 'emoji' }), undefined)?.name).toBe('c0ffee');
    expect(parseCtrInfo(info({ 'nerdctl/name': 'n' }, { Version: 'v1' }), undefined)?.name).toBe('n');
    expect(parseCtrInfo(JSON.stringify({ ID: 'c0ffee', Labels: {}, Extensions: { 'io.cri-containerd.container.metadata': { value: 'not base64 json' } } }), undefined)?.name).toBe('c0ffee');
  });

  it('a name is the CRI container name, else the nerdctl name, else the id', () => {
    expect(containerdName('abc', { 'io.kubernetes.container.name': 'web', 'nerdctl/name': 'n', 'io.kubernetes.pod.name': 'p' })).toBe('web');
    expect(containerdName('abc', { 'nerdctl/name': 'n' })).toBe('n');
    expect(containerdName('abc', { other: 'x' })).toBe('abc');
  });
});

describe('resolveContainerdId', () => {
  it.each([['containerd://x;rm -rf /'], ['-rf'], ['']])('refuses the id %j before anything runs', async (id) => {
    expect(await resolveContainerdId(id, { env: { PATH: '/nonexistent' } })).toEqual({ ok: false, message: `${JSON.stringify(id)} is not a valid containerd container id` });
  });

  it('refuses a bad namespace, and says when ctr is missing', async () => {
    expect(await resolveContainerdId('abc', { namespace: '../x', env: {} })).toEqual({ ok: false, message: '"../x" is not a valid containerd namespace' });
    expect(await resolveContainerdId('containerd://abcdef0123456789', { env: { CTRACE_CTR: '/nonexistent/ctr' } })).toEqual({
      ok: false,
      message: 'containerd container abcdef012345 cannot be looked up: the ctr command is not installed',
    });
  });
});

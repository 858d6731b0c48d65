// The demo stack the benchmarks trace: frontend -> voting (failRate 0, so no request fails
// by design) and emoji, in podman containers with a unique instance name, removed at exit.

import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { ROOT } from './proc.js';

export async function startBenchDemo(log = () => {}) {
  const { startDemo } = await import(join(ROOT, 'dist', 'demo', 'index.js'));
  const instance = `bench-${randomBytes(3).toString('hex')}`;
  const demo = await startDemo({ instance, failRate: 0, latencyMs: 0, log });
  const fe = demo.containers.frontend;
  return {
    demo,
    frontend: fe.name,
    frontendPid: fe.hostPid,
    /** The frontend's binary as the host sees it (for hand-written bpftrace programs). */
    frontendExe: `/proc/${fe.hostPid}/root/app/frontend`,
    url: fe.url,
    stop: () => demo.stop(),
  };
}

// podman: asked through its CLI (which also honours CONTAINER_HOST for podman --remote).

import { EngineClient } from './engine.js';

/** podman inspect takes ~50 ms here; a podman busy starting containers holds its lock longer. */
export const PODMAN_TIMEOUT_MS = 10_000;

export function podmanClient(env: NodeJS.ProcessEnv = process.env): EngineClient {
  return new EngineClient(
    {
      runtime: 'podman',
      program: 'podman',
      overrideVar: 'CTRACE_PODMAN',
      timeoutMs: PODMAN_TIMEOUT_MS,
      unreachable: /cannot connect to podman|unable to connect to podman|connection refused|podman\.sock.*no such file/i,
    },
    env,
  );
}

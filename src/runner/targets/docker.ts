// docker: asked through the docker CLI, so DOCKER_HOST, DOCKER_CONTEXT and the CLI's own
// config apply exactly as they do for the user. With no engine behind it the CLI fails at
// once ("Cannot connect to the Docker daemon"); a socket that accepts and never answers
// is cut off by the timeout. Either way docker counts as not answering, not as an error.

import { EngineClient } from './engine.js';

export const DOCKER_TIMEOUT_MS = 2_000;

export function dockerClient(env: NodeJS.ProcessEnv = process.env): EngineClient {
  return new EngineClient(
    {
      runtime: 'docker',
      program: 'docker',
      overrideVar: 'CTRACE_DOCKER',
      timeoutMs: DOCKER_TIMEOUT_MS,
      unreachable:
        /cannot connect to the docker daemon|error during connect|is the docker daemon running|connect: (connection refused|no such file or directory|permission denied)|dial (unix|tcp)|context .* does not exist|failed to connect/i,
    },
    env,
  );
}

// Target resolution: container names, labels and PIDs -> host PIDs, namespaces and paths.
export type {
  ContainerRecord,
  ContainerRuntime,
  ResolvedTarget,
  ResolveOptions,
  ResolveRequest,
  ResolveResult,
  RuntimeAnswer,
  RuntimeChoice,
  RuntimeClient,
  TargetRuntime,
} from './types.js';
export { resolveTargets, resolveContainerdId, selectorProblem, watchTargets, waitForRestart, defaultRuntimes, type WatchOptions, type RestartOptions, type ContainerdIdOptions } from './resolve.js';
export { resolveInRoot, moduleMap, MAX_SYMLINKS, type InRootResult } from './paths.js';
export { resolvePid, isValidPid } from './pid.js';
export { targetFacts, type TargetFactsResult } from './facts.js';
export { podmanClient } from './podman.js';
export { dockerClient } from './docker.js';
export { containerdClient, CRI_NAMESPACE } from './containerd.js';
export { crictlClient, parseCrictlInspect, parseCrictlPs } from './crictl.js';
export { parseInspect } from './engine.js';
export { isValidContainerRef, parseLabelSelector } from './exec.js';

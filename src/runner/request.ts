// Which containers and processes a run asks for, and asking their runtimes about them. Kept
// apart from prepare.ts (which loads the compiler) so a run can start the runtimes' queries
// before the parser and compiler are loaded; prepare.ts re-exports all of it.

import { resolveTargets, type ResolvedTarget, type RuntimeChoice } from './targets/index.js';

/** -c NAME (repeatable), --label k=v, -p PID, --runtime, --host-pids. */
export interface TargetRequest {
  readonly containers: readonly string[];
  readonly labels: readonly string[];
  readonly pids: readonly number[];
  readonly runtime: RuntimeChoice;
  readonly hostPids: boolean;
}

export function wantsTargets(t: TargetRequest | undefined): t is TargetRequest {
  return !!t && t.containers.length + t.labels.length + t.pids.length > 0;
}

export type Resolved = { ok: true; targets: ResolvedTarget[] } | { ok: false; message: string };

/** The request's containers and processes, asked of their runtimes (none: host-wide). */
export async function resolveRequest(t: TargetRequest | undefined, env: NodeJS.ProcessEnv): Promise<Resolved> {
  if (!wantsTargets(t)) return { ok: true, targets: [] };
  return resolveTargets({ containers: [...t.containers], labels: [...t.labels], pids: [...t.pids], runtime: t.runtime }, { env });
}

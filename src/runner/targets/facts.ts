// ResolvedTarget -> the compiler's TargetFacts (its main executable, the container paths
// a program names, and the pid provider's module names), all resolved inside the root.

import type { TargetFacts } from '../../compiler/facts.js';
import { moduleMap, resolveInRoot } from './paths.js';
import type { ResolvedTarget } from './types.js';

export type TargetFactsResult = { ok: true; facts: TargetFacts } | { ok: false; message: string };

/**
 * `paths`: container paths the program names (uprobe:/usr/lib/libfoo.so:fn). Each must
 * resolve inside the container's root; the first that does not is the error. The main
 * executable is needed only when `needExe` (probes without a binary, pid$target::fn).
 */
export function targetFacts(t: ResolvedTarget, paths: readonly string[] = [], needExe = true): TargetFactsResult {
  if (needExe && !t.exeHost) {
    return { ok: false, message: t.exeProblem ?? `the executable of ${t.runtime === 'pid' ? `PID ${t.hostPid}` : `container '${t.name}'`} cannot be opened` };
  }
  const resolved: Record<string, string> = {};
  for (const p of paths) {
    const r = resolveInRoot(t.root, p);
    if (!r.ok) return { ok: false, message: `${r.message}${t.runtime === 'pid' ? '' : ` (container '${t.name}')`}` };
    resolved[p] = r.hostPath;
  }
  return { ok: true, facts: { pid: t.hostPid, exe: t.exeHost, paths: resolved, modules: moduleMap(t.hostPid) } };
}

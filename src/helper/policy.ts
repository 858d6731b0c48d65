// Who may trace what, after DTrace's privileges: dtrace_proc (your own processes),
// dtrace_user, dtrace_kernel. A policy file grants callers (unix users or groups; over SSH, the
// remote login) containers by glob, and, separately, host-wide tracing, kernel probes and
// destructive actions. Root may do everything; anyone else, with no grant, nothing.
//
//   /etc/ctrace/policy.json (CTRACE_POLICY overrides the path for the helper's own tests)
//   {
//     "version": 1,
//     "audit": "/var/log/ctrace/audit.log",
//     "grants": [
//       { "users": ["alice"], "groups": ["sre"], "containers": ["checkout*", "web"],
//         "ownProcesses": true, "hostWide": false, "kernel": false, "destructive": false }
//     ]
//   }

import { readFileSync } from 'node:fs';

export const POLICY_FILE = '/etc/ctrace/policy.json';
export const AUDIT_FILE = '/var/log/ctrace/audit.log';

export interface Grant {
  readonly users: readonly string[];
  readonly groups: readonly string[];
  /** Container names (globs: * and ?) the callers may trace. */
  readonly containers: readonly string[];
  /** Processes (-p) running as the caller's own uid. */
  readonly ownProcesses: boolean;
  /** Tracing with no target (the whole host), and -p of anyone's process. */
  readonly hostWide: boolean;
  /** kprobe/kfunc/fbt/hardware and other kernel-only probes. */
  readonly kernel: boolean;
  /** -w / `#pragma D option destructive`: system(), raise(). */
  readonly destructive: boolean;
}

export interface Policy {
  readonly grants: readonly Grant[];
  readonly audit: string;
}

export interface Caller {
  readonly user: string;
  readonly uid: number;
  readonly groups: readonly string[];
}

export const ROOT: Caller = { user: 'root', uid: 0, groups: ['root'] };

/** What a run asks for, once its targets are resolved. */
export interface Access {
  readonly containers: readonly string[];
  /** -p targets, with the uid each runs as. */
  readonly processes: readonly { readonly pid: number; readonly uid: number | null }[];
  readonly hostWide: boolean;
  /** The kernel probes the program uses, as written. */
  readonly kernelProbes: readonly string[];
  readonly destructive: boolean;
}

export type Decision = { allowed: true } | { allowed: false; reason: string };

function globRe(glob: string): RegExp {
  return new RegExp(`^${glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
}

function grantsOf(policy: Policy, caller: Caller): Grant[] {
  return policy.grants.filter((g) => g.users.includes(caller.user) || g.groups.some((x) => caller.groups.includes(x)));
}

/** Pure: may `caller` do `access` under `policy`? A refusal is one sentence naming what and who. */
export function decide(policy: Policy, caller: Caller, access: Access): Decision {
  if (caller.uid === 0) return { allowed: true };
  const grants = grantsOf(policy, caller);
  const who = `user '${caller.user}'`;
  if (grants.length === 0) return { allowed: false, reason: `${who} may not trace anything on this host: no grant in the ctrace policy (${POLICY_FILE}) names this user or its groups` };
  const any = (f: (g: Grant) => boolean) => grants.some(f);
  if (access.hostWide && !any((g) => g.hostWide)) return { allowed: false, reason: `${who} may not trace the whole host (the policy grants no hostWide); name a container with -c` };
  for (const name of access.containers) {
    if (!any((g) => g.containers.some((c) => globRe(c).test(name)))) return { allowed: false, reason: `${who} may not trace container '${name}' (no grant in the ctrace policy matches it)` };
  }
  for (const p of access.processes) {
    const own = p.uid !== null && p.uid === caller.uid && any((g) => g.ownProcesses);
    if (!own && !any((g) => g.hostWide)) return { allowed: false, reason: `${who} may not trace PID ${p.pid} (${p.uid === caller.uid ? 'the policy grants no ownProcesses' : 'it is not the user\'s own process'})` };
  }
  if (access.kernelProbes.length && !any((g) => g.kernel)) return { allowed: false, reason: `${who} may not use kernel probes (${access.kernelProbes[0]}): the policy grants no kernel` };
  if (access.destructive && !any((g) => g.destructive)) return { allowed: false, reason: `${who} may not use destructive actions: the policy grants no destructive` };
  return { allowed: true };
}

const strings = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === 'string');

/** Pure: a policy from its JSON text, or what is wrong with it (one sentence). */
export function parsePolicy(text: string, path = POLICY_FILE): Policy | { error: string } {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    return { error: `the ctrace policy ${path} is not valid JSON (${(e as Error).message})` };
  }
  const bad = (what: string) => ({ error: `the ctrace policy ${path} is invalid: ${what}` });
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return bad('it must be a JSON object');
  const o = v as Record<string, unknown>;
  if (o.version !== 1) return bad('"version" must be 1');
  if (o.audit !== undefined && (typeof o.audit !== 'string' || !o.audit.startsWith('/'))) return bad('"audit" must be an absolute path');
  if (!Array.isArray(o.grants)) return bad('"grants" must be a list');
  const grants: Grant[] = [];
  for (const [i, g] of o.grants.entries()) {
    if (typeof g !== 'object' || g === null) return bad(`grant ${i + 1} must be an object`);
    const x = g as Record<string, unknown>;
    const known = new Set(['users', 'groups', 'containers', 'ownProcesses', 'hostWide', 'kernel', 'destructive']);
    const unknown = Object.keys(x).find((k) => !known.has(k));
    if (unknown) return bad(`grant ${i + 1} has an unknown field "${unknown}"`);
    for (const k of ['users', 'groups', 'containers']) if (x[k] !== undefined && !strings(x[k])) return bad(`grant ${i + 1}: "${k}" must be a list of strings`);
    for (const k of ['ownProcesses', 'hostWide', 'kernel', 'destructive']) if (x[k] !== undefined && typeof x[k] !== 'boolean') return bad(`grant ${i + 1}: "${k}" must be true or false`);
    grants.push({
      users: (x.users as string[] | undefined) ?? [],
      groups: (x.groups as string[] | undefined) ?? [],
      containers: (x.containers as string[] | undefined) ?? [],
      ownProcesses: x.ownProcesses === true,
      hostWide: x.hostWide === true,
      kernel: x.kernel === true,
      destructive: x.destructive === true,
    });
  }
  return { grants, audit: (o.audit as string | undefined) ?? AUDIT_FILE };
}

/** The policy on this host; a missing file is the default policy (root only). */
export function loadPolicy(path = POLICY_FILE): Policy | { error: string } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { grants: [], audit: AUDIT_FILE };
    return { error: `cannot read the ctrace policy ${path}: ${(e as Error).message}` };
  }
  return parsePolicy(text, path);
}

/** Kernel-only probe providers (both bpftrace's and D's names). */
const KERNEL = /^(kprobe|kretprobe|k|kr|kfunc|kretfunc|fentry|fexit|f|fr|fbt|rawtracepoint|rt|hardware|h|watchpoint|w|asyncwatchpoint|aw|iter|it)$/;

/** Pure: the probes among `probes` (as written, e.g. `kprobe:do_sys_open`) that need kernel privilege. */
export function kernelProbes(probes: readonly string[]): string[] {
  return probes.filter((p) => KERNEL.test(p.split(':')[0] ?? ''));
}

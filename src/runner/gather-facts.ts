// Gathers the facts the compiler needs from this machine: tracepoint formats from tracefs,
// bpftrace's abilities, and the clock offset for walltimestamp.

import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Facts, BpftraceFacts, TargetFacts } from '../compiler/facts.js';

export const TRACEFS = '/sys/kernel/tracing';

export interface FactsRequest {
  readonly bpftrace: BpftraceFacts;
  /** 'category:name' of tracepoints whose argument names the program needs. */
  readonly tracepoints: readonly string[];
  readonly scriptArgs: readonly string[];
  readonly scriptName: string;
  readonly destructive: boolean;
  readonly target?: TargetFacts;
  /** The `host` builtin's value: a fleet names each remote host; else this machine's hostname. */
  readonly host?: string;
}

export type FactsResult = { ok: true; facts: Facts } | { ok: false; message: string };

export function tracefsMounted(root = TRACEFS): boolean {
  return existsSync(`${root}/events`);
}

/** Argument names of a tracepoint in order, without the common_* header and __syscall_nr. */
export function tracepointFields(category: string, name: string, root = TRACEFS): string[] | undefined {
  if (!/^[\w-]+$/.test(category) || !/^[\w-]+$/.test(name)) return undefined;
  let text: string;
  try {
    text = readFileSync(`${root}/events/${category}/${name}/format`, 'utf8');
  } catch {
    return undefined;
  }
  return parseFormat(text);
}

export function parseFormat(text: string): string[] {
  const fields: string[] = [];
  for (const m of text.matchAll(/^\s*field:([^;]*);/gm)) {
    // "unsigned int fd", "char * buf", "const char __user * filename", "char comm[16]"
    const decl = m[1]!.trim().replace(/\[.*\]$/, '');
    const name = /([A-Za-z_]\w*)$/.exec(decl)?.[1];
    if (!name || name.startsWith('common_') || name === '__syscall_nr') continue;
    fields.push(name);
  }
  return fields;
}

export function gatherFacts(req: FactsRequest): FactsResult {
  const needTracefs = req.tracepoints.length > 0;
  if (needTracefs && !tracefsMounted()) {
    return { ok: false, message: `tracefs is not mounted at ${TRACEFS}, so tracepoints cannot be used: run scripts/setup.sh, or mount -t tracefs tracefs ${TRACEFS}` };
  }
  const tracepoints: Record<string, string[]> = {};
  for (const tp of req.tracepoints) {
    const [cat, name] = tp.split(':') as [string, string];
    const f = tracepointFields(cat, name);
    if (f) tracepoints[tp] = f;
  }
  return {
    ok: true,
    facts: {
      bpftrace: req.bpftrace,
      tracepoints,
      // Only the needed ones were read: an absent needed one does not exist.
      tracepointsComplete: needTracefs,
      ...(req.target ? { target: req.target } : {}),
      scriptArgs: req.scriptArgs,
      scriptName: req.scriptName,
      destructive: req.destructive,
      wallclockOffsetNs: BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint(),
      host: req.host ?? hostname(),
    },
  };
}

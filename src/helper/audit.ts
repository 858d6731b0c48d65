// One audit line per run (JSON, appended): who traced which target with which program, when,
// and how it ended. Refusals are runs too. A run that attaches also leaves a `started` line
// first, so that even a helper killed outright leaves a trace of what it ran.

import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

export interface AuditRecord {
  readonly start: string;
  /** Absent on a `started` line. */
  readonly end?: string;
  readonly caller: string;
  readonly uid: number;
  /** How the caller came: 'sudo' (SUDO_USER), 'root', plus the SSH client address when known. */
  readonly via: string;
  readonly targets: readonly string[];
  /** sha256 of the program text, and its name (file or <command line>). */
  readonly program: { readonly sha256: string; readonly name: string };
  readonly outcome: 'started' | 'ok' | 'refused' | 'error' | 'interrupted' | 'killed';
  readonly detail?: string;
}

/** Appends; an audit log that cannot be written is reported (a run must not go unaudited). */
export function writeAudit(path: string, rec: AuditRecord): string | null {
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o750 });
    appendFileSync(path, JSON.stringify(rec) + '\n', { mode: 0o640 });
    return null;
  } catch (e) {
    return `cannot write the audit log ${path}: ${(e as Error).message}`;
  }
}

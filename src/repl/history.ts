// The REPL's persistent history: $XDG_STATE_HOME/ctrace/history when XDG_STATE_HOME is set,
// else ~/.ctrace_history. One entry per line, oldest first.

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

export const HISTORY_SIZE = 1000;

export function historyPath(env: NodeJS.ProcessEnv): string {
  if (env.XDG_STATE_HOME) return join(env.XDG_STATE_HOME, 'ctrace', 'history');
  return join(env.HOME || homedir(), '.ctrace_history');
}

/** Newest first, as readline wants it. */
export function loadHistory(path: string): string[] {
  try {
    return readFileSync(path, 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '')
      .slice(-HISTORY_SIZE)
      .reverse();
  } catch {
    return [];
  }
}

/** `newestFirst` as readline keeps it. Best effort: a read-only home is not an error. */
export function saveHistory(path: string, newestFirst: readonly string[]): void {
  try {
    mkdirSync(dirname(path), { recursive: true });
    const lines = newestFirst.slice(0, HISTORY_SIZE).reverse();
    writeFileSync(path, lines.length ? lines.join('\n') + '\n' : '', { mode: 0o600 });
  } catch {
    // not worth interrupting the session for
  }
}

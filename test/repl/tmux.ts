// Drives a program in a detached tmux session as a person at a terminal would: keys in,
// the screen out (send-keys, capture-pane). Each instance has its own tmux server socket.

import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';

export class Tmux {
  readonly socket = `ctrace-repl-test-${process.pid}-${randomBytes(3).toString('hex')}`;

  private tmux(...args: string[]): string {
    return execFileSync('tmux', ['-L', this.socket, '-u', ...args], { encoding: 'utf8' });
  }

  /** Starts `argv` in a 200x50 terminal; the pane stays after the program exits (to read its last words). */
  start(argv: readonly string[], env: Record<string, string> = {}): void {
    const e = Object.entries(env).flatMap(([k, v]) => ['-e', `${k}=${v}`]);
    this.tmux('new-session', '-d', '-x', '200', '-y', '50', '-s', 'main', ...e, ...argv);
    this.tmux('set-option', '-t', 'main', 'remain-on-exit', 'on');
  }

  /** Types text literally (a trailing ';' would otherwise end tmux's command). */
  type(text: string): void {
    this.tmux('send-keys', '-t', 'main', '-l', text.replace(/;$/, '\\;'));
  }

  /** Named keys: Enter, Tab, C-c, C-d, C-u. */
  keys(...keys: string[]): void {
    this.tmux('send-keys', '-t', 'main', ...keys);
  }

  line(text: string): void {
    this.type(text);
    this.keys('Enter');
  }

  /** The whole pane, scrollback included, wrapped lines joined. */
  screen(): string {
    return this.tmux('capture-pane', '-p', '-J', '-S', '-', '-t', 'main');
  }

  exited(): boolean {
    return this.tmux('display-message', '-p', '-t', 'main', '#{pane_dead}').trim() === '1';
  }

  async waitFor(check: (screen: string) => boolean, what: string, timeoutMs = 15_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const s = this.screen();
      if (check(s)) return s;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; the screen:\n${s}`);
      await new Promise((r) => setTimeout(r, 80));
    }
  }

  /** Waits until `needle` occurs at least `n` times on the screen. */
  waitForCount(needle: string | RegExp, n: number, timeoutMs?: number): Promise<string> {
    return this.waitFor((s) => count(s, needle) >= n, `${n}x ${needle}`, timeoutMs);
  }

  kill(): void {
    try {
      this.tmux('kill-server');
    } catch {
      // already gone
    }
    // tmux leaves its socket file behind
    rmSync(join(process.env.TMUX_TMPDIR ?? '/tmp', `tmux-${process.getuid?.() ?? 0}`, this.socket), { force: true });
  }
}

export function count(s: string, needle: string | RegExp): number {
  if (typeof needle === 'string') return s.split(needle).length - 1;
  return [...s.matchAll(new RegExp(needle.source, needle.flags.includes('g') ? needle.flags : needle.flags + 'g'))].length;
}

/**
 * What the `nth` (1-based) `trace> COMMAND` line printed: the lines up to the next prompt, or
 * null while that prompt has not appeared (the command is still running).
 */
export function outputOf(screen: string, command: string, nth = 1): string | null {
  const lines = screen.split('\n');
  let seen = 0;
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]!.trimEnd() !== `trace> ${command}` || ++seen < nth) continue;
    const rest = lines.slice(i + 1);
    const end = rest.findIndex((l) => l.startsWith('trace>'));
    return end < 0 ? null : rest.slice(0, end).join('\n');
  }
  return null;
}

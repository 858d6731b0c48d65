// The REPL's input, line by line (pure): when a typed clause is complete, how a chunk of text
// splits into the session's items (clauses and pragmas), and a clause as one line for editing.
//
// A clause may span lines: reading goes on while a `{ }` or `< >` block (or a comment) is open,
// or while only a header has been typed (`syscall::read:entry` and `/pred/` on their own lines,
// D style), in which case an empty line submits it as it is.

import type { IToken } from 'chevrotain';
import { Codes } from '../lang/diagnostics.js';
import { lex } from '../lang/lexer.js';
import * as T from '../lang/tokens.js';
import { isCommandLine } from './commands.js';

/**
 * - empty: nothing but blanks and comments
 * - complete: ready to compile (or broken in a way more lines cannot fix)
 * - open: a block or a comment is still open
 * - header: a clause's probes (and predicate) without their block yet
 */
export type Completeness = 'empty' | 'complete' | 'open' | 'header';

export function completeness(text: string): Completeness {
  if (text.trim() === '') return 'empty';
  const lexed = lex(text);
  if (lexed.diagnostics.some((d) => d.code === Codes.UnterminatedComment)) return 'open';
  // A lexical error (an unterminated string, a stray character) is shown at once.
  if (lexed.diagnostics.length > 0) return 'complete';
  const last = lexed.items[lexed.items.length - 1];
  if (!last) return 'empty';
  if (last.kind !== 'clause' || last.closedBy !== null) return 'complete';
  const tokens = lexed.tokens.slice(last.from, last.to);
  if (tokens.some((t) => t.tokenType === T.LCurly || t.tokenType === T.LAngle)) return 'open';
  return 'header';
}

export type InputEvent =
  /** A `:command` line. While a clause is being continued, it runs and the clause stays pending. */
  | { readonly kind: 'command'; readonly line: string }
  /** Text to compile: one or more items. */
  | { readonly kind: 'chunk'; readonly text: string }
  /** More lines are needed (show the continuation prompt). */
  | { readonly kind: 'more' }
  /** Nothing to do (an empty line). */
  | { readonly kind: 'nothing' };

export class LineAccumulator {
  private lines: string[] = [];

  /** The unfinished clause's text so far ('' when none). */
  get pending(): string {
    return this.lines.join('\n');
  }

  get continuing(): boolean {
    return this.lines.length > 0;
  }

  reset(): void {
    this.lines = [];
  }

  push(line: string): InputEvent {
    const trimmed = line.trim();
    if (!this.continuing) {
      if (trimmed === '') return { kind: 'nothing' };
      if (trimmed.startsWith(':')) return { kind: 'command', line: trimmed };
    } else {
      if (isCommandLine(trimmed)) return { kind: 'command', line: trimmed };
      // An empty line submits a header that is still waiting for its block.
      if (trimmed === '' && completeness(this.pending) === 'header') return this.take();
    }
    this.lines.push(line);
    const c = completeness(this.pending);
    if (c === 'open' || c === 'header') return { kind: 'more' };
    if (c === 'empty') {
      this.reset();
      return { kind: 'nothing' };
    }
    return this.take();
  }

  /** End of input: whatever is pending, to be compiled (and reported) as it is. */
  flush(): string | null {
    if (!this.continuing) return null;
    const text = this.pending;
    this.reset();
    return text.trim() === '' ? null : text;
  }

  private take(): InputEvent {
    const text = this.pending;
    this.reset();
    return { kind: 'chunk', text };
  }
}

export interface Item {
  readonly kind: 'clause' | 'pragma';
  /** The item's text as typed (a clause may span lines). */
  readonly text: string;
}

export interface SplitItem extends Item {
  /** Offset of the item in the text it was cut from. */
  readonly start: number;
}

const tokenEnd = (t: IToken): number => t.startOffset + t.image.length;

/** Cuts text into its top-level items (comments between them are dropped). */
export function splitItems(text: string): SplitItem[] {
  const lexed = lex(text);
  const out: SplitItem[] = [];
  for (const item of lexed.items) {
    if (item.kind === 'pragma') {
      const t = lexed.tokens[item.token]!;
      out.push({ kind: 'pragma', text: text.slice(t.startOffset, tokenEnd(t)), start: t.startOffset });
      continue;
    }
    const first = lexed.tokens[item.from];
    const last = lexed.tokens[item.to - 1];
    if (!first || !last) continue;
    out.push({ kind: 'clause', text: text.slice(first.startOffset, tokenEnd(last)), start: first.startOffset });
  }
  return out;
}

/** The session's program text: its items, one after another, as `:save` writes and `:emit` compiles. */
export function programText(items: readonly Item[]): string {
  return items.map((i) => i.text + '\n').join('');
}

/**
 * A clause on one line, for the input line of `:edit`: newlines and comments between tokens
 * become single spaces (a `//` comment would otherwise swallow the rest of the line).
 */
export function oneLine(text: string): string {
  if (!text.includes('\n')) return text;
  const lexed = lex(text);
  let out = '';
  let prevEnd = 0;
  for (const t of lexed.tokens) {
    if (!Number.isFinite(t.startOffset)) continue;
    const gap = text.slice(prevEnd, t.startOffset);
    if (prevEnd > 0) out += gap === '' ? '' : /^[ \t]*$/.test(gap) ? gap : ' ';
    out += text.slice(t.startOffset, tokenEnd(t));
    prevEnd = tokenEnd(t);
  }
  return out;
}

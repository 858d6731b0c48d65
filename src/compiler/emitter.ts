// Builds bpftrace text line by line and records, for each emitted fragment that came from
// the user's source, where it came from: bpftrace's `stdin:L:C-C` errors map back through it.

import type { Span } from '../lang/source.js';
import type { SourceMap, SourceMapEntry } from './program.js';

export class Writer {
  private readonly lines: string[] = [''];
  private readonly entries: SourceMapEntry[] = [];
  private depth = 0;

  /** Appends text to the current line; `span` records where it came from. */
  write(text: string, span?: Span): this {
    const line = this.lines.length;
    const before = this.current.length;
    if (before === 0 && text.length > 0) this.current = '  '.repeat(this.depth);
    const colStart = this.current.length + 1;
    this.current += text;
    if (span) this.entries.push({ line, colStart, colEnd: this.current.length + 1, span });
    return this;
  }

  /** Records `span` over whatever `emit` writes (on the same line). */
  mark(span: Span, emit: () => void): void {
    if (this.current.length === 0) this.current = '  '.repeat(this.depth);
    const line = this.lines.length;
    const colStart = this.current.length + 1;
    emit();
    if (this.lines.length === line) this.entries.push({ line, colStart, colEnd: this.current.length + 1, span });
  }

  newline(): this {
    this.lines.push('');
    return this;
  }

  indent(): this {
    this.depth++;
    return this;
  }

  dedent(): this {
    this.depth = Math.max(0, this.depth - 1);
    return this;
  }

  /** Appends another writer's lines (its first line starting a new line here). */
  append(other: Writer): void {
    const built = other.build();
    if (this.current.length > 0) this.newline();
    const offset = this.lines.length - 1;
    const otherLines = built.text.split('\n');
    this.lines.pop();
    this.lines.push(...otherLines);
    for (const e of built.sourceMap.entries) this.entries.push({ ...e, line: e.line + offset });
  }

  build(): { text: string; sourceMap: SourceMap } {
    const lines = [...this.lines];
    while (lines.length > 1 && lines[lines.length - 1] === '') lines.pop();
    return { text: lines.join('\n'), sourceMap: { entries: [...this.entries] } };
  }

  private get current(): string {
    return this.lines[this.lines.length - 1]!;
  }

  private set current(v: string) {
    this.lines[this.lines.length - 1] = v;
  }
}

/** The user span of the narrowest emitted fragment covering bpftrace's line:col range. */
export function mapPosition(map: SourceMap, line: number, colStart: number, colEnd: number): Span | undefined {
  let best: SourceMapEntry | undefined;
  for (const e of map.entries) {
    if (e.line !== line || e.colStart > colStart || e.colEnd < Math.max(colEnd, colStart + 1)) continue;
    if (!best || e.colEnd - e.colStart < best.colEnd - best.colStart) best = e;
  }
  if (best) return best.span;
  // No fragment covers the range: fall back to the nearest one starting on that line.
  for (const e of map.entries) if (e.line === line && (!best || Math.abs(e.colStart - colStart) < Math.abs(best.colStart - colStart))) best = e;
  return best?.span;
}

/** A string literal in bpftrace syntax. */
export function bpfString(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\r') out += '\\r';
    else if (c < 0x20 || c === 0x7f) out += `\\${c.toString(8).padStart(3, '0')}`;
    else out += ch;
  }
  return out + '"';
}

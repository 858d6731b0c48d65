// The fenced code blocks of docs/*.md, with the `<!-- test: ... -->` marker before each
// (the convention is described at the top of docs/README.md).

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Block {
  /** docs/NAME.md */
  readonly file: string;
  /** 1-based line of the opening fence. */
  readonly line: number;
  /** The info string's first word: d, sh, text, json, expect, yaml, ... ('' when none). */
  readonly kind: string;
  readonly text: string;
  /** key=value pairs of the marker comment right before the fence. */
  readonly marker: Readonly<Record<string, string>>;
  /** key=value pairs of the page's marker: a `<!-- test: ... -->` line at the top of the page. */
  readonly page: Readonly<Record<string, string>>;
}

const MARKER = /^<!--\s*test:(.*?)-->\s*$/;

/** `skip="needs an SSH host" exit=2 args="-c checkout"` -> { skip: ..., exit: '2', args: ... } */
export function parseMarker(body: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /([a-z-]+)(?:=(?:"((?:[^"\\]|\\.)*)"|(\S+)))?/g;
  for (const m of body.matchAll(re)) out[m[1]!] = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : (m[3] ?? '');
  return out;
}

/** The page's marker: its first non-blank line, when that is a `<!-- test: ... -->` comment. */
export function pageMarker(text: string): Record<string, string> {
  const first = text.split('\n').find((l) => l.trim() !== '');
  const m = first !== undefined ? MARKER.exec(first.trim()) : null;
  return m ? parseMarker(m[1]!) : {};
}

export function blocksOf(file: string, text: string): Block[] {
  const lines = text.split('\n');
  const page = pageMarker(text);
  const out: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(`{3,}|~{3,})\s*([^\s`]*)/.exec(lines[i]!);
    if (!open) continue;
    const [, indent, fence, info] = open as unknown as [string, string, string, string];
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length; j++) {
      const l = lines[j]!;
      if (l.trim().startsWith(fence[0]!.repeat(fence.length)) && l.trim().replace(/[`~]/g, '') === '') break;
      body.push(l.startsWith(indent) ? l.slice(indent.length) : l);
    }
    // The marker: the nearest non-blank line above the fence.
    let k = i - 1;
    while (k >= 0 && lines[k]!.trim() === '') k--;
    const m = k >= 0 ? MARKER.exec(lines[k]!.trim()) : null;
    out.push({ file, line: i + 1, kind: info, text: body.join('\n') + '\n', marker: m ? parseMarker(m[1]!) : {}, page });
    i = j;
  }
  return out;
}

export function docsBlocks(docsDir: string): Block[] {
  return readdirSync(docsDir)
    .filter((f) => f.endsWith('.md'))
    .sort()
    .flatMap((f) => blocksOf(`docs/${f}`, readFileSync(join(docsDir, f), 'utf8')));
}

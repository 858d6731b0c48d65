// Map keys as bpftrace prints them in JSON: one string per entry, with the parts of a
// multi-part key joined by ',' ("x,3"), stacks as "\n    frame+off\n    frame+off\n", and
// two version quirks handled here:
//  - non-ASCII bytes come out sign-extended, as `\uffffffc3` (both 0.17 and 0.23);
//  - 0.23 escapes string keys twice: a key `a"b` arrives as the JSON text "a\\\"b".

export type Key = string | number;
export type KeyKind = 'int' | 'string' | 'stack';

const SIGN_EXTENDED = /^\\u[fF]{6}([0-9a-fA-F]{2})/;

/**
 * Rewrites bpftrace's sign-extended byte escapes (`\uffffffXX`, one per UTF-8 byte) inside
 * JSON text into proper `\uXXXX` escapes of the decoded characters. Other escapes, including
 * an escaped backslash followed by `uffffff...`, are left alone.
 */
export function fixByteEscapes(json: string): string {
  if (!/\\u[fF]{6}/.test(json)) return json;
  let out = '';
  let bytes: number[] = [];
  const flush = () => {
    if (bytes.length === 0) return;
    const text = new TextDecoder('utf-8').decode(Uint8Array.from(bytes));
    for (let i = 0; i < text.length; i++) out += '\\u' + text.charCodeAt(i).toString(16).padStart(4, '0');
    bytes = [];
  };
  let i = 0;
  while (i < json.length) {
    if (json[i] === '\\') {
      const m = SIGN_EXTENDED.exec(json.slice(i, i + 10));
      if (m) {
        bytes.push(parseInt(m[1]!, 16));
        i += 10;
        continue;
      }
      flush();
      out += json.slice(i, i + 2);
      i += 2;
      continue;
    }
    flush();
    out += json[i];
    i++;
  }
  flush();
  return out;
}

/** Undoes 0.23's second level of escaping of a key; returns the key as is when that fails. */
export function unescapeKey(key: string): string {
  if (!key.includes('\\')) return key;
  try {
    const v: unknown = JSON.parse('"' + fixByteEscapes(key) + '"');
    return typeof v === 'string' ? v : key;
  } catch {
    return key;
  }
}

/** A stack key as frames joined by '\n', without bpftrace's indentation and blank ends. */
export function normalizeStack(raw: string): string {
  return raw
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .join('\n');
}

const INT = /^-?\d+$/;

function toInt(tok: string): Key {
  if (!INT.test(tok)) return tok;
  const n = Number(tok);
  // Beyond 2^53 a number would silently change; keep the digits instead.
  return Number.isSafeInteger(n) ? n : tok;
}

function convert(tok: string, kind: KeyKind): Key {
  if (kind === 'int') return toInt(tok);
  if (kind === 'stack') return normalizeStack(tok);
  return tok;
}

/**
 * Splits a joined key into its parts. With `kinds` known, integer parts take one
 * comma-separated token and string parts absorb the commas they contain (with several string
 * parts the split is ambiguous; the later parts get the extra commas). Without `kinds`: all
 * integers are split, anything else stays one string.
 */
export function splitKey(raw: string, kinds?: readonly KeyKind[]): Key[] {
  if (kinds === undefined) {
    const toks = raw.split(',');
    if (toks.every((t) => INT.test(t))) return toks.map(toInt);
    return [raw.startsWith('\n') ? normalizeStack(raw) : raw];
  }
  if (kinds.length === 0) return [raw];
  if (kinds.length === 1) return [convert(raw, kinds[0]!)];
  const toks = raw.split(',');
  const parts = assign(toks, kinds, true) ?? assign(toks, kinds, false);
  if (parts === null) return [raw];
  return parts.map((p, i) => convert(p, kinds[i]!));
}

/** Groups tokens into one part per kind; `strict` requires ints to look like ints and stacks to start on a newline. */
function assign(toks: readonly string[], kinds: readonly KeyKind[], strict: boolean): string[] | null {
  const out: string[] = [];
  const go = (t: number, k: number): boolean => {
    if (k === kinds.length) return t === toks.length;
    const kind = kinds[k]!;
    const left = kinds.length - k - 1;
    if (kind === 'int') {
      const tok = toks[t];
      if (tok === undefined || (strict && !INT.test(tok))) return false;
      out.push(tok);
      if (go(t + 1, k + 1)) return true;
      out.pop();
      return false;
    }
    // Fewest tokens first: extra commas end up in the later string parts.
    for (let n = 1; t + n <= toks.length - left; n++) {
      const part = toks.slice(t, t + n).join(',');
      if (strict && kind === 'stack' && part !== '' && !part.startsWith('\n')) continue;
      out.push(part);
      if (go(t + n, k + 1)) return true;
      out.pop();
    }
    return false;
  };
  return go(0, 0) ? out : null;
}

/** A stable identity for a key tuple, for joining maps and merging rows. */
export function keyId(keys: readonly Key[]): string {
  return JSON.stringify(keys);
}

/** DTrace's order for keys: numbers numerically, strings by code unit. */
export function compareKeys(a: readonly Key[], b: readonly Key[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i];
    const y = b[i];
    if (x === y) continue;
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    if (typeof x === 'number' && typeof y === 'number') return x - y;
    const sx = String(x);
    const sy = String(y);
    if (sx !== sy) return sx < sy ? -1 : 1;
  }
  return 0;
}

// known_hosts checking for the SSH transport, as OpenSSH does it: plain entries with
// comma-separated patterns (`*`, `?`, `!negation`), hashed `|1|salt|hmac` entries,
// `[host]:port` names for ports other than 22, `@revoked` keys. Certificates
// (`@cert-authority`) are not supported by ssh2, so those lines are skipped.

import { createHash, createHmac } from 'node:crypto';
import { appendFileSync, closeSync, mkdirSync, openSync, readFileSync, readSync, fstatSync } from 'node:fs';
import { dirname } from 'node:path';

export interface KnownHostEntry {
  readonly file: string;
  /** 1-based line number, for messages. */
  readonly line: number;
  readonly marker: 'revoked' | null;
  /** The host field as written: patterns or a hashed name. */
  readonly hosts: string;
  readonly keyType: string;
  readonly key: Buffer;
}

export type HostKeyCheck =
  | { status: 'known'; entry: KnownHostEntry }
  /** No key of this type for this host; `otherTypes` are the types that are known. */
  | { status: 'unknown'; otherTypes: string[] }
  /** A key of the same type is recorded for this host, and it is a different one. */
  | { status: 'changed'; entry: KnownHostEntry }
  | { status: 'revoked'; entry: KnownHostEntry };

/** The name a host is recorded under: `host` on port 22, `[host]:port` otherwise. */
export function knownHostName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/** `SHA256:...` (base64 without padding), as `ssh-keygen -l` prints it. */
export function fingerprintSha256(keyBlob: Buffer): string {
  return `SHA256:${createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '')}`;
}

/** The key type named inside an SSH public key blob (its first string), or '' if malformed. */
export function keyTypeOfBlob(blob: Buffer): string {
  if (blob.length < 4) return '';
  const n = blob.readUInt32BE(0);
  if (n <= 0 || n > 64 || 4 + n > blob.length) return '';
  return blob.subarray(4, 4 + n).toString('latin1');
}

/** OpenSSH's wildcard match: `*` any run, `?` one character; case-insensitive for host names. */
export function wildcardMatch(pattern: string, text: string): boolean {
  const p = pattern.toLowerCase();
  const t = text.toLowerCase();
  // Iterative glob with backtracking to the last `*`: linear enough for host names.
  let pi = 0;
  let ti = 0;
  let star = -1;
  let mark = 0;
  while (ti < t.length) {
    if (pi < p.length && (p[pi] === '?' || p[pi] === t[ti])) {
      pi++;
      ti++;
    } else if (pi < p.length && p[pi] === '*') {
      star = pi++;
      mark = ti;
    } else if (star >= 0) {
      pi = star + 1;
      ti = ++mark;
    } else {
      return false;
    }
  }
  while (pi < p.length && p[pi] === '*') pi++;
  return pi === p.length;
}

/**
 * A comma-separated pattern list (`a,b*,!c`) against a name: true when some positive
 * pattern matches and no negated one does.
 */
export function patternListMatches(list: string, name: string): boolean {
  let positive = false;
  for (const raw of list.split(',')) {
    const pat = raw.trim();
    if (!pat) continue;
    if (pat.startsWith('!')) {
      if (wildcardMatch(pat.slice(1), name)) return false;
    } else if (wildcardMatch(pat, name)) {
      positive = true;
    }
  }
  return positive;
}

/** Whether a known_hosts host field (plain patterns or `|1|salt|hash`) names `name`. */
export function hostFieldMatches(field: string, name: string): boolean {
  if (field.startsWith('|1|')) {
    const [, , salt, hash] = field.split('|');
    if (!salt || !hash) return false;
    const mac = createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64');
    return mac === hash;
  }
  return patternListMatches(field, name);
}

/** Parses one known_hosts file; a missing or unreadable file has no entries. */
export function readKnownHosts(file: string): KnownHostEntry[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  const out: KnownHostEntry[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const fields = (lines[i] ?? '').trim().split(/\s+/);
    if (!fields[0] || fields[0].startsWith('#')) continue;
    let marker: 'revoked' | null = null;
    if (fields[0].startsWith('@')) {
      if (fields[0] === '@revoked') marker = 'revoked';
      else continue; // @cert-authority, or an unknown marker
      fields.shift();
    }
    const [hosts, keyType, b64] = fields;
    if (!hosts || !keyType || !b64) continue;
    const key = Buffer.from(b64, 'base64');
    if (key.length === 0) continue;
    out.push({ file, line: i + 1, marker, hosts, keyType, key });
  }
  return out;
}

/** Checks a presented host key against every file (all are read; order decides nothing but messages). */
export function checkHostKey(files: readonly string[], name: string, keyBlob: Buffer): HostKeyCheck {
  const type = keyTypeOfBlob(keyBlob);
  const entries = files.flatMap(readKnownHosts);
  // A revoked key is refused whichever host it is presented for.
  const revoked = entries.find((e) => e.marker === 'revoked' && e.key.equals(keyBlob));
  if (revoked) return { status: 'revoked', entry: revoked };
  const mine = entries.filter((e) => e.marker === null && hostFieldMatches(e.hosts, name));
  const same = mine.find((e) => e.key.equals(keyBlob));
  if (same) return { status: 'known', entry: same };
  const changed = mine.find((e) => e.keyType === type);
  if (changed) return { status: 'changed', entry: changed };
  return { status: 'unknown', otherTypes: [...new Set(mine.map((e) => e.keyType))] };
}

/** Key types recorded for a host, to ask the server for those first (as OpenSSH does). */
export function knownKeyTypes(files: readonly string[], name: string): string[] {
  const types = files
    .flatMap(readKnownHosts)
    .filter((e) => e.marker === null && hostFieldMatches(e.hosts, name))
    .map((e) => e.keyType);
  return [...new Set(types)];
}

/** Appends `name type base64` to a known_hosts file, creating it (and its directory, 0700) if needed. */
export function appendKnownHost(file: string, name: string, keyBlob: Buffer): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  let needsNewline = false;
  try {
    const fd = openSync(file, 'r');
    try {
      const size = fstatSync(fd).size;
      if (size > 0) {
        const last = Buffer.alloc(1);
        readSync(fd, last, 0, 1, size - 1);
        needsNewline = last[0] !== 0x0a;
      }
    } finally {
      closeSync(fd);
    }
  } catch {
    // A new file.
  }
  const line = `${needsNewline ? '\n' : ''}${name} ${keyTypeOfBlob(keyBlob)} ${keyBlob.toString('base64')}\n`;
  appendFileSync(file, line, { mode: 0o600 });
}

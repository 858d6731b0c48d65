// --host specs and a small ~/.ssh/config reader: the parts of OpenSSH's configuration a
// helper connection needs (HostName, User, Port, IdentityFile, UserKnownHostsFile,
// ConnectTimeout, StrictHostKeyChecking). As in OpenSSH, options are read from `Host`
// blocks whose patterns match the name the user typed, and the first value found wins
// (IdentityFile accumulates). `Match` blocks are not evaluated: their options are ignored.

import { readFileSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { patternListMatches } from './known-hosts.js';

export interface HostSpec {
  /** What the user typed. */
  readonly raw: string;
  readonly user?: string;
  /** Host name, address (IPv6 without brackets) or ssh config alias. */
  readonly host: string;
  readonly port?: number;
}

const USER_RE = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;
const HOST_RE = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;
const IPV6_RE = /^[0-9A-Fa-f:.]+(%[A-Za-z0-9_.-]+)?$/;
const FORMAT = 'use user@host[:port], [ipv6]:port, or an ssh config alias';

/**
 * Parses `user@host[:port]`, `user@[v6addr]:port` or a bare ssh config alias. Refuses, with
 * one sentence, anything with whitespace, control or shell characters, or a leading '-'
 * (it could be read as an option by a tool), before anything is looked up.
 */
export function parseHostSpec(spec: string): { ok: true; spec: HostSpec } | { ok: false; message: string } {
  const shown = JSON.stringify(spec);
  if (spec.length === 0) return { ok: false, message: `empty host: ${FORMAT}` };
  if (spec.length > 300) return { ok: false, message: `host ${shown.slice(0, 40)}... is too long` };
  if (/[\s\x00-\x1f\x7f]/.test(spec)) return { ok: false, message: `bad host ${shown}: it contains whitespace or control characters; ${FORMAT}` };
  if (spec.startsWith('-')) return { ok: false, message: `bad host ${shown}: a host cannot start with '-'; ${FORMAT}` };
  if (/[;&|`$(){}<>'"\\*?!#~^,=]/.test(spec)) return { ok: false, message: `bad host ${shown}: it contains shell characters; ${FORMAT}` };

  let rest = spec;
  let user: string | undefined;
  const at = rest.lastIndexOf('@');
  if (at >= 0) {
    user = rest.slice(0, at);
    rest = rest.slice(at + 1);
    if (!USER_RE.test(user)) return { ok: false, message: `bad user name in host ${shown}; ${FORMAT}` };
  }
  let host: string;
  let portText: string | undefined;
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close < 0) return { ok: false, message: `bad host ${shown}: missing ']'; ${FORMAT}` };
    host = rest.slice(1, close);
    const after = rest.slice(close + 1);
    if (after !== '') {
      if (!after.startsWith(':')) return { ok: false, message: `bad host ${shown}: expected ':port' after ']'; ${FORMAT}` };
      portText = after.slice(1);
    }
    if (!IPV6_RE.test(host) && !HOST_RE.test(host)) return { ok: false, message: `bad address in host ${shown}; ${FORMAT}` };
  } else if ((rest.match(/:/g) ?? []).length >= 2) {
    // An IPv6 address without brackets, hence without a port.
    host = rest;
    if (!IPV6_RE.test(host)) return { ok: false, message: `bad address in host ${shown}; ${FORMAT}` };
  } else {
    const colon = rest.indexOf(':');
    host = colon >= 0 ? rest.slice(0, colon) : rest;
    if (colon >= 0) portText = rest.slice(colon + 1);
    if (!HOST_RE.test(host)) return { ok: false, message: `bad host ${shown}; ${FORMAT}` };
  }
  let port: number | undefined;
  if (portText !== undefined) {
    port = /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
    if (!(port >= 1 && port <= 65535)) return { ok: false, message: `bad port in host ${shown}: give a number from 1 to 65535` };
  }
  return { ok: true, spec: { raw: spec, host, ...(user !== undefined ? { user } : {}), ...(port !== undefined ? { port } : {}) } };
}

// --- ~/.ssh/config ---------------------------------------------------------------------

interface Block {
  /** `Host` pattern list (space-separated in the file, joined with commas here); null for a Match block. */
  readonly patterns: string | null;
  readonly options: [key: string, value: string][];
}

export interface SshConfig {
  readonly file: string;
  readonly blocks: readonly Block[];
}

export type StrictHostKeyChecking = 'yes' | 'no' | 'ask' | 'accept-new';

/** What the config says for one host; absent fields were not set. */
export interface HostConfig {
  hostName?: string;
  user?: string;
  port?: number;
  identityFiles: string[];
  userKnownHostsFiles?: string[];
  connectTimeoutMs?: number;
  strictHostKeyChecking?: StrictHostKeyChecking;
}

/** Splits a config line's arguments, honouring double quotes. */
function splitArgs(text: string): string[] {
  const out: string[] = [];
  const re = /"([^"]*)"|(\S+)/g;
  for (let m = re.exec(text); m; m = re.exec(text)) out.push(m[1] ?? m[2] ?? '');
  return out;
}

/** Parses config text. Unknown keywords are kept (and ignored by lookups), as OpenSSH ignores none but we need few. */
export function parseSshConfig(text: string, file = '(config)'): SshConfig {
  const blocks: Block[] = [{ patterns: '*', options: [] }];
  for (const rawLine of text.split('\n')) {
    const line = rawLine.trim();
    if (!line || line.startsWith('#')) continue;
    // `Key value`, `Key=value` or `Key = value`.
    const m = /^([A-Za-z][A-Za-z0-9]*)\s*(?:=\s*|\s+)(.*)$/.exec(line);
    if (!m) continue;
    const key = (m[1] ?? '').toLowerCase();
    const value = (m[2] ?? '').trim();
    if (key === 'host') {
      blocks.push({ patterns: splitArgs(value).join(','), options: [] });
    } else if (key === 'match') {
      blocks.push({ patterns: null, options: [] });
    } else {
      blocks[blocks.length - 1]?.options.push([key, value]);
    }
  }
  return { file, blocks };
}

/** Reads an ssh config file; a missing file is an empty config. */
export function readSshConfig(path: string): SshConfig {
  let text = '';
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    // missing or unreadable: no options
  }
  return parseSshConfig(text, path);
}

/** `~/...` and the tokens %d (home), %u (local user), %h (host), %r (remote user), %p (port), %%. */
export function expandPath(p: string, ctx: { home?: string; host?: string; user?: string; port?: number } = {}): string {
  const home = ctx.home ?? homedir();
  let s = p;
  if (s === '~') s = home;
  else if (s.startsWith('~/')) s = join(home, s.slice(2));
  s = s.replace(/%([%duhrp])/g, (_, c: string) => {
    switch (c) {
      case '%':
        return '%';
      case 'd':
        return home;
      case 'u':
        return safeUser();
      case 'h':
        return ctx.host ?? '%h';
      case 'r':
        return ctx.user ?? '%r';
      case 'p':
        return String(ctx.port ?? 22);
      default:
        return c;
    }
  });
  // Relative identity files are relative to ~/.ssh in OpenSSH.
  return isAbsolute(s) ? s : join(home, '.ssh', s);
}

function safeUser(): string {
  try {
    return userInfo().username;
  } catch {
    return process.env.USER ?? 'root';
  }
}

/** The options that apply to `alias` (the host as typed): first value wins, IdentityFile accumulates. */
export function lookupHost(config: SshConfig, alias: string): HostConfig {
  const out: HostConfig = { identityFiles: [] };
  const seen = new Set<string>();
  for (const b of config.blocks) {
    if (b.patterns === null || !patternListMatches(b.patterns, alias)) continue;
    for (const [key, value] of b.options) {
      if (key === 'identityfile') {
        out.identityFiles.push(value.replace(/^"|"$/g, ''));
        continue;
      }
      if (seen.has(key)) continue;
      seen.add(key);
      const first = splitArgs(value)[0] ?? '';
      switch (key) {
        case 'hostname':
          out.hostName = first;
          break;
        case 'user':
          out.user = first;
          break;
        case 'port': {
          const n = Number(first);
          if (Number.isInteger(n) && n >= 1 && n <= 65535) out.port = n;
          break;
        }
        case 'userknownhostsfile':
          out.userKnownHostsFiles = splitArgs(value);
          break;
        case 'connecttimeout': {
          const n = Number(first);
          if (Number.isFinite(n) && n > 0) out.connectTimeoutMs = Math.round(n * 1000);
          break;
        }
        case 'stricthostkeychecking': {
          const v = first.toLowerCase();
          if (v === 'yes' || v === 'ask' || v === 'accept-new') out.strictHostKeyChecking = v;
          else if (v === 'no' || v === 'off') out.strictHostKeyChecking = 'no';
          break;
        }
        default:
          break;
      }
    }
  }
  // Tokens in HostName (%h: the alias) are expanded as OpenSSH does.
  if (out.hostName) out.hostName = out.hostName.replace(/%h/g, alias).replace(/%%/g, '%');
  return out;
}

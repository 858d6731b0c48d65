// --host specs and a ~/.ssh/config reader: the parts of OpenSSH's configuration a helper
// connection needs (HostName, User, Port, IdentityFile, UserKnownHostsFile, ConnectTimeout,
// StrictHostKeyChecking, ProxyJump), evaluated as ssh_config(5) says: lines in order, each
// `Host` or `Match` line deciding whether the lines after it apply, the first value obtained
// winning (IdentityFile accumulates), `Include` read in place (globs, relative to ~/.ssh,
// conditional inside a block), and a final pass when a `Match final` asked for one.
// Nothing from the file is ever run: `Match exec` and `ProxyCommand` are refused.

import { existsSync, readdirSync, readFileSync, realpathSync } from 'node:fs';
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
  /** ProxyJump's hosts, first hop first; empty when unset or `none`. */
  proxyJump: HostSpec[];
}

/** What ssh knows before it reads the config: the host as typed, and what the command line gave. */
export interface ConfigQuery {
  readonly host: string;
  /** From user@host: wins over the config's User, as on ssh's command line. */
  readonly user?: string;
  /** From host:port: wins over the config's Port. */
  readonly port?: number;
  readonly home: string;
  /** For `Match localuser`, and `user` when nothing set one. */
  readonly localUser: string;
}

export type ConfigResult = { ok: true; config: HostConfig } | { ok: false; message: string };

/** OpenSSH's limit on nested Include (READCONF_MAX_DEPTH). */
const MAX_INCLUDE_DEPTH = 16;

interface EvalState {
  readonly q: ConfigQuery;
  readonly out: HostConfig;
  /** Options already obtained: later values are ignored. */
  readonly obtained: Set<string>;
  /** The second pass, asked for by `Match final`. */
  final: boolean;
  wantFinal: boolean;
}

/** Splits a config line's arguments: double quotes group, an unquoted `#` word ends the line. */
function splitArgs(text: string): string[] {
  const out: string[] = [];
  const re = /"([^"]*)"|(\S+)/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    if (m[2]?.startsWith('#')) break;
    out.push(m[1] ?? m[2] ?? '');
  }
  return out;
}

function tildeOf(p: string, home: string): string {
  return home && home !== '/' && p.startsWith(home + '/') ? `~${p.slice(home.length)}` : p;
}

/** The host Match host (and, in the final pass, Host) compares: HostName so far, %h expanded, else the typed host. */
function currentHost(st: EvalState): string {
  return st.out.hostName ? expandHostName(st.out.hostName, st.q.host) : st.q.host;
}

function expandHostName(hostName: string, typed: string): string {
  return hostName.replace(/%([%h])/g, (_, c: string) => (c === 'h' ? typed : '%'));
}

/**
 * The options that apply to a host, read from `file` (null or missing: none) as ssh does.
 * A malformed line anywhere (also in blocks that do not apply), an Include loop, or a
 * construct trace refuses to follow is one sentence naming file:line.
 */
export function hostConfig(file: string | null, q: ConfigQuery): ConfigResult {
  const out: HostConfig = { identityFiles: [], proxyJump: [], ...(q.user !== undefined ? { user: q.user } : {}), ...(q.port !== undefined ? { port: q.port } : {}) };
  const st: EvalState = { q, out, obtained: new Set([...(q.user !== undefined ? ['user'] : []), ...(q.port !== undefined ? ['port'] : [])]), final: false, wantFinal: false };
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      text = ''; // missing or unreadable: no options, as ssh does with a user config
    }
    let err = evalText(text, file, st, { active: true }, false, [safeRealpath(file)]);
    if (!err && st.wantFinal) {
      st.final = true;
      err = evalText(text, file, st, { active: true }, false, [safeRealpath(file)]);
    }
    if (err) return { ok: false, message: err };
  }
  if (out.hostName) out.hostName = expandHostName(out.hostName, q.host);
  return { ok: true, config: out };
}

function safeRealpath(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return p;
  }
}

/**
 * Evaluates one file's lines. `ctx.active`: whether the current block applies (Host and
 * Match lines set it; an Include starts with its includer's and leaves it as it was).
 * `never`: inside an Include of a block that does not apply, nothing applies.
 */
function evalText(text: string, file: string, st: EvalState, ctx: { active: boolean }, never: boolean, stack: string[]): string | null {
  const home = st.q.home;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] ?? '').trim();
    if (!line || line.startsWith('#')) continue;
    const where = `${tildeOf(file, home)}:${i + 1}`;
    // `Key value`, `Key=value` or `Key = value`.
    const m = /^([A-Za-z][A-Za-z0-9]*)\s*(?:=\s*|\s+|$)(.*)$/.exec(line);
    if (!m) return `${where}: cannot read this line (expected a keyword and its value)`;
    const key = (m[1] ?? '').toLowerCase();
    const args = splitArgs(m[2] ?? '');
    if (key === 'host') {
      if (args.length === 0) return `${where}: Host needs at least one pattern`;
      ctx.active = !never && patternListMatches(args.join(','), st.final ? currentHost(st) : st.q.host);
      continue;
    }
    if (key === 'match') {
      const r = evalMatch(args, st, where, !never);
      if (typeof r === 'string') return r;
      ctx.active = !never && r;
      continue;
    }
    if (key === 'include') {
      if (args.length === 0) return `${where}: Include needs a file name`;
      if (stack.length > MAX_INCLUDE_DEPTH) return `${where}: Include nested more than ${MAX_INCLUDE_DEPTH} deep`;
      const outer = ctx.active;
      for (const arg of args) {
        const path = arg === '~' || arg.startsWith('~/') ? join(home, arg.slice(1)) : isAbsolute(arg) ? arg : join(home, '.ssh', arg);
        for (const f of glob(path)) {
          const real = safeRealpath(f);
          if (stack.includes(real)) {
            const chain = [...stack.slice(stack.indexOf(real)), real].map((p) => tildeOf(p, home)).join(' -> ');
            return `${where}: Include loop: ${chain}`;
          }
          let inner: string;
          try {
            inner = readFileSync(f, 'utf8');
          } catch (e) {
            return `${where}: cannot read the included file ${tildeOf(f, home)} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`;
          }
          const err = evalText(inner, f, st, ctx, never || !outer, [...stack, real]);
          if (err) return err;
          // A Host or Match in the included file does not change the including file's block.
          ctx.active = outer;
        }
      }
      continue;
    }
    const err = option(key, args, where, st, ctx.active);
    if (err) return err;
  }
  return null;
}

const MATCH_UNSUPPORTED = new Set(['localnetwork', 'tagged', 'version', 'sessiontype', 'command']);
const MATCH_WITH_ARG = new Set(['host', 'originalhost', 'user', 'localuser', 'exec', ...MATCH_UNSUPPORTED]);

/**
 * A Match line's criteria, all of which must hold (`!` negates one). `final` and
 * `canonical` hold only in the final pass, which `final` asks for. A criterion trace cannot
 * evaluate is refused when the line's outcome depends on it (as ssh skips `exec` once an
 * earlier criterion failed).
 */
function evalMatch(args: string[], st: EvalState, where: string, evaluate: boolean): boolean | string {
  if (args.length === 0) return `${where}: Match needs criteria (host, originalhost, user, localuser, all, final)`;
  let result = true;
  for (let i = 0; i < args.length; ) {
    const word = args[i++] ?? '';
    const negate = word.startsWith('!');
    const name = (negate ? word.slice(1) : word).toLowerCase();
    if (name === 'all') {
      // Alone, or right after canonical/final.
      const before = args.slice(0, i - 1).map((w) => w.toLowerCase().replace(/^!/, ''));
      if (i < args.length || before.some((w) => w !== 'canonical' && w !== 'final')) return `${where}: Match all cannot be combined with other criteria`;
      if (negate) result = false;
      continue;
    }
    if (name === 'canonical' || name === 'final') {
      if (name === 'final') st.wantFinal = true;
      if (st.final === negate) result = false;
      continue;
    }
    if (!MATCH_WITH_ARG.has(name)) return `${where}: unknown Match criterion ${JSON.stringify(word)} (trace understands host, originalhost, user, localuser, all, canonical, final)`;
    const arg = args[i++];
    if (arg === undefined || arg === '') return `${where}: Match ${name} needs a pattern`;
    if (!evaluate || !result) continue;
    let matched: boolean;
    switch (name) {
      case 'host':
        matched = patternListMatches(arg, currentHost(st));
        break;
      case 'originalhost':
        matched = patternListMatches(arg, st.q.host);
        break;
      case 'user':
        matched = patternListMatches(arg, st.out.user ?? st.q.localUser);
        break;
      case 'localuser':
        matched = patternListMatches(arg, st.q.localUser);
        break;
      case 'exec':
        return `${where}: Match exec is not supported: trace never runs commands from the ssh config`;
      default:
        return `${where}: Match ${name} is not supported by trace`;
    }
    if (matched === negate) result = false;
  }
  return result;
}

/** One option line: checked wherever it is, applied when its block applies and no value was obtained yet. */
function option(key: string, args: string[], where: string, st: EvalState, active: boolean): string | null {
  const first = args[0];
  const known = ['hostname', 'user', 'port', 'identityfile', 'userknownhostsfile', 'connecttimeout', 'stricthostkeychecking', 'proxyjump', 'proxycommand'];
  if (!known.includes(key)) return null; // options a helper connection does not use
  if (first === undefined || first === '') return `${where}: ${key} needs a value`;
  let value: unknown = first;
  switch (key) {
    case 'port': {
      const n = /^\d{1,5}$/.test(first) ? Number(first) : NaN;
      if (!(n >= 1 && n <= 65535)) return `${where}: bad Port ${JSON.stringify(first)}: give a number from 1 to 65535`;
      value = n;
      break;
    }
    case 'connecttimeout': {
      const n = Number(first);
      if (!(Number.isFinite(n) && n > 0)) return `${where}: bad ConnectTimeout ${JSON.stringify(first)}: give seconds`;
      value = Math.round(n * 1000);
      break;
    }
    case 'stricthostkeychecking': {
      const v = first.toLowerCase();
      const map: Record<string, StrictHostKeyChecking> = { yes: 'yes', true: 'yes', ask: 'ask', 'accept-new': 'accept-new', no: 'no', off: 'no', false: 'no' };
      if (!map[v]) return `${where}: bad StrictHostKeyChecking ${JSON.stringify(first)}: use yes, accept-new, no or ask`;
      value = map[v];
      break;
    }
    case 'proxyjump': {
      const jumps = parseProxyJump(first);
      if (!jumps.ok) return `${where}: bad ProxyJump ${JSON.stringify(first)}: ${jumps.message}`;
      value = jumps.hops;
      break;
    }
    default:
      break;
  }
  if (!active) return null;
  if (key === 'identityfile') {
    if (!st.out.identityFiles.includes(first)) st.out.identityFiles.push(first);
    return null;
  }
  // ProxyJump and ProxyCommand compete: whichever comes first decides.
  const slot = key === 'proxycommand' ? 'proxyjump' : key;
  if (st.obtained.has(slot)) return null;
  st.obtained.add(slot);
  switch (key) {
    case 'hostname':
      st.out.hostName = first;
      break;
    case 'user':
      st.out.user = first;
      break;
    case 'port':
      st.out.port = value as number;
      break;
    case 'userknownhostsfile':
      st.out.userKnownHostsFiles = args;
      break;
    case 'connecttimeout':
      st.out.connectTimeoutMs = value as number;
      break;
    case 'stricthostkeychecking':
      st.out.strictHostKeyChecking = value as StrictHostKeyChecking;
      break;
    case 'proxyjump':
      st.out.proxyJump = value as HostSpec[];
      break;
    case 'proxycommand':
      if (first.toLowerCase() !== 'none') return `${where}: ProxyCommand is not supported: trace never runs commands from the ssh config; use ProxyJump`;
      break;
  }
  return null;
}

/** `none`, or `[user@]host[:port]` and `ssh://[user@]host[:port]` hops separated by commas. */
export function parseProxyJump(text: string): { ok: true; hops: HostSpec[] } | { ok: false; message: string } {
  if (text.toLowerCase() === 'none') return { ok: true, hops: [] };
  const hops: HostSpec[] = [];
  for (const part of text.split(',')) {
    const hop = part.startsWith('ssh://') ? part.slice(6).replace(/\/$/, '') : part;
    if (hop === '') return { ok: false, message: 'an empty hop' };
    const p = parseHostSpec(hop);
    if (!p.ok) return { ok: false, message: `hop ${JSON.stringify(part)}: ${p.message.replace(/; use user@host.*$/, '')}` };
    hops.push(p.spec);
  }
  return { ok: true, hops };
}

/** glob(3) for Include: `*`, `?` and `[...]` within one path component, hidden names only by an explicit `.`, sorted. */
function glob(path: string): string[] {
  let found = ['/'];
  for (const part of path.split('/').filter(Boolean)) {
    const next: string[] = [];
    const magic = /[*?[]/.test(part);
    const re = magic ? globRegExp(part) : null;
    for (const dir of found) {
      if (!re) {
        next.push(join(dir, part));
        continue;
      }
      let names: string[];
      try {
        names = readdirSync(dir);
      } catch {
        continue;
      }
      for (const n of names) if (re.test(n) && (!n.startsWith('.') || part.startsWith('.'))) next.push(join(dir, n));
    }
    found = next;
  }
  return found.filter((f) => existsSync(f)).sort();
}

function globRegExp(part: string): RegExp {
  let re = '';
  for (let i = 0; i < part.length; i++) {
    const c = part[i] ?? '';
    if (c === '*') re += '.*';
    else if (c === '?') re += '.';
    else if (c === '[') {
      const close = part.indexOf(']', i + 2);
      if (close < 0) re += '\\[';
      else {
        let body = part.slice(i + 1, close);
        if (body.startsWith('!')) body = '^' + body.slice(1);
        re += `[${body.replace(/\\/g, '\\\\')}]`;
        i = close;
      }
    } else re += c.replace(/[.+^${}()|\\\]]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
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

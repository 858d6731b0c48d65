// The SSH transport: one ssh2 connection per host, one exec channel per helper. Only fixed
// argv crosses it (HELPER_COMMAND, or install's fixed scripts); user strings travel in
// the helper's JSON request on stdin. Host keys are checked against known_hosts here (ssh2
// leaves that to the caller): an unknown key is refused unless acceptNew, a changed one
// always. The connection is retried once when it could not be made (refused, reset,
// unreachable), never after a timeout, an authentication or a host-key failure. A host
// behind jump hosts (ProxyJump) is reached as ssh -J does: one connection per hop, each
// next one carried by a channel the previous hop forwards, each with its own host-key check
// (under the hop's own name) and its own authentication.

import { readFileSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import { join } from 'node:path';
import type { Duplex, Readable } from 'node:stream';
import ssh2 from 'ssh2';
import type { AnyAuthMethod, AuthenticationType, ClientChannel, ConnectConfig, NextAuthHandler } from 'ssh2';
import { HELPER_COMMAND, HELPER_SOCKET, type HelperProcess, type Transport } from './types.js';
import { appendKnownHost, checkHostKey, fingerprintSha256, keyTypeOfBlob, knownHostName, knownKeyTypes } from './known-hosts.js';
import { expandPath, hostConfig, parseHostSpec, type HostConfig, type HostSpec } from './ssh-config.js';

export { parseHostSpec, type HostSpec } from './ssh-config.js';

const { Client, utils } = ssh2;
type Client = InstanceType<typeof ssh2.Client>;

export interface SshOptions {
  /** known_hosts to check and (with acceptNew) append to; default ~/.ssh/known_hosts. The config's UserKnownHostsFile is checked too. */
  knownHostsFile?: string;
  /** Record an unknown host key instead of refusing it (a changed key is refused regardless). */
  acceptNew?: boolean;
  /** Per attempt, TCP connect through authentication; default the config's ConnectTimeout, else 10 s. */
  connectTimeoutMs?: number;
  /** Private keys to offer (as ssh -i), besides the config's IdentityFile; default ~/.ssh/id_ed25519, id_ecdsa, id_rsa. */
  identityFiles?: string[];
  /** ssh config to read; default ~/.ssh/config; null reads none. */
  sshConfigFile?: string | null;
  /** Environment: HOME, SSH_AUTH_SOCK (the agent, unless `agent` is given). Default process.env. */
  env?: NodeJS.ProcessEnv;
  /** ssh-agent socket; null: no agent. Default env.SSH_AUTH_SOCK. */
  agent?: string | null;
  /** Wait before the one retry of a failed connection; default 2 s. */
  retryDelayMs?: number;
  /** SSH keepalive interval; a dropped session is noticed after 3 unanswered ones. Default 5 s. */
  keepaliveMs?: number;
}

/** Where and how to connect, after the spec and the ssh config are combined. */
export interface SshTarget {
  /** What the user typed (--host). */
  readonly label: string;
  /** The host as shown in messages: the typed host, with :port unless 22. */
  readonly display: string;
  /** How messages name this hop: display, with its place on the way (`bastion (jump host for node1)`, `node1 (through bastion)`). */
  readonly shown: string;
  /** Address or name to connect to (the config's HostName, else the typed host). */
  readonly address: string;
  readonly port: number;
  readonly user: string;
  /** The name host keys are recorded under: address, or [address]:port. */
  readonly knownHostsName: string;
  readonly knownHostsFiles: readonly string[];
  /** Where an accepted new key is appended. */
  readonly appendKnownHostsFile: string;
  readonly identityFiles: readonly string[];
  readonly agent: string | null;
  readonly acceptNew: boolean;
  readonly connectTimeoutMs: number;
  /** The jump hosts (ProxyJump) to go through, first hop first; empty for a direct connection. */
  readonly jumps: readonly SshTarget[];
}

export interface SshConnection {
  readonly target: SshTarget;
  readonly client: Client;
  /** True once the connection has closed (by us, the server, or a network failure). */
  readonly closed: boolean;
  /** Resolves when the connection closes. */
  readonly done: Promise<void>;
  close(): void;
}

export type Result<T> = ({ ok: true } & T) | { ok: false; message: string };

const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_IDENTITIES = ['id_ed25519', 'id_ecdsa', 'id_rsa'];
// ssh2's default host key algorithms (Node 20 has ed25519); reordered per host below.
const HOST_KEY_ALGORITHMS = [
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'rsa-sha2-512',
  'rsa-sha2-256',
  'ssh-rsa',
] as const;
type HostKeyAlgorithm = (typeof HOST_KEY_ALGORITHMS)[number];

function localUser(env: NodeJS.ProcessEnv): string {
  try {
    return userInfo().username;
  } catch {
    return env.USER ?? env.LOGNAME ?? 'root';
  }
}

function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(1))} s`;
}

/** `~/x` for paths under home, for messages. */
function tilde(p: string, home: string): string {
  return home && home !== '/' && p.startsWith(home + '/') ? `~${p.slice(home.length)}` : p;
}

/** The most jump hosts on one way; more is taken for a loop. */
const MAX_JUMPS = 16;

/**
 * Combines a --host spec, the ssh config and the options into a connection target, with its
 * jump hosts. Contacts nothing: every failure is the command line's or the config's.
 */
export function resolveTarget(specText: string, o: SshOptions = {}): Result<{ target: SshTarget }> {
  const r = resolveHop(specText, o, undefined, []);
  if (!r.ok) return r;
  const t = r.target;
  if (t.jumps.length === 0) return r;
  // Each hop named by its place on the way, for messages.
  const jumps = t.jumps.map((j, i) => ({ ...j, shown: `${j.display} (jump host for ${t.display}${i > 0 ? `, through ${t.jumps[i - 1]?.display}` : ''})` }));
  return { ok: true, target: { ...t, jumps, shown: `${t.display} (through ${t.jumps[t.jumps.length - 1]?.display})` } };
}

/**
 * One hop. As ssh -J does, `ProxyJump a,b,c` on a host means: reach c through `-J a,b`
 * (c's own ProxyJump overridden), and a single hop through its own config's ProxyJump.
 */
function resolveHop(specText: string, o: SshOptions, forcedJumps: readonly HostSpec[] | undefined, chain: readonly string[]): Result<{ target: SshTarget }> {
  const parsed = parseHostSpec(specText);
  if (!parsed.ok) return parsed;
  const spec: HostSpec = parsed.spec;
  const env = o.env ?? process.env;
  const home = env.HOME || homedir();
  const configFile = o.sshConfigFile === undefined ? join(home, '.ssh', 'config') : o.sshConfigFile;
  const query = { host: spec.host, home, localUser: localUser(env), ...(spec.user !== undefined ? { user: spec.user } : {}), ...(spec.port !== undefined ? { port: spec.port } : {}) };
  const read = hostConfig(configFile, query);
  if (!read.ok) return read;
  const cfg: HostConfig = read.config;

  const address = cfg.hostName || spec.host;
  const port = cfg.port ?? 22;
  const user = cfg.user ?? localUser(env);
  if (!/^[A-Za-z0-9_][A-Za-z0-9._-]*$/.test(user)) return { ok: false, message: `bad user name ${JSON.stringify(user)} for host ${specText}` };
  if (!/^[A-Za-z0-9_.:%-]+$/.test(address) || address.startsWith('-')) {
    return { ok: false, message: `bad HostName ${JSON.stringify(address)} for ${spec.host} in ${configFile}` };
  }
  const ctx = { home, host: address, user, port };
  const defaultKnown = join(home, '.ssh', 'known_hosts');
  const appendFile = o.knownHostsFile ?? defaultKnown;
  const fromConfig = (cfg.userKnownHostsFiles ?? []).filter((f) => f.toLowerCase() !== 'none').map((f) => expandPath(f, ctx));
  const knownHostsFiles = [...new Set([appendFile, ...fromConfig])];

  const explicit = [...(o.identityFiles ?? []), ...cfg.identityFiles.map((f) => expandPath(f, ctx))];
  const identityFiles = explicit.length > 0 ? [...new Set(explicit)] : DEFAULT_IDENTITIES.map((n) => join(home, '.ssh', n));
  const agent = o.agent === undefined ? env.SSH_AUTH_SOCK || null : o.agent;
  const strict = cfg.strictHostKeyChecking;
  const display = port === 22 ? spec.host : spec.host.includes(':') ? `[${spec.host}]:${port}` : `${spec.host}:${port}`;

  const jumpSpecs = forcedJumps ?? cfg.proxyJump;
  let jumps: SshTarget[] = [];
  const last = jumpSpecs[jumpSpecs.length - 1];
  if (last) {
    const way = [...chain, spec.host];
    if (way.includes(last.host) || way.length > MAX_JUMPS) {
      return { ok: false, message: `ProxyJump loop: ${[...way, last.host].join(' -> ')} (a jump host cannot be reached through itself; exclude it from the Host pattern that sets ProxyJump, e.g. Host * !${last.host})` };
    }
    const via = resolveHop(last.raw, o, jumpSpecs.length > 1 ? jumpSpecs.slice(0, -1) : undefined, way);
    if (!via.ok) return via;
    jumps = [...via.target.jumps, via.target];
  }
  return {
    ok: true,
    target: {
      label: specText,
      display,
      shown: display,
      address,
      port,
      user,
      knownHostsName: knownHostName(address, port),
      knownHostsFiles,
      appendKnownHostsFile: appendFile,
      identityFiles,
      agent,
      acceptNew: o.acceptNew === true || strict === 'accept-new' || strict === 'no',
      connectTimeoutMs: o.connectTimeoutMs ?? cfg.connectTimeoutMs ?? DEFAULT_TIMEOUT_MS,
      jumps,
    },
  };
}

/** Host key algorithms with the types already recorded for this host first, as OpenSSH orders them. */
function hostKeyAlgorithms(target: SshTarget): HostKeyAlgorithm[] {
  const known = knownKeyTypes(target.knownHostsFiles, target.knownHostsName);
  const first: HostKeyAlgorithm[] = [];
  for (const t of known) {
    const algs: readonly string[] = t === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [t];
    for (const a of algs) if ((HOST_KEY_ALGORITHMS as readonly string[]).includes(a)) first.push(a as HostKeyAlgorithm);
  }
  return [...new Set([...first, ...HOST_KEY_ALGORITHMS])];
}

function keyName(type: string): string {
  if (type === 'ssh-ed25519') return 'ED25519';
  if (type.startsWith('ecdsa-')) return 'ECDSA';
  if (type === 'ssh-rsa') return 'RSA';
  return type;
}

type Attempt = Result<{ client: Client }> & { retry?: boolean };

/** One connection attempt: TCP (or `sock`, a channel forwarded by the previous hop), handshake, host key, authentication. */
function attempt(t: SshTarget, o: SshOptions, sock?: Duplex): Promise<Attempt> {
  const env = o.env ?? process.env;
  const home = env.HOME || homedir();
  return new Promise((resolve) => {
    const client = new Client();
    let settled = false;
    let hostKeyProblem: string | undefined;
    const tried: string[] = [];
    const skipped: string[] = [];
    const finish = (r: Attempt) => {
      if (settled) return;
      settled = true;
      if (!r.ok) client.end();
      resolve(r);
    };

    const hostVerifier = (key: Buffer): boolean => {
      const check = checkHostKey(t.knownHostsFiles, t.knownHostsName, key);
      const type = keyTypeOfBlob(key);
      const fp = `${keyName(type)} key ${fingerprintSha256(key)}`;
      switch (check.status) {
        case 'known':
          return true;
        case 'revoked':
          hostKeyProblem = `the host key of ${t.shown} (${fp}) is marked @revoked in ${tilde(check.entry.file, home)}:${check.entry.line}, so the connection was refused`;
          return false;
        case 'changed':
          hostKeyProblem =
            `WARNING: THE HOST KEY OF ${t.shown} HAS CHANGED: it sent ${fp}, but ${tilde(check.entry.file, home)}:${check.entry.line} ` +
            `records a different ${keyName(check.entry.keyType)} key; someone may be intercepting the connection, so it was refused ` +
            `(if the host was really reinstalled, remove the old key with: ssh-keygen -R '${t.knownHostsName}' -f ${tilde(check.entry.file, home)})`;
          return false;
        case 'unknown': {
          if (t.acceptNew) {
            try {
              appendKnownHost(t.appendKnownHostsFile, t.knownHostsName, key);
              return true;
            } catch (e) {
              hostKeyProblem = `cannot record the host key of ${t.shown} in ${tilde(t.appendKnownHostsFile, home)}: ${(e as Error).message}`;
              return false;
            }
          }
          const others = check.otherTypes.length ? ` (only ${check.otherTypes.map(keyName).join(', ')} keys are known for it)` : '';
          // Behind jump hosts, the scan has to run on the last one.
          const near = t.jumps[t.jumps.length - 1];
          const on = near ? `ssh ${t.jumps.length > 1 ? `-J ${t.jumps.slice(0, -1).map((j) => j.label).join(',')} ` : ''}${near.label} ` : '';
          const keyscan = `${on}ssh-keyscan${t.port === 22 ? '' : ` -p ${t.port}`} ${t.address} >> ${tilde(t.appendKnownHostsFile, home)}`;
          hostKeyProblem =
            `host key for ${t.shown} is not known${others}: it offered ${fp}; if that is right, rerun with --accept-new, ` +
            `or add it with: ${keyscan}`;
          return false;
        }
      }
    };

    // Agent first, then each key file that exists and can be read without a passphrase.
    const methods: { label: string; method: () => AnyAuthMethod | null }[] = [];
    if (t.agent) methods.push({ label: 'agent', method: () => ({ type: 'agent', username: t.user, agent: t.agent as string }) });
    for (const file of t.identityFiles) {
      methods.push({
        label: tilde(file, home),
        method: () => {
          let data: Buffer;
          try {
            data = readFileSync(file);
          } catch {
            return null; // missing: not tried, as OpenSSH
          }
          const key = utils.parseKey(data);
          if (key instanceof Error) {
            skipped.push(`${tilde(file, home)}: ${/passphrase/i.test(key.message) ? 'needs a passphrase' : 'not a private key'}`);
            return null;
          }
          return { type: 'publickey', username: t.user, key: Array.isArray(key) ? (key[0] as NonNullable<(typeof key)[0]>) : key };
        },
      });
    }
    let next = 0;
    const authHandler = (_left: AuthenticationType[], _partial: boolean, cb: NextAuthHandler) => {
      while (next < methods.length) {
        const m = methods[next++];
        const method = m?.method();
        if (m && method) {
          tried.push(m.label);
          return cb(method);
        }
      }
      return cb(false as unknown as AuthenticationType);
    };

    const config: ConnectConfig = {
      host: t.address,
      port: t.port,
      username: t.user,
      readyTimeout: t.connectTimeoutMs,
      keepaliveInterval: o.keepaliveMs ?? 5_000,
      keepaliveCountMax: 3,
      hostVerifier,
      authHandler,
      algorithms: { serverHostKey: hostKeyAlgorithms(t) },
      ...(sock ? { sock } : {}),
    };

    client.on('ready', () => finish({ ok: true, client }));
    client.on('error', (err: Error & { level?: string; code?: string }) => {
      if (hostKeyProblem) return finish({ ok: false, message: hostKeyProblem });
      const level = err.level ?? '';
      // ssh2 reports an unusable agent, then goes on with the next method.
      if (level === 'agent') {
        skipped.push(`agent: ${err.message}`);
        return;
      }
      if (level === 'client-timeout') {
        return finish({ ok: false, message: `cannot connect to ${t.shown}: timed out after ${seconds(t.connectTimeoutMs)}` });
      }
      if (level === 'client-authentication') {
        const what = tried.length ? `tried ${tried.join(', ')}` : `no key to offer: no agent and none of ${t.identityFiles.map((f) => tilde(f, home)).join(', ')}`;
        const skip = skipped.length ? `; skipped ${skipped.join(', ')}` : '';
        return finish({ ok: false, message: `authentication failed for ${t.user}@${t.shown} (${what}${skip})` });
      }
      if (level === 'client-socket' || level === 'client-dns') {
        const code = err.code ?? '';
        const why: Record<string, string> = {
          ECONNREFUSED: 'connection refused',
          ECONNRESET: 'connection reset',
          EHOSTUNREACH: 'host unreachable',
          ENETUNREACH: 'network unreachable',
          ENOTFOUND: 'unknown host name',
          EAI_AGAIN: 'host name lookup failed',
          ETIMEDOUT: `timed out after ${seconds(t.connectTimeoutMs)}`,
        };
        const retry = ['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN'].includes(code);
        return finish({ ok: false, retry, message: `cannot connect to ${t.shown}: ${why[code] ?? (err.message || code)}` });
      }
      // Handshake failures (no common algorithm, a malformed packet) and server disconnects.
      return finish({ ok: false, message: `cannot connect to ${t.shown}: SSH handshake failed (${err.message})` });
    });
    client.on('close', () => {
      if (hostKeyProblem) return finish({ ok: false, message: hostKeyProblem });
      finish({ ok: false, retry: true, message: `cannot connect to ${t.shown}: the server closed the connection` });
    });
    try {
      client.connect(config);
    } catch (e) {
      finish({ ok: false, message: `cannot connect to ${t.shown}: ${(e as Error).message}` });
    }
  });
}

/** An attempt, and one retry when the connection itself could not be made. `via` opens the carrying channel, anew for each. */
async function attemptTwice(t: SshTarget, o: SshOptions, via?: () => Promise<Result<{ stream: Duplex }> & { retry?: boolean }>): Promise<Attempt> {
  const once = async (): Promise<Attempt> => {
    if (!via) return attempt(t, o);
    const s = await via();
    return s.ok ? attempt(t, o, s.stream) : s;
  };
  let r = await once();
  if (!r.ok && r.retry) {
    await new Promise((res) => setTimeout(res, o.retryDelayMs ?? 2_000));
    r = await once();
  }
  return r;
}

/** A channel from `prev` (connected to `from`) to `to`'s address and port: what `ssh -W` asks a jump host for. */
function forwardTo(prev: Client, from: SshTarget, to: SshTarget): Promise<Result<{ stream: Duplex }> & { retry?: boolean }> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (r: Result<{ stream: Duplex }> & { retry?: boolean }) => {
      if (settled) {
        if (r.ok) r.stream.destroy(); // opened after we gave up
        return;
      }
      settled = true;
      clearTimeout(timer);
      resolve(r);
    };
    const timer = setTimeout(
      () => done({ ok: false, message: `cannot connect to ${to.shown}: ${from.display} did not reach ${to.address} port ${to.port} within ${seconds(to.connectTimeoutMs)}` }),
      to.connectTimeoutMs,
    );
    try {
      prev.forwardOut('127.0.0.1', 0, to.address, to.port, (err, channel) => {
        if (!err) return done({ ok: true, stream: channel });
        const reason = (err as Error & { reason?: number }).reason;
        if (reason === 1) {
          return done({ ok: false, message: `cannot connect to ${to.shown}: ${from.display} refused to forward the connection (administratively prohibited: its sshd may have AllowTcpForwarding off)` });
        }
        const why = err.message.replace(/^\(SSH\) Channel open failure: ?/, '') || 'no reason given';
        done({ ok: false, retry: reason === 2, message: `cannot connect to ${to.shown}: ${from.display} could not connect to ${to.address} port ${to.port} (${why})` });
      });
    } catch (e) {
      done({ ok: false, message: `cannot connect to ${to.shown}: the connection to ${from.display} is closed (${(e as Error).message})` });
    }
  });
}

/**
 * Through the jump hosts (ProxyJump), as ssh -J does: connects to the first, then each next
 * hop over a channel the previous one forwards. The last connection closing (by us, or
 * because a hop below it dropped) ends the jump connections.
 */
async function connectVia(target: SshTarget, o: SshOptions): Promise<Attempt> {
  const route = [...target.jumps, target];
  const clients: Client[] = [];
  for (let i = 0; i < route.length; i++) {
    const hop = route[i] as SshTarget;
    const prev = clients[i - 1];
    const from = route[i - 1];
    const r = await attemptTwice(hop, o, prev && from ? () => forwardTo(prev, from, hop) : undefined);
    if (!r.ok) {
      for (const c of clients.reverse()) c.end();
      return r;
    }
    // After ready, errors end in 'close' (see sshConnect).
    r.client.on('error', () => {});
    clients.push(r.client);
  }
  const client = clients[clients.length - 1] as Client;
  client.once('close', () => {
    for (const c of clients) c.end();
  });
  return { ok: true, client };
}

/** Connects (with one retry if the connection itself failed) and authenticates. */
export async function sshConnect(spec: string | SshTarget, o: SshOptions = {}): Promise<Result<{ conn: SshConnection }>> {
  let target: SshTarget;
  if (typeof spec === 'string') {
    const r = resolveTarget(spec, o);
    if (!r.ok) return r;
    target = r.target;
  } else {
    target = spec;
  }
  const r = target.jumps.length > 0 ? await connectVia(target, o) : await attemptTwice(target, o);
  if (!r.ok) return { ok: false, message: r.message };
  const client = r.client;
  let closed = false;
  const done = new Promise<void>((res) => {
    client.once('close', () => {
      closed = true;
      res();
    });
  });
  // After ready, errors (a keepalive timeout, a reset) end in 'close'; without a listener
  // an 'error' event would throw.
  client.on('error', () => {});
  return {
    ok: true,
    conn: {
      target,
      client,
      get closed() {
        return closed;
      },
      done,
      close: () => client.end(),
    },
  };
}

// --- exec -----------------------------------------------------------------------------

/** One POSIX shell word: the remote side runs an exec request through the login shell. */
export function shellQuote(arg: string): string {
  if (arg.includes('\0')) throw new Error('an argument cannot contain a NUL byte');
  if (/^[A-Za-z0-9_\/.,:=+@%-]+$/.test(arg) && !arg.startsWith('-')) return arg;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** The command line for an exec request, every argv element quoted. */
export function commandLine(argv: readonly string[]): string {
  if (argv.length === 0) throw new Error('empty command');
  return argv.map(shellQuote).join(' ');
}

export interface ExecOutput {
  readonly code: number | null;
  readonly signal: string | null;
  readonly stdout: Buffer;
  readonly stderr: Buffer;
}

function clientOf(conn: SshConnection | Client): Client {
  return conn instanceof Client ? conn : (conn as SshConnection).client;
}

function openExec(client: Client, command: string): Promise<Result<{ channel: ClientChannel }>> {
  return new Promise((resolve) => {
    try {
      client.exec(command, (err, channel) => {
        if (err) resolve({ ok: false, message: err.message });
        else resolve({ ok: true, channel });
      });
    } catch (e) {
      resolve({ ok: false, message: (e as Error).message });
    }
  });
}

/**
 * Runs argv on the remote host (each element single-quoted), with `stdin` (a buffer or a
 * stream) as its input, and collects its output (each stream up to maxOutput bytes).
 */
export async function sshExec(
  conn: SshConnection | Client,
  argv: readonly string[],
  stdin?: Buffer | Readable,
  opts: { timeoutMs?: number; maxOutput?: number } = {},
): Promise<Result<ExecOutput>> {
  let command: string;
  try {
    command = commandLine(argv);
  } catch (e) {
    return { ok: false, message: (e as Error).message };
  }
  const open = await openExec(clientOf(conn), command);
  if (!open.ok) return { ok: false, message: `cannot run ${argv[0]}: ${open.message}` };
  const ch = open.channel;
  const max = opts.maxOutput ?? 1 << 20;
  return new Promise((resolve) => {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outLen = 0;
    let errLen = 0;
    let code: number | null = null;
    let signal: string | null = null;
    let timedOut = false;
    const timer = opts.timeoutMs
      ? setTimeout(() => {
          timedOut = true;
          ch.close();
        }, opts.timeoutMs)
      : undefined;
    ch.on('data', (d: Buffer) => {
      if (outLen < max) out.push(d);
      outLen += d.length;
    });
    ch.stderr.on('data', (d: Buffer) => {
      if (errLen < max) err.push(d);
      errLen += d.length;
    });
    ch.on('exit', (c: number | null, s?: string) => {
      code = typeof c === 'number' ? c : null;
      signal = s ?? null;
    });
    ch.on('close', () => {
      clearTimeout(timer);
      if (timedOut) return resolve({ ok: false, message: `${argv[0]} did not finish within ${seconds(opts.timeoutMs ?? 0)}` });
      resolve({ ok: true, code, signal, stdout: Buffer.concat(out), stderr: Buffer.concat(err) });
    });
    // A remote that stops reading (it failed early) must not leave us writing forever.
    ch.on('error', () => {});
    if (stdin === undefined) ch.end();
    else if (Buffer.isBuffer(stdin)) ch.end(stdin);
    else stdin.pipe(ch);
  });
}

// --- the transport --------------------------------------------------------------------

function helperProcess(ch: ClientChannel): HelperProcess {
  let status: { code: number | null; signal: string | null } = { code: null, signal: null };
  ch.on('exit', (code: number | null, signal?: string) => {
    status = { code: typeof code === 'number' ? code : null, signal: signal ?? null };
  });
  // The consumer may stop reading or writing at any point; errors end in 'close'.
  ch.on('error', () => {});
  // The helper ended its output, so it has nothing more to read: our EOF lets the channel
  // close (a socket channel has no process exit to close it).
  ch.once('end', () => ch.end());
  const exited = new Promise<{ code: number | null; signal: string | null }>((res) => ch.once('close', () => res(status)));
  return {
    stdin: ch,
    stdout: ch,
    stderr: ch.stderr,
    exited,
    kill: () => {
      // Closing the channel closes the helper's stdin (and its pipes), which makes it stop bpftrace.
      try {
        ch.close();
      } catch {
        // already closed
      }
    },
  };
}

/**
 * A stream-forwarding channel to a unix socket on the host (OpenSSH's direct-streamlocal):
 * sshd connects it as the login user, and no shell or process is started for it.
 */
function openSocket(client: Client, path: string): Promise<Result<{ channel: ClientChannel }>> {
  return new Promise((resolve) => {
    try {
      client.openssh_forwardOutStreamLocal(path, (err, channel) => {
        if (err) resolve({ ok: false, message: err.message });
        else resolve({ ok: true, channel });
      });
    } catch (e) {
      resolve({ ok: false, message: (e as Error).message });
    }
  });
}

/**
 * A connected SSH transport to one host. Each start() reaches a helper: for a root login, the
 * persistent helper's socket (no shell, no node start); otherwise, or when that socket is
 * not there or forwarding is refused, HELPER_COMMAND in a new exec channel (which starts the
 * persistent helper for the next runs).
 */
export async function sshTransport(spec: string, o: SshOptions = {}): Promise<Result<{ transport: Transport }>> {
  const c = await sshConnect(spec, o);
  if (!c.ok) return c;
  const conn = c.conn;
  const live = new Set<ClientChannel>();
  let trySocket = conn.target.user === 'root';
  const transport: Transport = {
    label: spec,
    start: async () => {
      if (conn.closed) return { ok: false, message: `the connection to ${conn.target.display} is closed` };
      let open = trySocket ? await openSocket(conn.client, HELPER_SOCKET) : null;
      if (!open?.ok) {
        trySocket = false;
        open = await openExec(conn.client, HELPER_COMMAND);
      }
      if (!open.ok) return { ok: false, message: `cannot start the helper on ${conn.target.display}: ${open.message}` };
      const channel = open.channel;
      live.add(channel);
      channel.once('close', () => live.delete(channel));
      return { ok: true, proc: helperProcess(channel) };
    },
    close: () => {
      for (const ch of live) {
        try {
          ch.close();
        } catch {
          // gone
        }
      }
      conn.close();
    },
  };
  return { ok: true, transport };
}

// `trace helper install [--host SPEC ...] [--accept-new]`: puts the privileged helper on each
// host (or on this machine without --host):
//   HELPER_LIB_DIR    package.json, dist/ and the production node_modules (replaced whole:
//                     unpacked into DIR.new, then renamed into place)
//   HELPER_COMMAND    a /bin/sh wrapper: re-execs through `sudo -n` when not root, then runs
//                     the helper with the host's own node (>= 20)
//   SUDOERS_FILE      `ALL ALL=(root) NOPASSWD: HELPER_COMMAND`, checked by visudo first
//   /etc/ctrace/policy.json   created only if absent, with no grants (root only)
//   /var/log/ctrace           the audit log's directory, 0750
//   and (re)starts the persistent helper (src/helper/daemon.ts) on HELPER_SOCKET
// Remotely, every step is a fixed script run through `sh -c` with our constants as its
// arguments; nothing the user typed reaches a shell (host specs are parsed and validated).

import { spawn, execFile } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { chmod, link, mkdir, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AUDIT_FILE, POLICY_FILE } from '../helper/policy.js';
import { resolveTarget, sshConnect, sshExec, type SshConnection, type SshOptions } from '../runner/transport/ssh.js';
import { DAEMON_PID_FILE, HELPER_COMMAND, HELPER_LIB_DIR, HELPER_SOCKET, SUDOERS_FILE } from '../runner/transport/types.js';
import { chalkFor, fail, type Streams } from './output.js';

export interface HelperInstallOptions {
  /** --host specs; empty: install on this machine. */
  readonly hosts: readonly string[];
  readonly acceptNew: boolean;
  /** -i: private keys to offer. */
  readonly identityFiles?: readonly string[];
  /** --known-hosts FILE instead of ~/.ssh/known_hosts. */
  readonly knownHostsFile?: string;
  /** -F: ssh config file instead of ~/.ssh/config. */
  readonly sshConfigFile?: string;
  readonly connectTimeoutMs?: number;
}

const MIN_NODE_MAJOR = 20;
const LOG_DIR = dirname(AUDIT_FILE);
const EMPTY_POLICY = '{"version":1,"grants":[]}\n';
const SUDOERS_RULE = `# Written by trace helper install: anyone may start the ctrace helper as root; the helper\n# itself decides (${POLICY_FILE}) what each caller may trace.\nALL ALL=(root) NOPASSWD: ${HELPER_COMMAND}\n`;
// A node path goes into the wrapper script: plain absolute paths only.
const SAFE_PATH = /^\/[A-Za-z0-9._+\/-]+$/;
const PATH_VALUE = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The wrapper installed as HELPER_COMMAND. */
export function wrapperScript(node: string): string {
  if (!SAFE_PATH.test(node)) throw new Error(`unusable node path ${JSON.stringify(node)}`);
  return [
    '#!/bin/sh',
    '# ctrace helper (written by trace helper install). Not root: re-run through sudo -n, which',
    `# ${SUDOERS_FILE} allows for this command only.`,
    `if [ "$(id -u)" != 0 ]; then exec sudo -n ${HELPER_COMMAND} "$@"; fi`,
    `exec ${node} ${HELPER_LIB_DIR}/dist/helper/main.js "$@"`,
    '',
  ].join('\n');
}

interface Package {
  readonly root: string;
  readonly version: string;
  /** dist/helper/main.js exists (the helper is built). */
  readonly hasHelper: boolean;
  readonly tgz: Buffer;
}

/** The nearest ancestor of this module holding ctrace's package.json. */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pj = join(dir, 'package.json');
    if (existsSync(pj)) {
      try {
        if ((JSON.parse(readFileSync(pj, 'utf8')) as { name?: string }).name === 'ctrace') return dir;
      } catch {
        // not ours
      }
    }
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the ctrace package.json');
    dir = up;
  }
}

/**
 * The production dependency directories, from package-lock.json (npm 7+): every installed
 * package not marked dev, minus those already inside another listed one.
 */
function productionModules(root: string): string[] | { error: string } {
  let lock: { packages?: Record<string, { dev?: boolean; link?: boolean }> };
  try {
    lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as typeof lock;
  } catch {
    return { error: `cannot read ${join(root, 'package-lock.json')}, which lists the production dependencies` };
  }
  if (!lock.packages) return { error: 'package-lock.json is too old (lockfileVersion 1): run npm install with npm 7 or later' };
  const paths = Object.entries(lock.packages)
    .filter(([p, info]) => p.startsWith('node_modules/') && !info.dev && !info.link && existsSync(join(root, p)))
    .map(([p]) => p)
    .sort();
  const kept = new Set<string>();
  for (const p of paths) {
    // node_modules/a/node_modules/b is inside node_modules/a: tar takes it with its parent.
    const parts = p.split('/node_modules/');
    let inside = false;
    for (let i = 1; i < parts.length && !inside; i++) inside = kept.has(parts.slice(0, i).join('/node_modules/'));
    if (!inside) kept.add(p);
  }
  return [...kept];
}

/** Runs a fixed argv, feeding stdin, collecting stdout. */
function run(cmd: string, argv: readonly string[], input?: Buffer): Promise<{ code: number | null; stdout: Buffer; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, [...argv], { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => (err.length < 8192 ? (err += d.toString()) : undefined));
    child.on('error', (e) => resolve({ code: null, stdout: Buffer.alloc(0), stderr: e.message }));
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out), stderr: err }));
    child.stdin.on('error', () => {});
    child.stdin.end(input ?? Buffer.alloc(0));
  });
}

/** package.json + dist/ + production node_modules as a tar.gz, owned by root, not group/world-writable. */
async function pack(): Promise<Package | { error: string }> {
  let root: string;
  try {
    root = packageRoot();
  } catch (e) {
    return { error: (e as Error).message };
  }
  if (!existsSync(join(root, 'dist'))) return { error: `${join(root, 'dist')} is missing: build ctrace first (npm run build)` };
  const mods = productionModules(root);
  if ('error' in mods) return mods;
  const version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version?: string }).version ?? 'unknown';
  const list = ['package.json', 'dist', ...mods].join('\0') + '\0';
  const r = await run('tar', ['-czf', '-', '-C', root, '--owner=0', '--group=0', '--numeric-owner', '--mode=go-w', '--exclude=node_modules/.cache', '--null', '-T', '-'], Buffer.from(list));
  if (r.code !== 0) return { error: `tar could not pack the helper: ${r.stderr.trim().split('\n')[0] ?? `exit ${r.code}`}` };
  return { root, version, hasHelper: existsSync(join(root, 'dist', 'helper', 'main.js')), tgz: r.stdout };
}

interface HostResult {
  readonly ok: boolean;
  /** One line: what was installed, or why not. */
  readonly message: string;
}

function describe(p: Package, node: string, nodeVersion: string, notes: string[]): string {
  const extra = [...notes];
  if (!p.hasHelper) extra.push('dist/helper/main.js is not built yet');
  return `installed ctrace helper ${p.version}, node ${node} (v${nodeVersion})${extra.length ? `; ${extra.join('; ')}` : ''}`;
}

function nodeMajor(v: string): number {
  return Number(/^(\d+)\./.exec(v)?.[1] ?? 0);
}

// --- remote ----------------------------------------------------------------------------

// Lists node binaries as "PATH VERSION" lines, best first: PATH's, then the usual places.
const FIND_NODE = `PATH=${PATH_VALUE}:$PATH
for n in "$(command -v node 2>/dev/null)" /usr/local/bin/node /usr/bin/node /usr/bin/nodejs /opt/node/bin/node; do
  [ -n "$n" ] && [ -x "$n" ] || continue
  v=$("$n" -e 'process.stdout.write(process.versions.node)' </dev/null 2>/dev/null) || continue
  echo "$n $v"
done`;

// Runs as root. $1 lib dir, $2 helper command, $3 wrapper text, $4 sudoers file, $5 sudoers
// text, $6 policy file, $7 policy text, $8 log dir, $9 node, $10 the persistent helper's
// socket, $11 its PID file; the tar.gz on stdin. One line per outcome.
const INSTALL = `PATH=${PATH_VALUE}; export PATH
umask 022
fail() { echo "$*" >&2; exit 1; }
LIB=$1 CMD=$2 WRAPPER=$3 SUDOERS=$4 RULE=$5 POLICY=$6 POLICYTEXT=$7 LOGDIR=$8 NODE=$9 SOCK=\${10} PIDFILE=\${11}
command -v tar >/dev/null 2>&1 || fail "tar is not installed"
mkdir -p "$(dirname "$LIB")" || fail "cannot create $(dirname "$LIB")"
rm -rf "$LIB.new" "$LIB.old" && mkdir "$LIB.new" || fail "cannot create $LIB.new"
tar -xzf - -C "$LIB.new" --no-same-owner 2>/dev/null || { rm -rf "$LIB.new"; fail "cannot unpack the helper into $LIB.new"; }
[ -f "$LIB.new/package.json" ] || { rm -rf "$LIB.new"; fail "the helper archive arrived incomplete"; }
if [ -e "$LIB" ]; then mv "$LIB" "$LIB.old" || fail "cannot move the old $LIB aside"; fi
mv "$LIB.new" "$LIB" || { [ -e "$LIB.old" ] && mv "$LIB.old" "$LIB"; fail "cannot move $LIB.new into place"; }
rm -rf "$LIB.old"
mkdir -p "$(dirname "$CMD")" || fail "cannot create $(dirname "$CMD")"
printf '%s' "$WRAPPER" > "$CMD.new" && chmod 755 "$CMD.new" && mv -f "$CMD.new" "$CMD" || fail "cannot write $CMD"
V=$(command -v visudo 2>/dev/null)
if [ -n "$V" ]; then
  mkdir -p "$(dirname "$SUDOERS")" || fail "cannot create $(dirname "$SUDOERS")"
  # A name with a dot: sudo's includedir ignores it until it is renamed into place.
  printf '%s' "$RULE" > "$SUDOERS.new" && chmod 440 "$SUDOERS.new" || fail "cannot write $SUDOERS.new"
  "$V" -cqf "$SUDOERS.new" >/dev/null 2>&1 || { rm -f "$SUDOERS.new"; fail "visudo refused the sudoers rule for $CMD"; }
  mv -f "$SUDOERS.new" "$SUDOERS" || fail "cannot move $SUDOERS into place"
  echo "sudoers=ok"
else
  echo "sudoers=missing"
fi
mkdir -p "$(dirname "$POLICY")" || fail "cannot create $(dirname "$POLICY")"
if [ -e "$POLICY" ]; then
  echo "policy=kept"
else
  printf '%s' "$POLICYTEXT" > "$POLICY.new" && chmod 644 "$POLICY.new" || fail "cannot write $POLICY.new"
  # ln, not mv: it never replaces a policy that appeared meanwhile.
  if ln "$POLICY.new" "$POLICY" 2>/dev/null; then echo "policy=created"; else echo "policy=kept"; fi
  rm -f "$POLICY.new"
fi
mkdir -p "$LOGDIR" && chmod 750 "$LOGDIR" || fail "cannot create $LOGDIR"
# The persistent helper, restarted on the new code (a running trace keeps the old process
# until it ends); then wait until it answers, so the next run finds it.
P=$(cat "$PIDFILE" 2>/dev/null)
case "$P" in *[!0-9]*|'') ;; *) tr '\\0' ' ' < "/proc/$P/cmdline" 2>/dev/null | grep -q "$LIB/dist/helper/daemon.js" && kill -TERM "$P" ;; esac
i=0; while [ -S "$SOCK" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
cd /
if command -v setsid >/dev/null 2>&1; then setsid "$NODE" "$LIB/dist/helper/daemon.js" </dev/null >/dev/null 2>&1 &
else "$NODE" "$LIB/dist/helper/daemon.js" </dev/null >/dev/null 2>&1 & fi
i=0; while [ ! -S "$SOCK" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
[ -S "$SOCK" ] && echo "daemon=ok" || echo "daemon=missing"
echo "done"`;

function firstLine(b: Buffer | string): string {
  return b.toString().trim().split('\n').pop()?.trim() ?? '';
}

async function installRemote(spec: string, p: Package, ssh: SshOptions): Promise<HostResult> {
  const c = await sshConnect(spec, ssh);
  if (!c.ok) return { ok: false, message: c.message };
  const conn: SshConnection = c.conn;
  const where = conn.target.display;
  try {
    const id = await sshExec(conn, ['id', '-u'], undefined, { timeoutMs: 30_000 });
    if (!id.ok) return { ok: false, message: `cannot run commands on ${where}: ${id.message}` };
    let asRoot: string[] = [];
    if (id.stdout.toString().trim() !== '0') {
      const s = await sshExec(conn, ['sudo', '-n', 'true'], undefined, { timeoutMs: 30_000 });
      if (!s.ok || s.code !== 0) {
        const why = s.ok && s.code === 127 ? 'sudo is not installed there' : '`sudo -n` does not work for it there';
        return { ok: false, message: `cannot install on ${where}: ${conn.target.user} is not root and ${why}; log in as root, or give ${conn.target.user} passwordless sudo` };
      }
      asRoot = ['sudo', '-n'];
    }
    const found = await sshExec(conn, [...asRoot, 'sh', '-c', FIND_NODE], undefined, { timeoutMs: 60_000 });
    if (!found.ok) return { ok: false, message: `cannot look for node on ${where}: ${found.message}` };
    const nodes = found.stdout
      .toString()
      .split('\n')
      .map((l) => l.trim().split(' '))
      .filter((f): f is [string, string] => f.length === 2 && SAFE_PATH.test(f[0] ?? ''));
    const good = nodes.find(([, v]) => nodeMajor(v) >= MIN_NODE_MAJOR);
    if (!good) {
      const seen = nodes.length ? ` (found ${nodes.map(([n, v]) => `${n} v${v}`).join(', ')})` : '';
      return { ok: false, message: `cannot install on ${where}: it has no node ${MIN_NODE_MAJOR} or later${seen}; install Node.js ${MIN_NODE_MAJOR}+ there first` };
    }
    const [node, nodeVersion] = good;
    const args = [HELPER_LIB_DIR, HELPER_COMMAND, wrapperScript(node), SUDOERS_FILE, SUDOERS_RULE, POLICY_FILE, EMPTY_POLICY, LOG_DIR, node, HELPER_SOCKET, DAEMON_PID_FILE];
    const r = await sshExec(conn, [...asRoot, 'sh', '-c', INSTALL, 'ctrace-install', ...args], p.tgz, { timeoutMs: 300_000 });
    if (!r.ok) return { ok: false, message: `cannot install on ${where}: ${r.message}` };
    if (r.code !== 0) return { ok: false, message: `cannot install on ${where}: ${firstLine(r.stderr) || `the install script failed (exit ${r.code ?? r.signal})`}` };
    const out = r.stdout.toString();
    const notes: string[] = [];
    if (out.includes('sudoers=missing')) notes.push('sudo is not installed, so only root can run the helper');
    if (out.includes('daemon=missing')) notes.push(`the persistent helper did not start (root's runs start it later, or run through ${HELPER_COMMAND} until then)`);
    notes.push(out.includes('policy=created') ? `created ${POLICY_FILE} (no grants)` : `kept ${POLICY_FILE}`);
    return { ok: true, message: describe(p, node, nodeVersion, notes) };
  } finally {
    conn.close();
  }
}

// --- local -----------------------------------------------------------------------------

function execFileP(cmd: string, argv: readonly string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, [...argv], (err, _out, stderr) => {
      const code = err ? (typeof (err as NodeJS.ErrnoException).code === 'number' ? Number((err as NodeJS.ErrnoException).code) : 127) : 0;
      resolve({ code, stderr: String(stderr ?? '') });
    });
  });
}

function findVisudo(): string | null {
  for (const d of PATH_VALUE.split(':')) {
    const p = join(d, 'visudo');
    try {
      if (statSync(p).isFile()) return p;
    } catch {
      // not there
    }
  }
  return null;
}

async function installLocal(p: Package): Promise<HostResult> {
  if (process.getuid?.() !== 0) {
    return { ok: false, message: 'installing the helper on this machine needs root: run trace helper install as root (or with sudo)' };
  }
  const node = process.execPath;
  if (!SAFE_PATH.test(node)) return { ok: false, message: `cannot use node at ${JSON.stringify(node)} in the helper wrapper: install node at a plain path such as /usr/bin/node` };
  if (nodeMajor(process.versions.node) < MIN_NODE_MAJOR) return { ok: false, message: `node ${MIN_NODE_MAJOR} or later is needed (this is v${process.versions.node})` };
  const step = async (what: string, f: () => Promise<unknown>): Promise<string | null> => {
    try {
      await f();
      return null;
    } catch (e) {
      return `${what}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`;
    }
  };
  const lib = HELPER_LIB_DIR;
  let err = await step(`cannot create ${lib}.new`, async () => {
    await mkdir(dirname(lib), { recursive: true, mode: 0o755 });
    await rm(`${lib}.new`, { recursive: true, force: true });
    await rm(`${lib}.old`, { recursive: true, force: true });
    await mkdir(`${lib}.new`, { mode: 0o755 });
  });
  if (err) return { ok: false, message: err };
  const t = await run('tar', ['-xzf', '-', '-C', `${lib}.new`, '--no-same-owner'], p.tgz);
  if (t.code !== 0) {
    await rm(`${lib}.new`, { recursive: true, force: true });
    return { ok: false, message: `cannot unpack the helper into ${lib}.new: ${firstLine(t.stderr) || `tar exit ${t.code}`}` };
  }
  err = await step(`cannot move ${lib}.new into place`, async () => {
    if (existsSync(lib)) await rename(lib, `${lib}.old`);
    await rename(`${lib}.new`, lib);
    await rm(`${lib}.old`, { recursive: true, force: true });
  });
  if (err) return { ok: false, message: err };
  err = await step(`cannot write ${HELPER_COMMAND}`, async () => {
    await mkdir(dirname(HELPER_COMMAND), { recursive: true, mode: 0o755 });
    await writeFile(`${HELPER_COMMAND}.new`, wrapperScript(node), { mode: 0o755 });
    await chmod(`${HELPER_COMMAND}.new`, 0o755);
    await rename(`${HELPER_COMMAND}.new`, HELPER_COMMAND);
  });
  if (err) return { ok: false, message: err };
  const notes: string[] = [];
  const visudo = findVisudo();
  if (visudo) {
    const tmp = `${SUDOERS_FILE}.new`; // a dot: sudo ignores it until renamed
    err = await step(`cannot write ${tmp}`, async () => {
      await mkdir(dirname(SUDOERS_FILE), { recursive: true, mode: 0o755 });
      await writeFile(tmp, SUDOERS_RULE, { mode: 0o440 });
      await chmod(tmp, 0o440);
    });
    if (err) return { ok: false, message: err };
    const v = await execFileP(visudo, ['-cqf', tmp]);
    if (v.code !== 0) {
      await rm(tmp, { force: true });
      return { ok: false, message: `visudo refused the sudoers rule for ${HELPER_COMMAND}: ${firstLine(v.stderr)}` };
    }
    err = await step(`cannot move ${SUDOERS_FILE} into place`, () => rename(tmp, SUDOERS_FILE));
    if (err) return { ok: false, message: err };
  } else {
    notes.push('sudo is not installed, so only root can run the helper');
  }
  let created = false;
  err = await step(`cannot write ${POLICY_FILE}`, async () => {
    await mkdir(dirname(POLICY_FILE), { recursive: true, mode: 0o755 });
    if (existsSync(POLICY_FILE)) return;
    const tmp = `${POLICY_FILE}.new`;
    await writeFile(tmp, EMPTY_POLICY, { mode: 0o644 });
    await chmod(tmp, 0o644);
    // link, not rename: never replaces a policy that appeared meanwhile.
    try {
      await link(tmp, POLICY_FILE);
      created = true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    } finally {
      await unlink(tmp).catch(() => {});
    }
  });
  if (err) return { ok: false, message: err };
  notes.push(created ? `created ${POLICY_FILE} (no grants)` : `kept ${POLICY_FILE}`);
  err = await step(`cannot create ${LOG_DIR}`, async () => {
    await mkdir(LOG_DIR, { recursive: true, mode: 0o750 });
    await chmod(LOG_DIR, 0o750);
  });
  if (err) return { ok: false, message: err };
  return { ok: true, message: describe(p, node, process.versions.node, notes) };
}

// --- command ---------------------------------------------------------------------------

export async function helperInstallCommand(o: HelperInstallOptions, io: Streams): Promise<number> {
  const c = chalkFor(io.stdout, io.env);
  const p = await pack();
  if ('error' in p) {
    fail(io, `cannot prepare the helper: ${p.error}`);
    return 1;
  }
  const ssh: SshOptions = {
    acceptNew: o.acceptNew,
    env: io.env,
    ...(o.identityFiles?.length ? { identityFiles: [...o.identityFiles] } : {}),
    ...(o.knownHostsFile ? { knownHostsFile: o.knownHostsFile } : {}),
    ...(o.sshConfigFile ? { sshConfigFile: o.sshConfigFile } : {}),
    ...(o.connectTimeoutMs ? { connectTimeoutMs: o.connectTimeoutMs } : {}),
  };
  // A host whose ssh config cannot be followed is refused before any host is contacted.
  for (const h of o.hosts) {
    const r = resolveTarget(h, ssh);
    if (!r.ok) {
      fail(io, r.message);
      return 2;
    }
  }
  const targets = o.hosts.length ? [...new Set(o.hosts)] : ['local'];
  const results = await Promise.all(
    targets.map((h) =>
      (o.hosts.length ? installRemote(h, p, ssh) : installLocal(p)).catch((e: unknown): HostResult => ({ ok: false, message: `internal error: ${(e as Error).message}` })),
    ),
  );
  let failed = 0;
  targets.forEach((h, i) => {
    const r = results[i] as HostResult;
    if (r.ok) io.stdout.write(`${c.bold(h)}: ${r.message}\n`);
    else {
      failed++;
      // Every message names its host already.
      fail(io, r.message);
    }
  });
  const n = targets.length;
  if (n > 1) {
    const summary = failed === 0 ? `helper installed on ${n} of ${n} hosts` : `helper installed on ${n - failed} of ${n} hosts; ${failed} failed`;
    (failed ? io.stderr : io.stdout).write(`${summary}\n`);
  }
  return failed === 0 ? 0 : 1;
}

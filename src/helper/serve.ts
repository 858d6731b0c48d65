// Serves one helper request: check it against the policy, resolve the targets, compile, run
// bpftrace, and relay its lines. Whatever way the caller goes away (stdin closes, the SSH
// channel drops, the CLI is killed), `close` comes and bpftrace is killed at once.

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { expandProbeArgs } from '../compiler/probes.js';
import { hasErrors } from '../lang/diagnostics.js';
import { parse } from '../lang/parse.js';
import { Source } from '../lang/source.js';
import { findBpftrace, versionString, type BpftraceInfo } from '../runner/bpftrace.js';
import { localBpftrace } from '../runner/bpftrace-process.js';
import { listProbes } from '../runner/listing.js';
import { compileFor, probeDescs, resolveRequest } from './prepare.js';
import { selectorProblem, watchTargets, type ResolvedTarget } from '../runner/targets/index.js';
import type { TargetRequest } from '../runner/request.js';
import { writeAudit, type AuditRecord } from './audit.js';
import { decide, kernelProbes, type Access, type Caller, type Policy } from './policy.js';
import { PROTOCOL_VERSION, type Message, type Request, type RunRequest } from './protocol.js';
import { followRelayed } from './follow.js';

export interface ServeContext {
  readonly caller: Caller;
  /** How the caller came, for the audit log. */
  readonly via: string;
  readonly policy: Policy;
  /** The policy as it is now (re-read for a container --follow sees come back); default `policy`. */
  readonly policyNow?: () => Policy | { error: string };
  readonly hostname: string;
  readonly version: string;
  /** The helper's own environment: it finds bpftrace and runtimes by it, never by the caller's word. */
  readonly env: NodeJS.ProcessEnv;
  send(m: Message): void;
  /** Registers what to do on `{"op":"stop"}` and when the caller goes away. */
  onStop(f: () => void): void;
  onClose(f: () => void): void;
  /** For tests: the clock. */
  readonly now?: () => Date;
}

/** Serves `req`; resolves with the helper's exit code. */
export async function serve(req: Request, ctx: ServeContext): Promise<number> {
  switch (req.op) {
    case 'hello': {
      const found = await findBpftrace({ env: ctx.env });
      ctx.send({ t: 'hello', v: PROTOCOL_VERSION, version: ctx.version, hostname: ctx.hostname, caller: ctx.caller.user, bpftrace: found.ok ? versionString(found.info.version) : null });
      return 0;
    }
    case 'resolve': {
      const r = await resolveChecked(req.targets, ctx, []);
      if (!r.ok) return r.exitCode;
      ctx.send({ t: 'targets', targets: r.targets.map((t) => ({ runtime: t.runtime, id: t.id, name: t.name, hostPid: t.hostPid })) });
      return 0;
    }
    case 'list':
      return list(req, ctx);
    case 'run':
      return run(req, ctx);
  }
}

function error(ctx: ServeContext, message: string, exitCode: number, refused = false): { ok: false; exitCode: number } {
  ctx.send({ t: 'error', message, exitCode, ...(refused ? { refused } : {}) });
  return { ok: false, exitCode };
}

/** The uid a process runs as (real uid), or null when it cannot be read. */
function processUid(pid: number): number | null {
  try {
    const m = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

function accessOf(targets: readonly ResolvedTarget[], probes: readonly string[], destructive: boolean): Access {
  return {
    containers: targets.filter((t) => t.runtime !== 'pid').map((t) => t.name),
    processes: targets.filter((t) => t.runtime === 'pid').map((t) => ({ pid: t.hostPid, uid: processUid(t.hostPid) })),
    hostWide: targets.length === 0,
    kernelProbes: kernelProbes(probes),
    destructive,
  };
}

type Checked = { ok: true; targets: ResolvedTarget[] } | { ok: false; exitCode: number; reason?: string };

/** Resolves the targets and asks the policy; refusals and failures are sent. */
async function resolveChecked(t: TargetRequest | undefined, ctx: ServeContext, probes: readonly string[], destructive = false): Promise<Checked> {
  const problem = t ? selectorProblem(t) : null;
  if (problem !== null) return error(ctx, problem, 2);
  // A caller with no grant at all learns nothing about this host's containers.
  const pre = decide(ctx.policy, ctx.caller, { containers: [], processes: [], hostWide: false, kernelProbes: [], destructive: false });
  if (!pre.allowed) return { ...error(ctx, pre.reason, 1, true), reason: pre.reason };
  const resolved = await resolveRequest(t, ctx.env);
  if (!resolved.ok) return error(ctx, resolved.message, 1);
  const d = decide(ctx.policy, ctx.caller, accessOf(resolved.targets, probes, destructive));
  if (!d.allowed) return { ...error(ctx, d.reason, 1, true), reason: d.reason };
  return resolved;
}

async function list(req: Extract<Request, { op: 'list' }>, ctx: ServeContext): Promise<number> {
  const r = await resolveChecked(req.targets, ctx, []);
  if (!r.ok) return r.exitCode;
  const main = r.targets[0];
  if (main && !main.exeHost) return error(ctx, main.exeProblem ?? `the executable of ${main.runtime === 'pid' ? `PID ${main.hostPid}` : `container '${main.name}'`} cannot be opened`, 1).exitCode;
  const listing = await listProbes({ ...(main ? { exeHost: main.exeHost, hostPid: main.hostPid } : {}), ...(req.pattern !== undefined ? { pattern: req.pattern } : {}) });
  ctx.send({ t: 'probes', probes: listing.probes, notes: listing.notes });
  return 0;
}

async function run(req: RunRequest, ctx: ServeContext): Promise<number> {
  const now = ctx.now ?? (() => new Date());
  const start = now();
  const source = new Source(req.program.name, req.program.text);
  const audit = (targets: readonly string[], outcome: AuditRecord['outcome'], detail?: string): string | null =>
    writeAudit(ctx.policy.audit, {
      start: start.toISOString(),
      ...(outcome !== 'started' ? { end: now().toISOString() } : {}),
      caller: ctx.caller.user,
      uid: ctx.caller.uid,
      via: ctx.via,
      targets,
      program: { sha256: createHash('sha256').update(req.program.text).digest('hex'), name: req.program.name },
      outcome,
      ...(detail !== undefined ? { detail } : {}),
    });
  const requested = [...(req.targets?.containers ?? []), ...(req.targets?.labels.map((l) => `label:${l}`) ?? []), ...(req.targets?.pids.map((p) => `pid:${p}`) ?? [])];

  const parsed = parse(source);
  if (hasErrors(parsed.diagnostics)) {
    ctx.send({ t: 'diagnostics', diagnostics: parsed.diagnostics });
    return 2;
  }
  // As the compiler will resolve them: `$1:vfs_read` with $1 = kprobe is a kernel probe.
  const probes = probeDescs(parsed.program).map((d) => expandProbeArgs(d, req.args, true).desc.parts.map((p) => p.value).join(':'));

  let bpftrace: BpftraceInfo | null = null;
  const found = await findBpftrace({ env: ctx.env });
  if (found.ok) bpftrace = found.info;
  else if (!req.emitOnly) return error(ctx, `${found.message.replace(/; run scripts\/setup.sh or pass --bpftrace PATH$/, '')} on ${ctx.hostname}`, 1).exitCode;

  const checked = await resolveChecked(req.targets, ctx, probes, req.destructive);
  if (!checked.ok) {
    if (checked.reason !== undefined) audit(requested, 'refused', checked.reason);
    return checked.exitCode;
  }
  const targets = checked.targets;
  const names = targets.map((t) => (t.runtime === 'pid' ? `pid:${t.hostPid}` : t.name));

  const compileRequest = {
    source,
    program: parsed.program,
    parseDiagnostics: parsed.diagnostics,
    args: req.args,
    targets,
    hostPids: req.targets?.hostPids ?? false,
    intervalMs: req.intervalMs,
    quiet: req.quiet,
    destructive: req.destructive,
    bpftrace,
    host: req.host ?? ctx.hostname,
  };
  const compiled = await compileFor(compileRequest);
  if (compiled.diagnostics.length) ctx.send({ t: 'diagnostics', diagnostics: compiled.diagnostics });
  if (!compiled.ok) return compiled.message !== undefined ? error(ctx, compiled.message, 1).exitCode : 2;
  const program = compiled.compiled;
  // `#pragma D option destructive` in the program asks as much as -w does.
  if (program.options.destructive && !req.destructive) {
    const d = decide(ctx.policy, ctx.caller, accessOf(targets, probes, true));
    if (!d.allowed) {
      audit(names, 'refused', d.reason);
      return error(ctx, d.reason, 1, true).exitCode;
    }
  }
  const following = req.follow === true && targets.length > 0 && !req.emitOnly;
  ctx.send({ t: 'compiled', program, bpftrace, ...(following ? { follow: true } : {}) });
  if (req.emitOnly || !bpftrace) return 0;

  // No run goes unaudited: the log must be writable before anything attaches.
  const auditProblem = audit(names, 'started');
  if (auditProblem) return error(ctx, auditProblem, 1).exitCode;

  if (following) {
    // A container that comes back is a new one under the same name: asked of the policy (as it is now) again.
    const recompile = async (now: readonly ResolvedTarget[]) => {
      const nowNames = now.map((t) => (t.runtime === 'pid' ? `pid:${t.hostPid}` : t.name));
      const policy = ctx.policyNow?.() ?? ctx.policy;
      if ('error' in policy) return { exitCode: error(ctx, policy.error, 1).exitCode };
      const d = decide(policy, ctx.caller, accessOf(now, probes, req.destructive || program.options.destructive));
      if (!d.allowed) {
        audit(nowNames, 'refused', `${d.reason} (--follow, after a restart)`);
        return { exitCode: error(ctx, d.reason, 1, true).exitCode };
      }
      const again = await compileFor({ ...compileRequest, targets: now });
      if (!again.ok) return { exitCode: again.message !== undefined ? error(ctx, again.message, 1).exitCode : error(ctx, 'the program no longer compiles for the restarted container', 2).exitCode };
      const problem = audit(nowNames, 'started', 'followed a restart (--follow)');
      if (problem) return { exitCode: error(ctx, problem, 1).exitCode };
      restarts++;
      return again.compiled;
    };
    let restarts = 0;
    const f = await followRelayed(program, targets, bpftrace, ctx, recompile);
    audit(names, f.exitCode === 0 ? f.outcome : f.outcome === 'killed' ? 'killed' : 'error', restarts ? `followed ${restarts} restart${restarts > 1 ? 's' : ''}` : undefined);
    return f.exitCode;
  }

  return new Promise<number>((resolve) => {
    const proc = localBpftrace(program, { path: bpftrace.path, env: ctx.env });
    let outcome: AuditRecord['outcome'] = 'ok';
    let killTimer: NodeJS.Timeout | undefined;
    const unwatch = targets.length
      ? watchTargets(targets, (_t, reason) => {
          ctx.send({ t: 'notice', message: `${reason}; ending the trace` });
          proc.interrupt();
        })
      : () => undefined;
    ctx.onStop(() => {
      outcome = 'interrupted';
      proc.interrupt();
      killTimer ??= setTimeout(() => proc.kill(), 5000);
    });
    ctx.onClose(() => {
      outcome = 'killed';
      proc.kill();
    });
    proc.start({
      stdout: (line) => ctx.send({ t: 'out', line }),
      stderr: (line) => ctx.send({ t: 'err', line }),
      end: (e) => {
        unwatch();
        if (killTimer) clearTimeout(killTimer);
        if (e.kind === 'failed') {
          ctx.send({ t: 'exit', code: null, signal: null, failed: e.message });
          audit(names, 'error', e.message);
          return resolve(1);
        }
        ctx.send({ t: 'exit', code: e.code, signal: e.signal, ...(e.overlong ? { overlong: e.overlong } : {}) });
        const ok = e.code === 0;
        audit(names, ok ? outcome : outcome === 'killed' ? 'killed' : 'error', ok ? undefined : `bpftrace exited with ${e.code ?? e.signal}`);
        resolve(ok ? 0 : 1);
      },
    });
  });
}

// --follow through the helper: the helper runs the same follow loop as a local run
// (runner/follow.ts), with each bpftrace's lines relayed to the CLI instead of rendered here.
// Each run after the first is announced by a `compiled` message, and the one it replaces by a
// `detach` before it is stopped: the CLI carries that run's maps into the next (session.ts's
// `carried`), so the aggregations are added across the gap there, where they are parsed.
// The follow loop's lines ("... stopped; waiting", "... is back") go as notices, its -o json
// events (detach, reattach) as `event` messages, which the CLI prints with -o json.

import type { CompiledProgram } from '../compiler/program.js';
import { MARKER_BPF } from '../compiler/program.js';
import type { BpftraceInfo } from '../runner/bpftrace.js';
import { localBpftrace } from '../runner/bpftrace-process.js';
import { followProgram } from '../runner/follow.js';
import type { OutStream } from '../runner/presenter.js';
import type { RunOptions, RunResult } from '../runner/session.js';
import type { ResolvedTarget } from '../runner/targets/index.js';
import type { AuditRecord } from './audit.js';
import type { ServeContext } from './serve.js';

export interface Followed {
  readonly exitCode: number;
  readonly outcome: AuditRecord['outcome'];
}

/** Follows `targets` until the CLI stops it or goes away (bpftrace is then killed at once). */
export async function followRelayed(
  first: CompiledProgram,
  targets: readonly ResolvedTarget[],
  bpftrace: BpftraceInfo,
  ctx: ServeContext,
  recompile: (targets: readonly ResolvedTarget[]) => Promise<CompiledProgram | { exitCode: number }>,
): Promise<Followed> {
  let outcome: AuditRecord['outcome'] = 'ok';
  const stop = new AbortController();
  let kill: (() => void) | null = null;
  ctx.onStop(() => {
    outcome = 'interrupted';
    stop.abort();
  });
  ctx.onClose(() => {
    outcome = 'killed';
    kill?.();
    stop.abort();
  });
  const notices: OutStream = {
    write: (s: string) => {
      for (const line of s.split('\n')) if (line) ctx.send({ t: 'notice', message: line.replace(/^trace: /, '') });
      return true;
    },
  };
  let runs = 0;
  const relay = (program: CompiledProgram, o: RunOptions): Promise<RunResult> =>
    new Promise((resolve) => {
      if (runs++ > 0) ctx.send({ t: 'compiled', program, bpftrace, follow: true });
      const proc = localBpftrace(program, { path: bpftrace.path, env: ctx.env });
      let killTimer: NodeJS.Timeout | undefined;
      const interrupt = () => {
        proc.interrupt();
        killTimer ??= setTimeout(() => proc.kill(), 5000);
      };
      const onDetach = () => {
        ctx.send({ t: 'detach' });
        interrupt();
      };
      o.signal?.addEventListener('abort', interrupt, { once: true });
      o.detach?.addEventListener('abort', onDetach, { once: true });
      kill = () => proc.kill();
      o.onStart?.({ message: (line) => notices.write(line) });
      // Attached once BEGIN printed its marker (or, without one, at bpftrace's first line).
      const marker = program.text.includes(`${MARKER_BPF}ready`);
      let attached = false;
      const base = { aggregations: [], lost: 0, errors: [], diagnostics: [] };
      proc.start({
        stdout: (line) => {
          ctx.send({ t: 'out', line });
          if (!attached && (!marker || line.includes('ctrace:ready'))) {
            attached = true;
            o.onAttached?.();
          }
        },
        stderr: (line) => ctx.send({ t: 'err', line }),
        end: (e) => {
          kill = null;
          clearTimeout(killTimer);
          o.signal?.removeEventListener('abort', interrupt);
          o.detach?.removeEventListener('abort', onDetach);
          if (e.kind === 'failed') {
            ctx.send({ t: 'exit', code: null, signal: null, failed: e.message });
            return resolve({ ...base, exitCode: 1, message: e.message, stoppedBy: 'exit' });
          }
          ctx.send({ t: 'exit', code: e.code, signal: e.signal, ...(e.overlong ? { overlong: e.overlong } : {}) });
          const stoppedBy = o.detach?.aborted ? 'detach' : o.signal?.aborted ? 'signal' : 'exit';
          resolve({ ...base, exitCode: e.code === 0 ? 0 : 1, stoppedBy, ...(e.code !== 0 ? { message: `bpftrace exited with ${e.code ?? e.signal}` } : {}) });
        },
      });
    });
  const f = await followProgram(
    { compiled: first, targets },
    {
      bpftrace,
      output: 'json',
      stdout: {
        write: (s: string) => {
          for (const line of s.split('\n')) if (line) ctx.send({ t: 'event', line });
          return true;
        },
      },
      stderr: notices,
      env: ctx.env,
      durationMs: null,
      quiet: true,
      signal: stop.signal,
      recompile,
      run: relay,
    },
  );
  return { exitCode: f.exitCode, outcome };
}

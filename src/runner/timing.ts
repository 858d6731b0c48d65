// Start-up timing for `trace` itself: with TRACE_DEBUG_TIMING=1 in the environment, each
// mark prints `trace: timing <ms since the process started> <label>` on stderr. Otherwise a
// mark costs one environment lookup.

const enabled = process.env['TRACE_DEBUG_TIMING'] === '1';

/** Milliseconds since this process started (performance's time origin). */
export function sinceStart(): number {
  return performance.now();
}

export function timingEnabled(): boolean {
  return enabled;
}

/** Prints one timing line (only with TRACE_DEBUG_TIMING=1). */
export function mark(label: string): void {
  if (!enabled) return;
  process.stderr.write(`trace: timing ${sinceStart().toFixed(1).padStart(7)} ms  ${label}\n`);
}

/** Times an async step, its synchronous start included: marks when it settles (only with TRACE_DEBUG_TIMING=1). */
export function timed<T>(label: string, f: () => Promise<T>): Promise<T> {
  if (!enabled) return f();
  const t0 = sinceStart();
  return f().finally(() => mark(`${label} (${(sinceStart() - t0).toFixed(1)} ms)`));
}

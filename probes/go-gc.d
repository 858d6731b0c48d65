/* go-gc: Go garbage collections: cycles by trigger, and stop-the-world pause times
 *
 * Counts GC cycles as they start (runtime.gcStart) by trigger: 0 heap size reached,
 * 1 periodic (2 minutes without a GC), 2 runtime.GC() called. Times every
 * stop-the-world pause, from runtime.stopTheWorldWithSema's entry to the entry of the
 * matching runtime.startTheWorldWithSema (as the runtime measures its own pauses; two per
 * cycle: sweep termination and mark termination), and shows them per process with percentiles. The runtime's function
 * names are those of Go 1.14 and later.
 *
 * Arguments: none.
 * Run:  trace run go-gc -c NAME -d 30s
 *
 * Example output (trace run go-gc -c emoji, under /churn load (it calls runtime.GC())):
 *   @cycles
 *   ┌──────────┬──────┬───────┐
 *   │ execname │ arg0 │ count │
 *   ├──────────┼──────┼───────┤
 *   │ emoji    │ 2    │    20 │
 *   └──────────┴──────┴───────┘
 *
 *   @pause
 *   ┌──────────┬───────┬────────┬────────┬───────┬───────┬───────┐
 *   │ execname │ count │    p50 │    p90 │   p99 │  p999 │   max │
 *   ├──────────┼───────┼────────┼────────┼───────┼───────┼───────┤
 *   │ emoji    │    40 │ 24.6us │ 69.6us │ 164us │ 164us │ 164us │
 *   └──────────┴───────┴────────┴────────┴───────┴───────┴───────┘
 *
 *   @pause_total_ns
 *   ┌──────────┬────────────────────────────┐
 *   │ execname │ sum(timestamp - self->stw) │
 *   ├──────────┼────────────────────────────┤
 *   │ emoji    │                    1612344 │
 *   └──────────┴────────────────────────────┘
 */
uprobe:runtime.gcStart
{
	@cycles[execname, arg0] = count();
}

uprobe:runtime.stopTheWorldWithSema
{
	self->stw = timestamp;
}

uprobe:runtime.startTheWorldWithSema
/self->stw/
{
	@pause[execname] = latency(timestamp - self->stw);
	@pause_total_ns[execname] = sum(timestamp - self->stw);
	self->stw = 0;
}

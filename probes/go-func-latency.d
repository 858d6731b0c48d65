/* go-func-latency: a Go function's latency distribution and percentiles
 *
 * Times every call of one Go function, entry to return, per goroutine (self-> is
 * goroutine-local in Go probes, so calls that block and resume on another thread are
 * timed right), and shows the count and p50/p90/p99/p999/max, plus the full distribution
 * at the end. Return probes on Go are uprobes on each RET instruction, never uretprobes.
 *
 * Arguments: FUNCTION, the Go function to time, e.g. main.handle (the demo frontend's
 * request handler) or "main.(*Server).handle" (quote names with punctuation in the
 * shell; the name is taken literally, its * is not a wildcard). List candidates with
 * trace list -c NAME 'main.*'.
 * uprobe: names a binary, not a process: with -c on several replicas of one image, all
 * of them are timed.
 * Run:  trace run go-func-latency -c NAME -d 10s main.handle
 *
 * Example output (trace run go-func-latency -c frontend main.handle, the demo under load):
 *   @latency
 *   ┌──────────┬───────┬───────┬────────┬────────┬────────┬────────┐
 *   │ execname │ count │   p50 │    p90 │    p99 │   p999 │    max │
 *   ├──────────┼───────┼───────┼────────┼────────┼────────┼────────┤
 *   │ frontend │   800 │ 721us │ 1.02ms │ 1.47ms │ 5.77ms │ 5.77ms │
 *   └──────────┴───────┴───────┴────────┴────────┴────────┴────────┘
 *
 *   @distribution_ns
 *              value  ------------- Distribution ------------- count
 *             131072 |                                         0
 *             262144 |@@                                       33
 *             524288 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@      709
 *            1048576 |@@@                                      55
 *            2097152 |                                         2
 *            4194304 |                                         1
 *            8388608 |                                         0
 */
uprobe:$1
{
	self->ts = timestamp;
}

uretprobe:$1
/self->ts/
{
	@latency[execname] = latency(timestamp - self->ts);
	@distribution_ns = quantize(timestamp - self->ts);
	self->ts = 0;
}

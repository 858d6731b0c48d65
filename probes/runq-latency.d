/* runq-latency: scheduler run-queue latency (time runnable but waiting for a CPU)
 *
 * The kernel adds the time a thread waited on a run queue, from its wakeup (or
 * preemption) until it ran, to its task_struct (sched_info.run_delay) when it is switched
 * in. Reading that at each of the thread's switch-outs (tracepoint:sched:sched_switch)
 * gives the wait before the slice that just ended: one sample per scheduling. Only the
 * thread's own switch-outs are used, so with -c this is exactly the container's threads.
 * Shows the latency distribution (with percentiles) per process.
 *
 * Arguments: none.
 * Run:  trace run runq-latency -c NAME -d 10s
 *
 * Example output (trace run runq-latency -c frontend, the demo under load):
 *   @runq_ns
 *   ┌──────────┬───────┬────────┬───────┬───────┬────────┬────────┐
 *   │ execname │ count │    p50 │   p90 │   p99 │   p999 │    max │
 *   ├──────────┼───────┼────────┼───────┼───────┼────────┼────────┤
 *   │ frontend │ 17774 │ 21.5us │ 172us │ 557us │ 2.06ms │ 7.47ms │
 *   └──────────┴───────┴────────┴───────┴───────┴────────┴────────┘
 *
 *   @waits
 *   ┌──────────┬───────┐
 *   │ execname │ count │
 *   ├──────────┼───────┤
 *   │ frontend │ 17774 │
 *   └──────────┴───────┘
 *
 *   @mean_ns
 *   ┌──────────┬──────────────────┐
 *   │ execname │ avg(this->delay) │
 *   ├──────────┼──────────────────┤
 *   │ frontend │            65226 │
 *   └──────────┴──────────────────┘
 */
sched:::off-cpu
/self->seen/
{
	this->delay = ((struct task_struct *)curthread)->sched_info.run_delay - self->delay;
	@runq_ns[execname] = latency(this->delay);
	@waits[execname] = count();
	@mean_ns[execname] = avg(this->delay);
}

sched:::off-cpu
{
	self->delay = ((struct task_struct *)curthread)->sched_info.run_delay;
	self->seen = 1;
}

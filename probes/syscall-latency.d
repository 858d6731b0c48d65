/* syscall-latency: system call latency by system call (count, mean, percentiles)
 *
 * Times every system call from entry to return (per thread) and shows the 10 most
 * frequent system calls, the 10 slowest on average (mean, in ns), and the latency
 * percentiles (p50/p90/p99/p999/max) of the 3 most frequent. Blocking calls (futex,
 * epoll_pwait, nanosleep, a read that waits) include the time spent waiting.
 *
 * Arguments: none.
 * Run:  trace run syscall-latency -c NAME -d 5s
 *
 * Example output (trace run syscall-latency -c frontend, the demo under load):
 *   @calls
 *   ┌─────────────┬───────┐
 *   │ probefunc   │ count │
 *   ├─────────────┼───────┤
 *   │ epoll_ctl   │     2 │
 *   │ accept4     │     4 │
 *   │ setsockopt  │     8 │
 *   │ madvise     │    10 │
 *   │ sched_yield │   272 │
 *   │ write       │  2293 │
 *   │ epoll_pwait │  4889 │
 *   │ read        │  5091 │
 *   │ nanosleep   │  5644 │
 *   │ futex       │  8874 │
 *   └─────────────┴───────┘
 *
 *   @mean_ns
 *   ┌─────────────┬───────────────┐
 *   │ probefunc   │ avg(this->ns) │
 *   ├─────────────┼───────────────┤
 *   │ read        │          2989 │
 *   │ epoll_ctl   │          3671 │
 *   │ accept4     │          6577 │
 *   │ madvise     │         11370 │
 *   │ write       │         18584 │
 *   │ tgkill      │         29075 │
 *   │ nanosleep   │        116317 │
 *   │ sched_yield │        299458 │
 *   │ epoll_pwait │        648033 │
 *   │ futex       │       1385398 │
 *   └─────────────┴───────────────┘
 *
 *   @latency_ns
 *   ┌───────────┬───────┬────────┬────────┬────────┬────────┬────────┐
 *   │ probefunc │ count │    p50 │    p90 │    p99 │   p999 │    max │
 *   ├───────────┼───────┼────────┼────────┼────────┼────────┼────────┤
 *   │ read      │  5091 │  2.5us │ 3.71us │ 16.9us │ 26.6us │ 45.1us │
 *   │ nanosleep │  5644 │   86us │  213us │  393us │ 2.82ms │ 4.06ms │
 *   │ futex     │  8874 │ 10.8us │ 4.46ms │ 5.37ms │ 96.5ms │  721ms │
 *   └───────────┴───────┴────────┴────────┴────────┴────────┴────────┘
 */
syscall:::entry
{
	self->ts = timestamp;
}

syscall:::return
/self->ts/
{
	this->ns = timestamp - self->ts;
	@calls[probefunc] = count();
	@mean_ns[probefunc] = avg(this->ns);
	@latency_ns[probefunc] = latency(this->ns);
	self->ts = 0;
}

END
{
	trunc(@calls, 10);
	trunc(@mean_ns, 10);
	trunc(@latency_ns, 3);
}

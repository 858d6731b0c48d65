/* syscall-count: system calls by process, and the busiest system calls
 *
 * Shows how many system calls each process makes (by PID and name), and which system
 * calls are made most, for the host or (with -c) a container. At the end: the 20 busiest
 * processes and system calls.
 *
 * Arguments: none.
 * Run:  trace run syscall-count -c NAME -d 5s
 *
 * Example output (trace run syscall-count -c frontend, the demo under load):
 *   @calls
 *   ┌─────┬──────────┬───────┐
 *   │ pid │ execname │ count │
 *   ├─────┼──────────┼───────┤
 *   │ 1   │ frontend │ 25475 │
 *   └─────┴──────────┴───────┘
 *
 *   @syscalls
 *   ┌─────────────┬───────┐
 *   │ probefunc   │ count │
 *   ├─────────────┼───────┤
 *   │ socket      │     3 │
 *   │ connect     │     3 │
 *   │ getpeername │     3 │
 *   │ getsockopt  │     3 │
 *   │ accept4     │     4 │
 *   │ getsockname │     5 │
 *   │ epoll_ctl   │     5 │
 *   │ setsockopt  │    20 │
 *   │ madvise     │    68 │
 *   │ sched_yield │   203 │
 *   │ write       │  2225 │
 *   │ epoll_pwait │  4754 │
 *   │ read        │  4989 │
 *   │ nanosleep   │  5017 │
 *   │ futex       │  8173 │
 *   └─────────────┴───────┘
 */
syscall:::entry
{
	@calls[pid, execname] = count();
	@syscalls[probefunc] = count();
}

END
{
	trunc(@calls, 20);
	trunc(@syscalls, 20);
}

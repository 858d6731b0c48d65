/* offcpu: off-CPU time by process and stack (where threads block, and for how long)
 *
 * Each time a thread leaves a CPU (tracepoint:sched:sched_switch) its kernel and user
 * stacks are kept. The next time it leaves, the time since then minus the CPU time it used
 * meanwhile (vtimestamp) is how long it was off CPU after the earlier switch, charged to
 * the stacks kept then. Only the thread's own switch-outs are used, so with -c this counts
 * exactly the container's threads. Includes time waiting on a run queue after preemption.
 * Go services show the scheduler's park stacks (runtime.park_m, runtime.netpollblock)
 * rather than the goroutine's: goroutines block in the runtime, not in the kernel.
 *
 * Arguments: none.  At the end, the 10 stacks with the most off-CPU time, in microseconds.
 * Run:  trace run offcpu -c NAME -d 10s
 *
 * Example output (trace run offcpu -c frontend, the demo under load (one of the 10 stacks)):
 *   @offcpu_us
 *   ┌──────────┬────────────────────────────────────┬────────────────────────────────────────────────────────┬───────────────────────┐
 *   │ execname │ self->kstack                       │ self->ustack                                           │ sum(this->off / 1000) │
 *   ├──────────┼────────────────────────────────────┼────────────────────────────────────────────────────────┼───────────────────────┤
 *   │ frontend │ __schedule+1576                    │ runtime.futex.abi0+35                                  │               3210387 │
 *   │          │ schedule+35                        │ runtime.notesleep+135                                  │                       │
 *   │          │ futex_do_wait+70                   │ runtime.stopm+140                                      │                       │
 *   │          │ __futex_wait+138                   │ runtime.findRunnable+2536                              │                       │
 *   │          │ futex_wait+154                     │ runtime.schedule+190                                   │                       │
 *   │          │ do_futex+253                       │ runtime.park_m+333                                     │                       │
 *   │          │ __x64_sys_futex+301                │ runtime.mcall+67                                       │                       │
 *   │          │ do_syscall_64+113                  │ runtime.netpollblock+247                               │                       │
 *   │          │ entry_SYSCALL_64_after_hwframe+118 │ internal/poll.runtime_pollWait+137                     │                       │
 *   │          │                                    │ internal/poll.(*pollDesc).wait+50                      │                       │
 *   │          │                                    │ internal/poll.(*FD).Read+602                           │                       │
 *   │          │                                    │ net.(*netFD).Read+41                                   │                       │
 *   │          │                                    │ net.(*conn).Read+69                                    │                       │
 *   │          │                                    │ net/http.(*connReader).Read+369                        │                       │
 *   │          │                                    │ bufio.(*Reader).fill+255                               │                       │
 *   │          │                                    │ bufio.(*Reader).ReadSlice+47                           │                       │
 *   │          │                                    │ bufio.(*Reader).ReadLine+39                            │                       │
 *   │          │                                    │ net/textproto.(*Reader).readLineSlice+153              │                       │
 *   │          │                                    │ net/http.readRequest+121                               │                       │
 *   │          │                                    │ net/http.(*conn).readRequest+586                       │                       │
 *   │          │                                    │ net/http.(*conn).serve+837                             │                       │
 *   │          │                                    │ net/http.(*Server).Serve.func3+46                      │                       │
 *   │          │                                    │ runtime.goexit.abi0+1                                  │                       │
 *   ├──────────┼────────────────────────────────────┼────────────────────────────────────────────────────────┼───────────────────────┤
 *   ...
 *   @total_us
 *   ┌──────────┬───────────────────────┐
 *   │ execname │ sum(this->off / 1000) │
 *   ├──────────┼───────────────────────┤
 *   │ frontend │              17325592 │
 *   └──────────┴───────────────────────┘
 */
/* bpftrace types a map by its first use in the program's text: assign the stack
   variables once before they are read below. */
BEGIN
{
	self->kstack = stack();
	self->ustack = ustack();
}

sched:::off-cpu
/self->ts/
{
	this->off = (timestamp - self->ts) - (vtimestamp - self->vts);
	@offcpu_us[execname, self->kstack, self->ustack] = sum(this->off / 1000);
	@total_us[execname] = sum(this->off / 1000);
}

sched:::off-cpu
{
	self->ts = timestamp;
	self->vts = vtimestamp;
	self->kstack = stack();
	self->ustack = ustack();
}

END
{
	trunc(@offcpu_us, 10);
}

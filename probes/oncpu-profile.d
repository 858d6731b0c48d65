/* oncpu-profile: on-CPU profile by user stack, sampled at 99 Hz on every CPU
 *
 * Samples what each CPU is running 99 times a second and counts the samples by process
 * and user stack (Go, C and other native code are symbolized; JIT code shows addresses).
 * At the end: the 10 hottest stacks, and samples per process. Multiply a count by ~10 ms
 * for CPU time.
 *
 * Arguments: none.
 * Run:  trace run oncpu-profile -c NAME -d 10s
 *
 * Example output (trace run oncpu-profile -c frontend, the demo under load (one of the 10 stacks)):
 *   @samples
 *   ┌──────────┬────────────────────────────────────────────────────────┬───────┐
 *   │ execname │ ustack()                                               │ count │
 *   ├──────────┼────────────────────────────────────────────────────────┼───────┤
 *   │ frontend │ runtime.futex.abi0+35                                  │     2 │
 *   │          │ runtime.notewakeup+41                                  │       │
 *   │          │ runtime.startm+488                                     │       │
 *   │          │ runtime.wakep+90                                       │       │
 *   │          │ runtime.newproc.func1+83                               │       │
 *   │          │ runtime.systemstack.abi0+73                            │       │
 *   │          │ net/http.(*connReader).startBackgroundRead+202         │       │
 *   │          │ net/http.(*conn).serve+1500                            │       │
 *   │          │ net/http.(*Server).Serve.func3+46                      │       │
 *   │          │ runtime.goexit.abi0+1                                  │       │
 *   └──────────┴────────────────────────────────────────────────────────┴───────┘
 *
 *   @by_process
 *   ┌──────────┬───────┐
 *   │ execname │ count │
 *   ├──────────┼───────┤
 *   │ frontend │    31 │
 *   └──────────┴───────┘
 */
profile-99
/pid != 0/
{
	@samples[execname, ustack()] = count();
	@by_process[execname] = count();
}

END
{
	trunc(@samples, 10);
}

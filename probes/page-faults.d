/* page-faults: user page faults by process, and the code that faulted most
 *
 * Counts page faults taken in user mode (tracepoint:exceptions:page_fault_user) by
 * process, and by the faulting instruction's function. A steady stream means memory being
 * touched for the first time (heap growth, new stacks, file mappings); major faults that
 * wait for disk are among them.
 *
 * Arguments: none.
 * Run:  trace run page-faults -c NAME -d 10s
 *
 * Example output (trace run page-faults -c frontend, the demo under load):
 *   @faults
 *   ┌─────┬──────────┬───────┐
 *   │ pid │ execname │ count │
 *   ├─────┼──────────┼───────┤
 *   │ 1   │ frontend │    48 │
 *   └─────┴──────────┴───────┘
 *
 *   @by_function
 *   ┌──────────┬──────────────────────────────┬───────┐
 *   │ execname │ usym(args->ip)               │ count │
 *   ├──────────┼──────────────────────────────┼───────┤
 *   │ frontend │ runtime.memclrNoHeapPointers │    16 │
 *   └──────────┴──────────────────────────────┴───────┘
 */
tracepoint:exceptions:page_fault_user
{
	@faults[pid, execname] = count();
	@by_function[execname, usym(args->ip)] = count();
}

END
{
	trunc(@by_function, 10);
}

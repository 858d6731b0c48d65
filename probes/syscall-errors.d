/* syscall-errors: failed system calls by system call, errno and process
 *
 * Counts system calls that returned an error, by system call, errno (as a number: 2
 * ENOENT, 11 EAGAIN, 13 EACCES, 111 ECONNREFUSED, 115 EINPROGRESS, ...) and process.
 * EAGAIN from non-blocking sockets is normal for Go and event-loop servers.
 *
 * Arguments: none.
 * Run:  trace run syscall-errors -c NAME -d 5s
 *
 * Example output (trace run syscall-errors -c frontend, the demo under load):
 *   @errors
 *   ┌───────────┬───────┬──────────┬───────┐
 *   │ probefunc │ errno │ execname │ count │
 *   ├───────────┼───────┼──────────┼───────┤
 *   │ accept4   │ 11    │ frontend │     1 │
 *   │ connect   │ 115   │ frontend │     2 │
 *   │ read      │ 11    │ frontend │  2777 │
 *   └───────────┴───────┴──────────┴───────┘
 */
syscall:::return
/errno != 0/
{
	@errors[probefunc, errno, execname] = count();
}

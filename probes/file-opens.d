/* file-opens: files opened, with paths, results and errors, as they happen
 *
 * Prints one line per open(2)/openat(2): time, process, PID, the file descriptor returned
 * (or -1 and the errno), and the path. At the end, opens counted by process and path.
 *
 * Arguments: none.
 * Run:  trace run file-opens -c NAME
 *
 * Example output (trace run file-opens -c frontend, during `podman exec frontend /app/frontend -h`):
 *   PROCESS          PID       FD ERRNO  PATH
 *   runc:[2:INIT]    47         5     0  /sys/kernel/mm/transparent_hugepage/hpage_pmd_size
 *   runc:[2:INIT]    47         5     0  /
 *   ...
 *   runc:[2:INIT]    47         4     0  /proc/self/fd
 *   frontend         47         3     0  /sys/kernel/mm/transparent_hugepage/hpage_pmd_size
 *
 *   @opens
 *   ┌───────────────┬────────────────────────────────────────────────────┬───────┬───────┐
 *   │ execname      │ this->path                                         │ errno │ count │
 *   ├───────────────┼────────────────────────────────────────────────────┼───────┼───────┤
 *   │ frontend      │ /sys/kernel/mm/transparent_hugepage/hpage_pmd_size │ 0     │     1 │
 *   ...
 */
#pragma D option quiet

BEGIN
{
	printf("%-16s %-7s %4s %5s  %s\n", "PROCESS", "PID", "FD", "ERRNO", "PATH");
}

/* The path's address is kept, and the path read at the return, once the kernel has read
   it too (so it is paged in). */
syscall::openat:entry
{
	self->path = arg1;
}

syscall::open:entry
{
	self->path = arg0;
}

syscall::openat:return, syscall::open:return
/self->path/
{
	this->path = copyinstr(self->path);
	printf("%-16s %-7d %4d %5d  %s\n", execname, pid, errno ? -1 : retval, errno, this->path);
	@opens[execname, this->path, errno] = count();
	self->path = 0;
}

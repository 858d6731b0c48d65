/* exec-snoop: processes started (execve), with their arguments and results
 *
 * Prints one line per execve(2): PID, parent PID, the program's path and its first
 * arguments (up to 5 after argv[0]; an ellipsis when there are more), and a second
 * line when it failed (errno: 2 ENOENT, 13 EACCES). With -c: commands run inside the container,
 * including `podman exec`/`kubectl exec` sessions.
 *
 * Arguments: none.
 * Run:  trace run exec-snoop -c NAME
 *
 * Example output (trace run exec-snoop -c frontend, during two `podman exec`s):
 *   PID     PPID    EVENT  COMMAND
 *   29      28396   exec   /app/frontend -h
 *   37      28447   exec   /app/frontend -port 1 -voting x
 *
 * Example output (trace run exec-snoop (the host), while sh ran a missing program):
 *   PID     PPID    EVENT  COMMAND
 *   ...
 *   25776   25695   exec   /usr/bin/sh -c /usr/local/bin/no-such-tool --help
 *   25777   25776   exec   /usr/local/bin/no-such-tool --help
 *   25777   25776   failed errno 2
 *   ...
 */
#pragma D option quiet

BEGIN
{
	printf("%-7s %-7s %-6s %s\n", "PID", "PPID", "EVENT", "COMMAND");
}

/* Read at entry: once execve succeeds, the caller's memory (and its argv) is gone. */
syscall::execve:entry
{
	/* argv ends at a NULL pointer: stop there (what follows it is the environment);
	   reading address 0 gives an empty string. */
	this->a1 = (uint64_t)args->argv[1];
	this->a2 = this->a1 ? (uint64_t)args->argv[2] : 0;
	this->a3 = this->a2 ? (uint64_t)args->argv[3] : 0;
	this->a4 = this->a3 ? (uint64_t)args->argv[4] : 0;
	this->a5 = this->a4 ? (uint64_t)args->argv[5] : 0;
	this->more = this->a5 ? (uint64_t)args->argv[6] : 0;
	printf("%-7d %-7d %-6s %s %s %s %s %s %s%s\n", pid, ppid, "exec", copyinstr(args->filename),
	    copyinstr(this->a1), copyinstr(this->a2), copyinstr(this->a3), copyinstr(this->a4),
	    copyinstr(this->a5), this->more ? " ..." : "");
	@execs[copyinstr(args->filename)] = count();
}

syscall::execve:return
/errno != 0/
{
	printf("%-7d %-7d %-6s errno %d\n", pid, ppid, "failed", errno);
	@failed[errno] = count();
}

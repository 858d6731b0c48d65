/* tcp-accept: inbound connections accepted (accept4(2)), with their peers
 *
 * Prints one line per IPv4/IPv6 connection a process accepts: process, PID, the new file
 * descriptor, and the peer's address and port. At the end, accepts counted by process and
 * peer address. (Failed accepts, such as EAGAIN from non-blocking listeners, are not
 * shown: see syscall-errors.)
 *
 * Arguments: none.
 * Run:  trace run tcp-accept -c NAME
 *
 * Example output (trace run tcp-accept -c frontend, as load started):
 *   PROCESS          PID       FD PEER                                     PORT
 *   frontend         1          4 127.0.0.1                               42004
 *   frontend         1          8 127.0.0.1                               42016
 *
 *   @accepts
 *   ┌──────────┬──────────────────────────────────┬───────┐
 *   │ execname │ ntop(this->sin->sin_addr.s_addr) │ count │
 *   ├──────────┼──────────────────────────────────┼───────┤
 *   │ frontend │ 127.0.0.1                        │     2 │
 *   └──────────┴──────────────────────────────────┴───────┘
 */
#pragma D option quiet

BEGIN
{
	printf("%-16s %-7s %4s %-39s %5s\n", "PROCESS", "PID", "FD", "PEER", "PORT");
}

syscall::accept4:entry, syscall::accept:entry
{
	self->sa = arg1;
}

syscall::accept4:return, syscall::accept:return
/self->sa && errno == 0 && ((struct sockaddr *)self->sa)->sa_family == 2/
{
	this->sin = (struct sockaddr_in *)self->sa;
	this->p = this->sin->sin_port;
	this->port = ((this->p & 0xff) << 8) | ((this->p >> 8) & 0xff);
	printf("%-16s %-7d %4d %-39s %5d\n", execname, pid, retval, ntop(this->sin->sin_addr.s_addr), this->port);
	@accepts[execname, ntop(this->sin->sin_addr.s_addr)] = count();
}

syscall::accept4:return, syscall::accept:return
/self->sa && errno == 0 && ((struct sockaddr *)self->sa)->sa_family == 10/
{
	this->sin6 = (struct sockaddr_in6 *)self->sa;
	this->p = this->sin6->sin6_port;
	this->port = ((this->p & 0xff) << 8) | ((this->p >> 8) & 0xff);
	printf("%-16s %-7d %4d %-39s %5d\n", execname, pid, retval, ntop(10, this->sin6->sin6_addr.in6_u.u6_addr8), this->port);
	@accepts[execname, ntop(10, this->sin6->sin6_addr.in6_u.u6_addr8)] = count();
}

syscall::accept4:return, syscall::accept:return
/self->sa/
{
	self->sa = 0;
}

/* tcp-connect: outbound connections (connect(2)) with their peers and results
 *
 * Prints one line per IPv4/IPv6 connect(2): process, PID, peer address and port, and the
 * result (0, or the errno: 115 EINPROGRESS is a non-blocking connect under way, as Go
 * and event loops do; 111 ECONNREFUSED; 110 ETIMEDOUT). At the end, connects counted by
 * process, peer and result.
 *
 * Arguments: none.
 * Run:  trace run tcp-connect -c NAME
 *
 * Example output (trace run tcp-connect -c frontend, as load started):
 *   PROCESS          PID     PEER                                     PORT ERRNO
 *   frontend         1       127.0.0.1                               37761   115
 *   frontend         1       127.0.0.1                               37089   115
 *   frontend         1       127.0.0.1                               37761   115
 *   frontend         1       127.0.0.1                               37089   115
 *
 *   @connects
 *   ┌──────────┬────────────┬────────────┬───────┬───────┐
 *   │ execname │ self->peer │ self->port │ errno │ count │
 *   ├──────────┼────────────┼────────────┼───────┼───────┤
 *   │ frontend │ 127.0.0.1  │ 37089      │ 115   │     2 │
 *   │ frontend │ 127.0.0.1  │ 37761      │ 115   │     2 │
 *   └──────────┴────────────┴────────────┴───────┴───────┘
 */
#pragma D option quiet

BEGIN
{
	printf("%-16s %-7s %-39s %5s %5s\n", "PROCESS", "PID", "PEER", "PORT", "ERRNO");
}

syscall::connect:entry
/((struct sockaddr *)arg1)->sa_family == 2/
{
	this->sin = (struct sockaddr_in *)arg1;
	self->peer = ntop(this->sin->sin_addr.s_addr);
	this->p = this->sin->sin_port;
	self->port = ((this->p & 0xff) << 8) | ((this->p >> 8) & 0xff);
	self->connecting = 1;
}

syscall::connect:entry
/((struct sockaddr *)arg1)->sa_family == 10/
{
	this->sin6 = (struct sockaddr_in6 *)arg1;
	self->peer = ntop(10, this->sin6->sin6_addr.in6_u.u6_addr8);
	this->p = this->sin6->sin6_port;
	self->port = ((this->p & 0xff) << 8) | ((this->p >> 8) & 0xff);
	self->connecting = 1;
}

syscall::connect:return
/self->connecting/
{
	printf("%-16s %-7d %-39s %5d %5d\n", execname, pid, self->peer, self->port, errno);
	@connects[execname, self->peer, self->port, errno] = count();
	self->connecting = 0;
	self->port = 0;
}

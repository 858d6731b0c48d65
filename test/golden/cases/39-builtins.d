syscall::getpid:entry
{
	@a[ppid, uid, gid, cpu] = count();
	@b[probeprov, probemod, probefunc, probename] = count();
	@c = max(vtimestamp);
	@d = max(walltimestamp);
	@e[tid] = count();
}

/* two probes, one clause: probefunc differs, so each gets its own bpftrace clause */
syscall::read:entry,
syscall::write:entry
{
	@[probefunc] = count();
}

syscall::read:entry
{
	@a[(int)arg0] = count();
	@b[(uint8_t)arg2] = count();
	@c[(unsigned long)arg1 & 0xfff] = count();
	@d[(string)execname] = count();
}

syscall::write:entry
{
	@total = sum(arg2);
	@mean = avg(arg2);
	@least = min(arg2);
	@most = max(arg2);
}

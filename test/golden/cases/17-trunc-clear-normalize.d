syscall::write:entry { @bytes[execname] = sum(arg2); @calls[execname] = count(); }
tick-1s
{
	normalize(@bytes, 1024);
	trunc(@calls, 5);
	printa(@bytes, @calls);
	clear(@bytes);
	trunc(@calls);
}

syscall::read:return { @lat[execname] = llquantize(arg0, 10, 0, 3, 10); }

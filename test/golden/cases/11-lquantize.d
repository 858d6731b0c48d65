syscall::read:return { @sz = lquantize(arg0, 0, 1000, 100); @small = lquantize(arg0, 0, 10); }

syscall::read:return { @sizes = lquantize(arg1, 0, 1000, 100); @lat = llquantize(arg1, 10, 0, 6, 10); }
syscall::write:return { @sizes = lquantize(arg1, 0, 500, 100); @lat = llquantize(arg1, 10, 1, 6, 10); }
syscall::openat:return { @step = lquantize(arg1, 0, 10, 20); @sizes = lquantize(arg1, 0, 1000, 100); }

syscall::read:return /execname == "cat"/ { @bytes = quantize(arg1); }

syscall::read:return { @bytes = quantise(arg0); }

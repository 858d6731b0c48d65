syscall::read:return { @bytes = quantize(); @l = lquantize(arg0, 0); }

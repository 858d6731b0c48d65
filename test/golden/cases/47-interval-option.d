//@ interval: 2s
syscall::read:entry { @reads[execname] = count(); @sizes = quantize(arg2); }

syscall::read:entry { @x[pid] = count(); }
syscall::write:entry { @x[pid] = sum(arg2); @y[pid] = count(); }
syscall::close:entry { @y[pid, tid] = count(); }

syscall::write:entry { @io[execname, pid, arg0] = sum(arg2); }

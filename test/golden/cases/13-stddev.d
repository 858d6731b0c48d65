syscall::write:entry { @sd[execname] = stddev(arg2); }

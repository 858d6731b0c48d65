syscall::openat:entry /strcontains(execname, "sh")/ { @shells[execname] = count(); }
syscall::openat:entry /strncmp(execname, "systemd", 7) == 0/ { @systemd = count(); }

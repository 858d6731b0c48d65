syscall::openat:return /errno != 0/ { @failures[execname, errno] = count(); }

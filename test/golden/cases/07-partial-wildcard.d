syscall::read*:entry /pid != 0/ { @calls[probefunc] = count(); }

syscall:::entry { @[probefunc] = count(); }

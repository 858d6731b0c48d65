/* In syscall::*: probes probefunc is the system call's number (shown as a name in keys):
   compared with a name, it compares numbers; every probe of the clause uses numbers. */
syscall::*:entry /probefunc == "read" || probefunc != "write"/ { @[probefunc] = count(); printf("%d\n", probefunc); }
syscall::*:return, syscall::openat:return { @ret[probefunc] = count(); }

syscall::*:entry /probefunc == "reed"/ { printf("%s\n", probefunc); @ = count(); }

syscall::read:entry /execname == 1/ { @a = sum(execname); printf("%d\n", execname); }

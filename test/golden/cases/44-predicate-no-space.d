syscall::read:entry/pid == 1/{@init = count();}

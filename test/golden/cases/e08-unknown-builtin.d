syscall::read:entry /pidd == 1/ { @[execnam] = count(); }

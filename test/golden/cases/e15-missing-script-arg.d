syscall::read:entry /pid == $1/ { @ = count(); }

syscall::read:entry { @[host] = count(); }

syscall::read:entry { @[goid] = count(); }

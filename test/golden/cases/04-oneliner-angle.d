syscall::write:entry < @[pid] = count() >

syscall::opne:entry { @ = count(); }

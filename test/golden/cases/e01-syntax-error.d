syscall::read:entry { @x = count( }

syscall::read:return < big = arg0 > 10; @c = count() >

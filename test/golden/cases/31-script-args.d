//@ args: 42 nginx
syscall::read:entry /pid == $1 || execname == $$2/ { @[execname] = count(); }
BEGIN { printf("watching %s from %s\n", $$2, $0); }

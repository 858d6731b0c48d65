//@ host: web-1
/* host: the name of the host the program runs on, a constant in each host's program. */
syscall::read:entry { @[host, execname] = count(); }
END { printf("%s done\n", host); }

#pragma D option quiet
#pragma D option aggrate=1s
#pragma D option strsize=128
syscall::openat:entry { printf("%s\n", copyinstr(arg1)); }

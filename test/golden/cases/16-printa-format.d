#pragma D option quiet
syscall::openat:entry { @opens[execname] = count(); }
END { printa("%-16s %@8d\n", @opens); }

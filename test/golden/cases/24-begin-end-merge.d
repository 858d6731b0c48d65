//@ args: 5
BEGIN { printf("starting\n"); }
BEGIN /$1 > 0/ { printf("limit %d\n", $1); }
syscall::read:entry { @reads = count(); }
END { printf("done\n"); }
END /1/ { printa(@reads); }

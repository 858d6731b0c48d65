BEGIN { total = 0; }
syscall::read:entry { total += 1; seen[pid] = 1; }
syscall::exit_group:entry { seen[pid] = 0; }
END { printf("reads: %d\n", total); }

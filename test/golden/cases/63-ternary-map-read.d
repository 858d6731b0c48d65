/* bpftrace 0.23 takes the wrong branch of a ?: that reads a map in a branch
   (`@m[k] ? @m[k] : c` is c): such a ?: becomes an if/else around its statement. */
syscall::read:entry { n[pid] = n[pid] + 1; total++; }
syscall::read:return { @[execname] = sum(n[pid] ? n[pid] : 1); this->t = total > 10 ? total : 10; printf("%d\n", this->t); }

syscall::kill:entry { raise(9); }

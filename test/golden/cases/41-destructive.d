#pragma D option destructive
syscall::kill:entry /arg1 == 9/ { system("echo %d killed by %d", arg0, pid); }

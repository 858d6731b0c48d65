syscall::openat:entry /pid == 1/ { trace(execname); trace(arg2); print(pid); ustack(); stack(); }

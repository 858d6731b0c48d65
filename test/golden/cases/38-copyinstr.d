syscall::openat:entry { @paths[copyinstr(arg1)] = count(); }
syscall::execve:entry { @exec[str(arg0, 64)] = count(); }

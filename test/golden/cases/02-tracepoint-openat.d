tracepoint:syscalls:sys_enter_openat { @[execname] = count(); }

//@ containers
tracepoint:syscalls:sys_enter_openat { @[container, execname] = count(); printf("%s %d\n", container, tid); }
tick-1s { @ticks = count(); }

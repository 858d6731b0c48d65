//@ go
//@ bpftrace: 0.17
pid$target::main.handle:return { @ = count(); }

//@ go
//@ bpftrace: 0.17
uprobe:main.go:75 { @ = count(); }

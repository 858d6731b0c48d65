//@ go
uprobe:main.vote { @votes[args.n, args.name] = count(); @raw[gostr(arg1, arg2)] = count(); }

//@ go
uprobe:main.vote { @[args.nme] = count(); }
uretprobe:main.nothere { @x = count(); }
uretprobe:main.* { @y = count(); }

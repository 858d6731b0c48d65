//@ go
uprobe:main.handle { @g[goid] = count(); }
uretprobe:main.vote { @r = sum(retval); @pid[pid, $target] = count(); }

//@ go
uprobe:main.handle < @[arg0] = count() >

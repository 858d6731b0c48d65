//@ target: none
pid$target::main.handle:entry { @ = count(); }
uprobe:main.handle { @u = count(); }

//@ go
uprobe:main.go:72 { @a = count(); }
uprobe:nope.go:3 { @b = count(); }
uprobe:errors.go:10 { @c = count(); }
uprobe:main.go:75 { @d[locals.status] = count(); }
uprobe:main.go:75 { @e[locals.voters, arg0] = count(); }
pid$target::url.go:886: { @f[args.key] = count(); }

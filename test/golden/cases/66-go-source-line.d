//@ go
// A source line's locals (int, string, bool) and a parameter; a line inlined into two functions
// attaches at both copies.
uprobe:main.go:75 { printf("%d %s %d %p\n", locals.n, locals.voter, locals.early, args.r); }
pid$target::url.go:886: { @[probefunc, args.v] = count(); }

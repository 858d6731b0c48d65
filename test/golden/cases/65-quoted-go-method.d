//@ go
/* A quoted probe part is literal: "main.(*Server).handle" names one method, not a pattern. */
uprobe:"main.(*Server).handle" { @ids[args.id] = count(); }
pid$target::"main.(*Server).handle":return { @returns = count(); }

/* goroutines: goroutines created per second, and by the code that starts them
 *
 * Counts calls of runtime.newproc1 (every `go` statement ends there) by the function that
 * executed the `go` statement (its caller PC, arg2), and prints the creation rate per
 * process every second.
 *
 * Arguments: none.
 * Run:  trace run goroutines -c NAME -d 10s
 *
 * Example output (trace run goroutines -c frontend, the demo under load):
 *   goroutines/s frontend               97
 *   goroutines/s frontend              200
 *   goroutines/s frontend              200
 *   goroutines/s frontend              200
 *
 *   @created_by
 *   ┌──────────┬────────────────────────────────────────────┬───────┐
 *   │ execname │ usym(arg2)                                 │ count │
 *   ├──────────┼────────────────────────────────────────────┼───────┤
 *   │ frontend │ net/http.(*Server).Serve                   │     1 │
 *   │ frontend │ net/http.(*connReader).startBackgroundRead │   800 │
 *   └──────────┴────────────────────────────────────────────┴───────┘
 */
#pragma D option quiet

uprobe:runtime.newproc1
{
	@created_by[execname, usym(arg2)] = count();
	@per_second[execname] = count();
}

tick-1s
{
	printa("goroutines/s %-16s %@8d\n", @per_second);
	clear(@per_second);
}

END
{
	trunc(@per_second);
}

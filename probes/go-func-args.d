/* go-func-args: a Go function's arguments and results, from DWARF names (main.vote)
 *
 * Reads main.vote(n int, name string) int's arguments by name (args.n, args.name: Go's
 * register ABI, names and types from the binary's DWARF) and its result at return
 * (retval, register AX). Counts calls by argument and keeps the largest result per n:
 * in the demo's voting service, each n's running vote total.
 *
 * Arguments: none. To read another function, copy this file and change the probes and
 * the args.NAME fields (integers, pointers, bools and strings can be read); see the
 * names with trace list -c NAME 'main.*'.
 * Run:  trace run go-func-args -c NAME -d 10s
 *
 * Example output (trace run go-func-args -c voting, the demo under load):
 *   @calls
 *   ┌────────┬────────────────────────────────┬───────┐
 *   │ args.n │ args.name                      │ count │
 *   ├────────┼────────────────────────────────┼───────┤
 *   │ 3      │ :stuck_out_tongue_winking_eye: │   266 │
 *   │ 1      │ :sunglasses:                   │   267 │
 *   │ 2      │ :doughnut:                     │   267 │
 *   └────────┴────────────────────────────────┴───────┘
 *
 *   @total
 *   ┌─────────┬─────────────┐
 *   │ self->n │ max(retval) │
 *   ├─────────┼─────────────┤
 *   │ 3       │       11321 │
 *   │ 2       │       12300 │
 *   │ 1       │       12711 │
 *   └─────────┴─────────────┘
 */
uprobe:main.vote
{
	@calls[args.n, args.name] = count();
	self->n = args.n;
	self->in = 1;
}

uretprobe:main.vote
/self->in/
{
	@total[self->n] = max(retval);
	self->in = 0;
}

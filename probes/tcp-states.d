/* tcp-states: TCP connections opened and closed, with both ends, from the kernel's state changes
 *
 * Uses tracepoint:sock:inet_sock_set_state. Prints one line when a connection is
 * established, actively (connect: SYN_SENT -> ESTABLISHED) or passively (accepted:
 * SYN_RECV -> ESTABLISHED), and counts every state transition. On loopback the passive
 * side's change runs in the connecting process, and on real NICs in softirq context, so
 * the process shown is the one the kernel was running: host-wide view, best without -c
 * (see tcp-connect and tcp-accept for per-process views).
 *
 * Arguments: none.
 * Run:  trace run tcp-states -d 10s
 *
 * Example output (trace run tcp-states (the host), while load started):
 *   OPEN     PROCESS          LADDR           LPORT  RADDR           RPORT
 *   active   wrk              127.0.0.1       38744  127.0.0.1       41125
 *   passive  wrk              127.0.0.1       41125  127.0.0.1       38744
 *   active   wrk              127.0.0.1       38748  127.0.0.1       41125
 *   passive  wrk              127.0.0.1       41125  127.0.0.1       38748
 *   ...
 *   @transitions
 *   ┌─────────────┬─────────────┬───────┐
 *   │ this->from  │ this->to    │ count │
 *   ├─────────────┼─────────────┼───────┤
 *   │ CLOSE_WAIT  │ LAST_ACK    │     2 │
 *   │ ESTABLISHED │ CLOSE_WAIT  │     2 │
 *   │ ESTABLISHED │ FIN_WAIT1   │     2 │
 *   │ FIN_WAIT1   │ FIN_WAIT2   │     2 │
 *   │ FIN_WAIT2   │ CLOSE       │     2 │
 *   │ LAST_ACK    │ CLOSE       │     2 │
 *   │ CLOSE       │ SYN_SENT    │    17 │
 *   │ LISTEN      │ SYN_RECV    │    17 │
 *   │ SYN_RECV    │ ESTABLISHED │    17 │
 *   │ SYN_SENT    │ ESTABLISHED │    17 │
 *   │ ESTABLISHED │ CLOSE       │    30 │
 *   └─────────────┴─────────────┴───────┘
 */
#pragma D option quiet

BEGIN
{
	printf("%-8s %-16s %-15s %-6s %-15s %s\n", "OPEN", "PROCESS", "LADDR", "LPORT", "RADDR", "RPORT");
}

tracepoint:sock:inet_sock_set_state
/args->protocol == 6 && args->family == 2 && args->newstate == 1/
{
	printf("%-8s %-16s %-15s %-6d %-15s %d\n", args->oldstate == 2 ? "active" : "passive", execname,
	    ntop(args->saddr), args->sport, ntop(args->daddr), args->dport);
}

tracepoint:sock:inet_sock_set_state
/args->protocol == 6/
{
	this->from = "?";
	if (args->oldstate == 1) { this->from = "ESTABLISHED"; }
	else if (args->oldstate == 2) { this->from = "SYN_SENT"; }
	else if (args->oldstate == 3) { this->from = "SYN_RECV"; }
	else if (args->oldstate == 4) { this->from = "FIN_WAIT1"; }
	else if (args->oldstate == 5) { this->from = "FIN_WAIT2"; }
	else if (args->oldstate == 6) { this->from = "TIME_WAIT"; }
	else if (args->oldstate == 7) { this->from = "CLOSE"; }
	else if (args->oldstate == 8) { this->from = "CLOSE_WAIT"; }
	else if (args->oldstate == 9) { this->from = "LAST_ACK"; }
	else if (args->oldstate == 10) { this->from = "LISTEN"; }
	else if (args->oldstate == 11) { this->from = "CLOSING"; }
	else if (args->oldstate == 12) { this->from = "NEW_SYN_RECV"; }
	this->to = "?";
	if (args->newstate == 1) { this->to = "ESTABLISHED"; }
	else if (args->newstate == 2) { this->to = "SYN_SENT"; }
	else if (args->newstate == 3) { this->to = "SYN_RECV"; }
	else if (args->newstate == 4) { this->to = "FIN_WAIT1"; }
	else if (args->newstate == 5) { this->to = "FIN_WAIT2"; }
	else if (args->newstate == 6) { this->to = "TIME_WAIT"; }
	else if (args->newstate == 7) { this->to = "CLOSE"; }
	else if (args->newstate == 8) { this->to = "CLOSE_WAIT"; }
	else if (args->newstate == 9) { this->to = "LAST_ACK"; }
	else if (args->newstate == 10) { this->to = "LISTEN"; }
	else if (args->newstate == 11) { this->to = "CLOSING"; }
	else if (args->newstate == 12) { this->to = "NEW_SYN_RECV"; }
	@transitions[this->from, this->to] = count();
}

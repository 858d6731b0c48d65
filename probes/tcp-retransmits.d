/* tcp-retransmits: TCP segments retransmitted, with both ends and the socket state
 *
 * Uses tracepoint:tcp:tcp_retransmit_skb. Prints one line per retransmitted segment
 * (local and remote address and port, and the TCP state: SYN_SENT means a connect whose
 * SYN goes unanswered), and counts them by remote end. Retransmits run from the kernel's
 * timers, not from the sending process, so this is a host-wide view: run it without -c.
 *
 * Arguments: none.
 * Run:  trace run tcp-retransmits -d 30s
 *
 * Example output (trace run tcp-retransmits, while a SYN went unanswered):
 *   LADDR           LPORT  RADDR           RPORT  STATE
 *   10.211.0.1      57190  10.211.0.2      80     SYN_SENT
 *   10.211.0.1      57190  10.211.0.2      80     SYN_SENT
 *   10.211.0.1      57190  10.211.0.2      80     SYN_SENT
 *
 *   @retransmits
 *   ┌───────────────────┬─────────────┬─────────────┬───────┐
 *   │ ntop(args->daddr) │ args->dport │ this->state │ count │
 *   ├───────────────────┼─────────────┼─────────────┼───────┤
 *   │ 10.211.0.2        │ 80          │ SYN_SENT    │     3 │
 *   └───────────────────┴─────────────┴─────────────┴───────┘
 */
#pragma D option quiet

BEGIN
{
	printf("%-15s %-6s %-15s %-6s %s\n", "LADDR", "LPORT", "RADDR", "RPORT", "STATE");
}

tracepoint:tcp:tcp_retransmit_skb
/args->family == 2/
{
	this->state = "?";
	if (args->state == 1) { this->state = "ESTABLISHED"; }
	else if (args->state == 2) { this->state = "SYN_SENT"; }
	else if (args->state == 3) { this->state = "SYN_RECV"; }
	else if (args->state == 4) { this->state = "FIN_WAIT1"; }
	else if (args->state == 5) { this->state = "FIN_WAIT2"; }
	else if (args->state == 6) { this->state = "TIME_WAIT"; }
	else if (args->state == 7) { this->state = "CLOSE"; }
	else if (args->state == 8) { this->state = "CLOSE_WAIT"; }
	else if (args->state == 9) { this->state = "LAST_ACK"; }
	else if (args->state == 10) { this->state = "LISTEN"; }
	else if (args->state == 11) { this->state = "CLOSING"; }
	else if (args->state == 12) { this->state = "NEW_SYN_RECV"; }
	printf("%-15s %-6d %-15s %-6d %s\n", ntop(args->saddr), args->sport, ntop(args->daddr), args->dport, this->state);
	@retransmits[ntop(args->daddr), args->dport, this->state] = count();
}

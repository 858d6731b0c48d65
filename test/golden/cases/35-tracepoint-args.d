tracepoint:sched:sched_switch { @switches[args->prev_comm] = count(); @prio[args->next_comm] = max(args->next_prio); }

/* Globals read in a clause before the one that assigns them get their type (and D's initial
   0) in BEGIN: bpftrace cannot cast a map it has not seen assigned. */
syscall::read:entry { @bytes = quantize((long)total); @last = sum((long)last[pid]); trace(self->ts); }
syscall::write:entry { total = total + arg2; last[pid] = arg2; self->ts = timestamp; }

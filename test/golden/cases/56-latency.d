syscall::read:entry { self->ts = timestamp; }
syscall::read:return /self->ts/ { @lat[execname] = latency(timestamp - self->ts); self->ts = 0; }

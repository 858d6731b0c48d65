syscall::nanosleep:entry { self->start = timestamp; }
syscall::nanosleep:return /self->start && timestamp - self->start > 20ms/ { @slow = count(); self->start = 0; }
syscall::nanosleep:return /self->start/ { @fast = count(); self->start = 0; }
tick-1m { exit(); }

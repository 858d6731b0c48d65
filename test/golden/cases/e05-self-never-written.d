syscall::read:return { @lat = quantize(timestamp - self->start); }

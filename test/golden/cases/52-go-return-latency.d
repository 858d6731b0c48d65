//@ go
pid$target::main.handle:entry { self->ts = timestamp; }
pid$target::main.handle:return /self->ts/ { @lat = quantize(timestamp - self->ts); @rv[arg1] = count(); self->ts = 0; }

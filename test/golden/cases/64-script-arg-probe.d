//@ go
//@ args: main.(*Server).handle
/* $1 in a probe name is expanded; the argument is literal text (its * is no wildcard), so
   args.NAME and return probes work on a pointer-receiver method. */
uprobe:$1 { self->ts = timestamp; @ids[args.id] = count(); }
uretprobe:$1 /self->ts/ { @lat = quantize(timestamp - self->ts); self->ts = 0; }

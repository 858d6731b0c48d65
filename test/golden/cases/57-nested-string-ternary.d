syscall::read:return { @k[arg0 < 0 ? "err" : arg0 == 0 ? "eof" : "data"] = count(); }

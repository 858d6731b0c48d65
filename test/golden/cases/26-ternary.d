syscall::read:return { @kind[arg0 < 0 ? "error" : "ok"] = count(); @z[arg0 == 0 ? 1 : arg0 > 100 ? 2 : 3] = count(); }

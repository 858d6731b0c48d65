profile:hz:49 { @[kstack] = count(); @[stack] = count(); }

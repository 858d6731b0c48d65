syscall::write:entry /(arg0 == 1) ^^ (arg2 > 100)/ { @odd = count(); }

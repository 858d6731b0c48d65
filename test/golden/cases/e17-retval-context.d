syscall::read:entry { @r = sum(retval); @e[errno] = count(); }
BEGIN { @a = sum(arg0); }

proc:::exec-success { @execs[execname] = count(); }
proc:::exit { @exits = count(); }

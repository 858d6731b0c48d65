profile:hz:99 { @samples[cpu] = count(); }
interval:s:3 { exit(); }

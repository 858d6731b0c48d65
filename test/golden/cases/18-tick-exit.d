tick-5s { exit(0); }
tick-100 { @ticks = count(); }
tick-250ms { @quarter = count(); }

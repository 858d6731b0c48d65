pid$target::readline:entry { @calls = count(); }

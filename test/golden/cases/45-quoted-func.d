uprobe:/usr/bin/bash:"readline" { @q = count(); }

uprobe:/usr/bin/bash:readline { @[pid, tid] = count(); }

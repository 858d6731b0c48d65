uretprobe:/usr/bin/bash:readline { @r = max(retval); }

kprobe:do_sys_open { @opens = count(); }
fbt::vfs_read:entry { @reads = count(); }

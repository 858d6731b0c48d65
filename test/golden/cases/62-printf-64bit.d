/* D formats an integer at its width; bpftrace's %d, %u, %x print 32 bits (and has no %i). */
BEGIN { printf("%d %5i %-3u %x %X %o %ld %s %c %d %x %%\n", timestamp, 7, 8, 255, 255, 8, 9, "s", 65, (int)-5, (unsigned short)65535); trace(timestamp); print((int)pid); exit(); }

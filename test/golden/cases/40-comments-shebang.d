#!/usr/sbin/dtrace -s
/*
 * A header comment, as DTrace scripts have.
 */
// line comment
syscall::close:entry /* inline */ { @closes = count(); } // trailing

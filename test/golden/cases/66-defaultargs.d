//@ target: none
#pragma D option defaultargs
/* With defaultargs a missing $N is 0 ($$N is ""), in probe names empty: syscall::read$1:entry. */
syscall::read$1:entry /pid != $1/ { @[$$2] = count(); }

/* this-> variables assigned integers of different widths, or only inside a branch, are
   declared at the clause's start (bpftrace 0.23 scopes a variable to its block). */
syscall::read:entry
{
	this->n = arg2;
	this->n = -1;
	if (arg0 > 2) {
		this->fd = arg0;
		this->who = execname;
	} else {
		this->fd = 0;
		this->who = "low";
	}
	printf("%d %d %s\n", this->n, this->fd, this->who);
}

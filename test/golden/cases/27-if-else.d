syscall::read:return
{
	if (arg0 < 0) {
		@errors = count();
	} else if (arg0 == 0) {
		@eof = count();
	} else {
		@bytes = sum(arg0);
	}
}

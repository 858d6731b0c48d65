syscall::write:entry
{
	this->len = arg2;
	this->big = this->len > 4096;
	@sizes[this->big] = sum(this->len);
}

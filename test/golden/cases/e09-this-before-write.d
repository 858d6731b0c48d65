syscall::read:entry { @x = sum(this->len); this->len = arg2; }

syscall::write:entry
{
	@x = sum(1 + 2 * 3 - 4 / 2 % 3);
	@y = sum((1 + 2) * 3 << 1 >> 1);
	@z = sum(arg2 & 0xff | 0x100 ^ 0x3);
	@w[arg0 == 1 || arg0 == 2 && arg1 != 0] = count();
}

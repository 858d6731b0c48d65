BEGIN
{
	printf("tab\there \"quoted\" back\\slash\n");
	printf("%s pid=%d hex=%x\n", execname, pid, 255);
	printf("bell\a nul-free \x41\101\n");
	exit();
}

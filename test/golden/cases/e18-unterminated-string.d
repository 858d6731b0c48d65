BEGIN { printf("hello
); }

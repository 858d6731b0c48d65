module ctrace.dev/demo

go 1.19

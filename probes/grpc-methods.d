/* grpc-methods: gRPC server calls by method, with latency (grpc-go servers)
 *
 * For Go services built with google.golang.org/grpc (grpc-go 1.2x to 1.53): counts the
 * unary and streaming calls a server handles by method name (MethodDesc.MethodName /
 * StreamDesc.StreamName, read from the descriptor google.golang.org/grpc.(*Server)
 * .processUnaryRPC / processStreamingRPC receive), and times each from that entry until
 * the server writes the call's status (internal/transport.(*http2Server).WriteStatus, on
 * the same goroutine), with percentiles.
 *
 * Arguments: none. grpc-go 1.54 and later pass a context first, which moves the
 * descriptor from arg5 to arg7: change arg5 below. Binaries without grpc-go have none of
 * these functions, and trace says so. (The demo services speak plain HTTP; the test runs
 * this against a small grpc-go server with the standard health service.)
 * Run:  trace run grpc-methods -c NAME -d 10s
 *
 * Example output (trace run grpc-methods -p PID, a grpc-go 1.33 server answering health checks):
 *   @calls
 *   ┌────────────┬────────────┬───────┐
 *   │ this->name │ this->kind │ count │
 *   ├────────────┼────────────┼───────┤
 *   │ Check      │ unary      │   200 │
 *   └────────────┴────────────┴───────┘
 *
 *   @latency
 *   ┌────────────┬───────┬────────┬──────┬────────┬────────┬────────┐
 *   │ this->name │ count │    p50 │  p90 │    p99 │   p999 │    max │
 *   ├────────────┼───────┼────────┼──────┼────────┼────────┼────────┤
 *   │ Check      │   200 │ 12.3us │ 22us │ 98.3us │ 98.3us │ 98.3us │
 *   └────────────┴───────┴────────┴──────┴────────┴────────┴────────┘
 */
uprobe:"google.golang.org/grpc.(*Server).processUnaryRPC"
{
	self->ts = timestamp;
	self->method = arg5;
	self->kind = 1;
}

uprobe:"google.golang.org/grpc.(*Server).processStreamingRPC"
{
	self->ts = timestamp;
	self->method = arg5;
	self->kind = 2;
}

uprobe:"google.golang.org/grpc/internal/transport.(*http2Server).WriteStatus"
/self->ts/
{
	/* MethodDesc and StreamDesc both start with the method's name (a Go string). */
	this->name = gostr(*(uint64_t *)self->method, *(uint64_t *)(self->method + 8));
	this->kind = "";	/* (declared first: a string ?: becomes an if/else) */
	this->kind = self->kind == 1 ? "unary" : "streaming";
	@calls[this->name, this->kind] = count();
	@latency[this->name] = latency(timestamp - self->ts);
	self->ts = 0;
	self->method = 0;
	self->kind = 0;
}

/* http-requests: Go net/http server requests by method, path and status, with latency
 *
 * For Go HTTP/1.x servers built on net/http (most are). Times each request from
 * net/http.serverHandler.ServeHTTP's entry to its return (per goroutine), takes the
 * status from the first net/http.(*response).WriteHeader (200 when the handler never
 * set one), and reads the method and path from the *http.Request (Method at offset 0,
 * URL at 16; url.URL's Path at 56: the same in every Go release since 1.x). Counts
 * requests by method, path and status, and shows latency percentiles by method and path.
 *
 * Arguments: none. Needs the binary's symbols (not stripped with -s) for the probes, and
 * its DWARF for args.req.
 * Run:  trace run http-requests -c NAME -d 10s
 *
 * Example output (trace run http-requests -c frontend, the demo under load):
 *   @requests
 *   ┌──────────────┬────────────┬──────────────┬───────┐
 *   │ this->method │ this->path │ this->status │ count │
 *   ├──────────────┼────────────┼──────────────┼───────┤
 *   │ GET          │ /vote      │ 500          │    80 │
 *   │ GET          │ /vote      │ 200          │   720 │
 *   └──────────────┴────────────┴──────────────┴───────┘
 *
 *   @latency
 *   ┌──────────────┬────────────┬───────┬───────┬────────┬────────┬────────┬────────┐
 *   │ this->method │ this->path │ count │   p50 │    p90 │    p99 │   p999 │    max │
 *   ├──────────────┼────────────┼───────┼───────┼────────┼────────┼────────┼────────┤
 *   │ GET          │ /vote      │   800 │ 770us │ 1.08ms │ 3.74ms │ 9.44ms │ 9.44ms │
 *   └──────────────┴────────────┴───────┴───────┴────────┴────────┴────────┴────────┘
 */
uprobe:"net/http.serverHandler.ServeHTTP"
{
	self->ts = timestamp;
	self->req = args.req;
}

uprobe:"net/http.(*response).WriteHeader"
/self->ts && !self->status/
{
	self->status = arg1;
}

uretprobe:"net/http.serverHandler.ServeHTTP"
/self->ts/
{
	this->url = *(uint64_t *)(self->req + 16);
	this->method = gostr(*(uint64_t *)self->req, *(uint64_t *)(self->req + 8));
	this->path = gostr(*(uint64_t *)(this->url + 56), *(uint64_t *)(this->url + 64));
	/* (via this->: bpftrace gets `@m[k] ? @m[k] : 200` wrong, always 200) */
	this->status = self->status;
	this->status = this->status ? this->status : 200;
	@requests[this->method, this->path, this->status] = count();
	@latency[this->method, this->path] = latency(timestamp - self->ts);
	self->ts = 0;
	self->req = 0;
	self->status = 0;
}

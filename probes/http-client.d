/* http-client: outbound HTTP requests a Go service makes (net/http.Client), by host, path and status, with latency
 *
 * Times net/http.send (every request a net/http.Client sends, one per redirect hop, goes
 * through it) per goroutine, reads the request's host and path from the *http.Request
 * (args.ireq; URL at offset 16; url.URL's Host at 40, Path at 56) and the status from the
 * *http.Response it returns (StatusCode at 16), or 0 when the request failed (no
 * response: refused, timeout, ...). For the demo frontend: its calls to voting and emoji.
 *
 * Arguments: none.
 * Run:  trace run http-client -c NAME -d 10s
 *
 * Example output (trace run http-client -c frontend, the demo under load):
 *   @calls
 *   ┌─────────────────┬────────────┬──────────────┬───────┐
 *   │ this->host      │ this->path │ this->status │ count │
 *   ├─────────────────┼────────────┼──────────────┼───────┤
 *   │ 127.0.0.1:37761 │ /vote      │ 500          │    80 │
 *   │ 127.0.0.1:37761 │ /vote      │ 200          │   720 │
 *   │ 127.0.0.1:37089 │ /emoji     │ 200          │   800 │
 *   └─────────────────┴────────────┴──────────────┴───────┘
 *
 *   @latency
 *   ┌─────────────────┬────────────┬───────┬───────┬───────┬────────┬────────┬────────┐
 *   │ this->host      │ this->path │ count │   p50 │   p90 │    p99 │   p999 │    max │
 *   ├─────────────────┼────────────┼───────┼───────┼───────┼────────┼────────┼────────┤
 *   │ 127.0.0.1:37089 │ /emoji     │   800 │ 328us │ 483us │ 2.75ms │ 13.4ms │ 13.4ms │
 *   │ 127.0.0.1:37761 │ /vote      │   800 │ 328us │ 459us │ 1.11ms │ 6.16ms │ 6.16ms │
 *   └─────────────────┴────────────┴───────┴───────┴───────┴────────┴────────┴────────┘
 */
uprobe:"net/http.send"
{
	self->ts = timestamp;
	self->url = *(uint64_t *)(args.ireq + 16);
}

uretprobe:"net/http.send"
/self->ts/
{
	this->status = retval ? *(uint64_t *)(retval + 16) : 0;
	this->host = gostr(*(uint64_t *)(self->url + 40), *(uint64_t *)(self->url + 48));
	this->path = gostr(*(uint64_t *)(self->url + 56), *(uint64_t *)(self->url + 64));
	@calls[this->host, this->path, this->status] = count();
	@latency[this->host, this->path] = latency(timestamp - self->ts);
	self->ts = 0;
	self->url = 0;
}

/* http-tap: live HTTP request tap: one line per request with method, path, status and latency
 *
 * Like `linkerd tap`, for Go services on net/http (HTTP/1.x): prints every request as it
 * completes: the time (UTC), container, client address, method, path, status and the
 * server's latency (net/http.serverHandler.ServeHTTP entry to return; the status is the
 * first net/http.(*response).WriteHeader's, 200 when the handler never set one). Method,
 * path and client come from the *http.Request (Method at offset 0, URL at 16, RemoteAddr
 * at 176; url.URL's Path at 56: unchanged for many Go releases).
 *
 * Arguments: none. Needs -c (the container column).
 * Run:  trace run http-tap -c NAME
 *
 * Example output (trace run http-tap -c frontend, the demo under load):
 *   TIME         CONTAINER                        CLIENT                METHOD PATH                     STATUS LATENCY_US
 *   05:59:32.353 ctrace-demo-probes-dev-frontend  127.0.0.1:46084       GET    /vote                       200       2841
 *   05:59:32.359 ctrace-demo-probes-dev-frontend  127.0.0.1:46084       GET    /vote                       200       4757
 *   05:59:32.362 ctrace-demo-probes-dev-frontend  127.0.0.1:46088       GET    /vote                       200       2432
 *   05:59:32.365 ctrace-demo-probes-dev-frontend  127.0.0.1:46088       GET    /vote                       200        801
 *   05:59:32.370 ctrace-demo-probes-dev-frontend  127.0.0.1:46088       GET    /vote                       200        972
 *   05:59:32.375 ctrace-demo-probes-dev-frontend  127.0.0.1:46088       GET    /vote                       200        955
 *   05:59:32.380 ctrace-demo-probes-dev-frontend  127.0.0.1:46088       GET    /vote                       200        735
 *   05:59:32.386 ctrace-demo-probes-dev-frontend  127.0.0.1:46088       GET    /vote                       500       1145
 *   ...
 */
#pragma D option quiet

BEGIN
{
	printf("%-12s %-32s %-21s %-6s %-24s %6s %10s\n", "TIME", "CONTAINER", "CLIENT", "METHOD", "PATH", "STATUS", "LATENCY_US");
}

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
	/* (via this->: bpftrace gets `@m[k] ? @m[k] : 200` wrong, always 200) */
	this->status = self->status;
	this->status = this->status ? this->status : 200;
	this->s = walltimestamp / 1000000000;
	printf("%02d:%02d:%02d.%03d %-32s %-21s %-6s %-24s %6d %10d\n",
	    (this->s / 3600) % 24, (this->s / 60) % 60, this->s % 60, (walltimestamp / 1000000) % 1000,
	    container,
	    gostr(*(uint64_t *)(self->req + 176), *(uint64_t *)(self->req + 184)),
	    gostr(*(uint64_t *)self->req, *(uint64_t *)(self->req + 8)),
	    gostr(*(uint64_t *)(this->url + 56), *(uint64_t *)(this->url + 64)),
	    this->status, (timestamp - self->ts) / 1000);
	self->ts = 0;
	self->req = 0;
	self->status = 0;
}

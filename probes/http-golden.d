/* http-golden: HTTP golden metrics per container, every second: requests/s, success rate, latency percentiles
 *
 * For Go services on net/http (HTTP/1.x), like `linkerd stat`: every second, per traced
 * container, the requests served in that second, the share that succeeded (status below
 * 500), and the latency count/p50/p90/p99/p999/max of that second's requests. At the end,
 * the same over the whole run. Latency is the server's: from
 * net/http.serverHandler.ServeHTTP's entry to its return; the status is the first
 * net/http.(*response).WriteHeader's (200 when the handler never set one).
 *
 * Arguments: none. Needs -c: one or more containers running the same image (replicas:
 * the probes are on the first container's executable, so for different services run
 * one trace per service).
 * Run:  trace run http-golden -c web-1 -c web-2
 *
 * Example output (trace run http-golden -c frontend, the demo under load (voting fails 10%)):
 *   CONTAINER                                     RPS   SUCCESS
 *   ctrace-demo-probes-dev-frontend               250    90.00%
 *   @latency
 *   ┌─────────────────────────────────┬───────┬───────┬───────┬────────┬────────┬────────┐
 *   │ container                       │ count │   p50 │   p90 │    p99 │   p999 │    max │
 *   ├─────────────────────────────────┼───────┼───────┼───────┼────────┼────────┼────────┤
 *   │ ctrace-demo-probes-dev-frontend │   250 │ 434us │ 508us │ 1.15ms │ 5.51ms │ 5.51ms │
 *   └─────────────────────────────────┴───────┴───────┴───────┴────────┴────────┴────────┘
 *
 *   whole run:
 *   CONTAINER                                REQUESTS   SUCCESS
 *   ctrace-demo-probes-dev-frontend               706    90.08%
 *   @total_latency
 *   ┌─────────────────────────────────┬───────┬───────┬───────┬────────┬────────┬────────┐
 *   │ container                       │ count │   p50 │   p90 │    p99 │   p999 │    max │
 *   ├─────────────────────────────────┼───────┼───────┼───────┼────────┼────────┼────────┤
 *   │ ctrace-demo-probes-dev-frontend │   706 │ 434us │ 541us │ 6.55ms │ 13.4ms │ 13.4ms │
 *   └─────────────────────────────────┴───────┴───────┴───────┴────────┴────────┴────────┘
 */
#pragma D option quiet

uprobe:"net/http.serverHandler.ServeHTTP"
{
	self->ts = timestamp;
}

uprobe:"net/http.(*response).WriteHeader"
/self->ts && !self->status/
{
	self->status = arg1;
}

uretprobe:"net/http.serverHandler.ServeHTTP"
/self->ts/
{
	/* (via this->: bpftrace gets `@m[k] ? @m[k] : 200` wrong, always 200) */
	this->status = self->status;
	this->status = this->status ? this->status : 200;
	this->ns = timestamp - self->ts;
	@rps[container] = count();
	@success[container] = avg(this->status < 500 ? 10000 : 0);
	@latency[container] = latency(this->ns);
	@total_requests[container] = count();
	@total_success[container] = avg(this->status < 500 ? 10000 : 0);
	@total_latency[container] = latency(this->ns);
	self->ts = 0;
	self->status = 0;
}

tick-1s
{
	normalize(@success, 100);
	printf("\n%-40s %8s %9s\n", "CONTAINER", "RPS", "SUCCESS");
	printa("%-40s %@8d %@8.2f%%\n", @rps, @success);
	printa(@latency);
	trunc(@rps);
	trunc(@success);
	trunc(@latency);
}

END
{
	normalize(@total_success, 100);
	printf("\nwhole run:\n%-40s %8s %9s\n", "CONTAINER", "REQUESTS", "SUCCESS");
	printa("%-40s %@8d %@8.2f%%\n", @total_requests, @total_success);
	printa(@total_latency);
	/* the last, partial second is in the totals */
	trunc(@rps);
	trunc(@success);
	trunc(@latency);
}

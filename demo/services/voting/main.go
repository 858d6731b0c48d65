// voting: counts votes. GET /vote?n=N calls vote(n, name). Failures and slow requests are
// chosen by the request's sequence number, never at random, so a test knows exactly how
// many of its requests fail.
package main

import (
	"flag"
	"fmt"
	"math"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"ctrace.dev/demo/internal/svc"
)

var (
	mu    sync.Mutex
	tally = map[int]int{}
	seq   atomic.Int64
)

// vote records one vote for n (named name) and returns n's new total.
//
//go:noinline
func vote(n int, name string) int {
	mu.Lock()
	defer mu.Unlock()
	tally[n]++
	_ = name
	return tally[n]
}

// fails says whether request number s (1-based) fails at the given rate in parts per
// million: exactly floor(N*rate) of the first N requests fail, evenly spread (rate 0.1
// fails requests 10, 20, 30, ...). Integer arithmetic, so no float rounding surprises.
func fails(s, ppm int64) bool {
	return ppm > 0 && s*ppm/1_000_000 > (s-1)*ppm/1_000_000
}

func main() {
	c := svc.Flags("voting", 8081)
	failRate := flag.Float64("fail-rate", 0, "fraction of requests answered 500 (deterministic: by request sequence number)")
	slowEvery := flag.Int64("slow-every", 0, "every K-th request is slow (0: none)")
	slowMs := flag.Int("slow-ms", 0, "extra latency of a slow request, ms")
	flag.Parse()
	if *failRate < 0 || *failRate > 1 {
		fmt.Fprintln(os.Stderr, "voting: -fail-rate must be within [0, 1]")
		os.Exit(2)
	}
	ppm := int64(math.Round(*failRate * 1_000_000))

	s := svc.New(c)
	s.Handle("/vote", func(w http.ResponseWriter, r *http.Request) int {
		n, err := svc.IntParam(r, "n", 0)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return http.StatusBadRequest
		}
		// Only well-formed /vote requests take a sequence number.
		k := seq.Add(1)
		if *slowEvery > 0 && k%*slowEvery == 0 && *slowMs > 0 {
			time.Sleep(time.Duration(*slowMs) * time.Millisecond)
		}
		total := vote(n, svc.EmojiName(n))
		if fails(k, ppm) {
			http.Error(w, fmt.Sprintf("injected failure (request %d)", k), http.StatusInternalServerError)
			return http.StatusInternalServerError
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, "{\"n\":%d,\"votes\":%d}\n", n, total)
		return http.StatusOK
	})
	s.Run()
}

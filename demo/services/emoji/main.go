// emoji: names emojis. GET /emoji?n=N[&ms=M] looks n up (after sleeping M ms if asked);
// GET /churn?depth=N recurses N deep with big frames and runs the GC at the bottom, the
// worst case for return probes on Go (stacks are copied and scanned).
package main

import (
	"encoding/json"
	"flag"
	"net/http"
	"runtime"
	"sync/atomic"
	"time"

	"ctrace.dev/demo/internal/svc"
)

var latency time.Duration

// lookup returns n's emoji name. The fixed -latency-ms is spent inside it, so its
// latency (and the frontend's handle) shows the setting.
//
//go:noinline
func lookup(n int) string {
	if latency > 0 {
		time.Sleep(latency)
	}
	return svc.EmojiName(n)
}

// sleepFor sleeps ms milliseconds: requests choose it (?ms=2, 8, 32) to shape a latency
// distribution. Called only when ms > 0.
//
//go:noinline
func sleepFor(ms int) {
	time.Sleep(time.Duration(ms) * time.Millisecond)
}

// churn recurses depth times with a 1 KiB frame each, which makes the runtime grow
// (copy) the goroutine's stack, and calls runtime.GC() at the bottom, which scans it.
// Both walk return addresses: a uretprobe's trampoline address there crashes Go.
//
//go:noinline
func churn(depth int) {
	var pad [1024]byte
	pad[depth%len(pad)] = byte(depth)
	if depth > 0 {
		churn(depth - 1)
	} else {
		runtime.GC()
	}
	// Read the frame after the call so it must live across it (and the array is kept).
	atomic.AddInt64(&sink, int64(pad[depth%len(pad)]))
}

// sink keeps churn's work observable so the compiler cannot drop it.
var sink int64

func main() {
	c := svc.Flags("emoji", 8082)
	latencyMs := flag.Int("latency-ms", 0, "fixed latency added to every lookup, ms")
	flag.Parse()
	latency = time.Duration(*latencyMs) * time.Millisecond

	s := svc.New(c)
	s.Handle("/emoji", func(w http.ResponseWriter, r *http.Request) int {
		n, err := svc.IntParam(r, "n", 0)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return http.StatusBadRequest
		}
		ms, err := svc.IntParam(r, "ms", 0)
		if err != nil || ms < 0 || ms > 60_000 {
			http.Error(w, "bad ms (0..60000)", http.StatusBadRequest)
			return http.StatusBadRequest
		}
		if ms > 0 {
			sleepFor(ms)
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"n": n, "emoji": lookup(n)})
		return http.StatusOK
	})
	s.Handle("/churn", func(w http.ResponseWriter, r *http.Request) int {
		depth, err := svc.IntParam(r, "depth", 100)
		if err != nil || depth < 0 || depth > 100_000 {
			http.Error(w, "bad depth (0..100000)", http.StatusBadRequest)
			return http.StatusBadRequest
		}
		churn(depth)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"depth": depth})
		return http.StatusOK
	})
	s.Run()
}

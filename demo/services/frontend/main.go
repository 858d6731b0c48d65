// frontend: the demo's web tier (like Emojivoto's web). GET /vote?n=N calls voting, then
// emoji, and answers with the worst status of the two.
package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"time"

	"ctrace.dev/demo/internal/svc"
)

var (
	votingURL string
	emojiURL  string
	client    *http.Client
)

// handle runs once per /vote request with the request's n and returns the HTTP status.
// It is the probe target of `uprobe:main.handle`: n is its first argument (register AX
// under Go's register ABI), and it spans both downstream calls, so its latency is the
// request's. noinline keeps it a real function with its own symbol.
//
//go:noinline
func handle(n int) int {
	status := http.StatusOK
	// Both downstream calls are made even if voting fails, so each service sees every n:
	// trace counts in voting and emoji then equal the load generator's byN exactly.
	if s := call(fmt.Sprintf("%s/vote?n=%d", votingURL, n)); s != http.StatusOK {
		status = s
	}
	if s := call(fmt.Sprintf("%s/emoji?n=%d", emojiURL, n)); s != http.StatusOK && status == http.StatusOK {
		status = s
	}
	return status
}

func call(url string) int {
	resp, err := client.Get(url)
	if err != nil {
		return http.StatusBadGateway
	}
	// Drain so the keep-alive connection is reused.
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode >= 500 {
		return http.StatusInternalServerError
	}
	return resp.StatusCode
}

func main() {
	c := svc.Flags("frontend", 8080)
	flag.StringVar(&votingURL, "voting", "http://127.0.0.1:8081", "voting service base URL")
	flag.StringVar(&emojiURL, "emoji", "http://127.0.0.1:8082", "emoji service base URL")
	flag.Parse()
	client = &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 128, IdleConnTimeout: 30 * time.Second},
	}

	s := svc.New(c)
	s.Handle("/vote", func(w http.ResponseWriter, r *http.Request) int {
		n, err := svc.IntParam(r, "n", 0)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return http.StatusBadRequest
		}
		// voter and early are optional and only echoed back: with n they give the source-line
		// probe on the next line an int, a string and a bool local whose values the request sets.
		q := r.URL.Query()
		voter, early := q.Get("voter"), q.Get("early") == "1"
		status := handle(n)
		if early && voter != "" {
			w.Header().Set("X-Voter", voter)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprintf(w, "{\"n\":%d,\"status\":%d}\n", n, status)
		return status
	})
	s.Run()
}

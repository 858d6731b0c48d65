// loadgen sends a bounded load to a loopback URL and prints one JSON summary on stdout.
//
//	loadgen -url 'http://127.0.0.1:8080/vote?n={n}' -requests 200 -c 4 -ns 1,2,3
//	loadgen -url 'http://127.0.0.1:8082/emoji?n={n}&ms={ms}' -duration 5s -rate 200 -ms 2,8,32
//
// The values of {n} (and {ms}) are chosen from the given lists, round-robin (-seed 0) or
// pseudo-randomly from -seed, and every request sent is counted in byN: tests compare trace
// counts against it exactly.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

type job struct {
	n, ms int
}

type result struct {
	job
	status int // 0: transport error
	err    string
	ms     float64
}

type summary struct {
	URL          string             `json:"url"`
	Sent         int                `json:"sent"`
	OK           int                `json:"ok"`
	Failed       int                `json:"failed"`
	Errors       int                `json:"errors"`
	ByN          map[string]int     `json:"byN"`
	OKByN        map[string]int     `json:"okByN"`
	FailedByN    map[string]int     `json:"failedByN"`
	ByMs         map[string]int     `json:"byMs,omitempty"`
	Status       map[string]int     `json:"status"`
	DurationMs   float64            `json:"durationMs"`
	RPS          float64            `json:"rps"`
	LatencyMs    map[string]float64 `json:"latencyMs"`
	ErrorSamples []string           `json:"errorSamples,omitempty"`
}

func main() {
	pattern := flag.String("url", "", "URL pattern; {n} and {ms} are replaced per request (loopback hosts only)")
	requests := flag.Int("requests", 0, "exact number of requests to send")
	duration := flag.Duration("duration", 0, "send for this long instead of a fixed count")
	rate := flag.Float64("rate", 0, "requests per second, in total (0: as fast as -c allows)")
	conc := flag.Int("c", 4, "concurrent connections")
	nsFlag := flag.String("ns", "1", "comma-separated values for {n}")
	msFlag := flag.String("ms", "0", "comma-separated values for {ms}")
	seed := flag.Int64("seed", 0, "0: take values round-robin; otherwise pick pseudo-randomly with this seed")
	timeout := flag.Duration("timeout", 10*time.Second, "per-request timeout")
	maxRequests := flag.Int("max-requests", 1_000_000, "hard cap on requests in -duration mode")
	flag.Parse()

	fail := func(format string, a ...any) {
		fmt.Fprintf(os.Stderr, "loadgen: "+format+"\n", a...)
		os.Exit(2)
	}
	if *pattern == "" {
		fail("-url is required")
	}
	if err := checkLoopback(*pattern); err != nil {
		fail("%v", err)
	}
	if (*requests > 0) == (*duration > 0) {
		fail("give exactly one of -requests N or -duration D")
	}
	if *conc < 1 || *conc > 1024 {
		fail("-c must be within 1..1024")
	}
	ns, err := intList(*nsFlag)
	if err != nil {
		fail("-ns: %v", err)
	}
	mss, err := intList(*msFlag)
	if err != nil {
		fail("-ms: %v", err)
	}

	var rng *rand.Rand
	if *seed != 0 {
		rng = rand.New(rand.NewSource(*seed))
	}
	pick := func(i int, list []int) int {
		if rng != nil {
			return list[rng.Intn(len(list))]
		}
		return list[i%len(list)]
	}

	client := &http.Client{
		Timeout:   *timeout,
		Transport: &http.Transport{MaxIdleConns: *conc, MaxIdleConnsPerHost: *conc, IdleConnTimeout: 30 * time.Second},
	}

	jobs := make(chan job)
	results := make([][]result, *conc)
	var wg sync.WaitGroup
	for w := 0; w < *conc; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for j := range jobs {
				results[w] = append(results[w], do(client, *pattern, j))
			}
		}(w)
	}

	// One dispatcher chooses every value in order, so a seed gives the same sequence
	// whatever the concurrency.
	start := time.Now()
	deadline := start.Add(*duration)
	for i := 0; ; i++ {
		if *requests > 0 && i >= *requests {
			break
		}
		if *duration > 0 {
			if i >= *maxRequests {
				break
			}
			if *rate > 0 {
				due := start.Add(time.Duration(float64(i) / *rate * float64(time.Second)))
				if !due.Before(deadline) {
					break
				}
				time.Sleep(time.Until(due))
			} else if !time.Now().Before(deadline) {
				break
			}
		} else if *rate > 0 {
			time.Sleep(time.Until(start.Add(time.Duration(float64(i) / *rate * float64(time.Second)))))
		}
		jobs <- job{n: pick(i, ns), ms: pick(i, mss)}
	}
	close(jobs)
	wg.Wait()
	elapsed := time.Since(start)

	s := summarize(*pattern, results, elapsed, strings.Contains(*pattern, "{ms}"))
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	_ = enc.Encode(s)
}

func do(client *http.Client, pattern string, j job) result {
	u := strings.ReplaceAll(pattern, "{n}", strconv.Itoa(j.n))
	u = strings.ReplaceAll(u, "{ms}", strconv.Itoa(j.ms))
	t0 := time.Now()
	resp, err := client.Get(u)
	if err != nil {
		return result{job: j, err: err.Error()}
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return result{job: j, status: resp.StatusCode, ms: float64(time.Since(t0).Microseconds()) / 1000}
}

func summarize(pattern string, results [][]result, elapsed time.Duration, withMs bool) summary {
	s := summary{
		URL: pattern, ByN: map[string]int{}, OKByN: map[string]int{}, FailedByN: map[string]int{},
		Status: map[string]int{}, LatencyMs: map[string]float64{},
	}
	if withMs {
		s.ByMs = map[string]int{}
	}
	var lat []float64
	for _, rs := range results {
		for _, r := range rs {
			key := strconv.Itoa(r.n)
			s.Sent++
			s.ByN[key]++
			if withMs {
				s.ByMs[strconv.Itoa(r.job.ms)]++
			}
			if r.status == 0 {
				s.Errors++
				s.Failed++
				s.FailedByN[key]++
				s.Status["error"]++
				if len(s.ErrorSamples) < 5 {
					s.ErrorSamples = append(s.ErrorSamples, r.err)
				}
				continue
			}
			s.Status[strconv.Itoa(r.status)]++
			lat = append(lat, r.ms)
			if r.status >= 200 && r.status < 300 {
				s.OK++
				s.OKByN[key]++
			} else {
				s.Failed++
				s.FailedByN[key]++
			}
		}
	}
	s.DurationMs = round3(float64(elapsed.Microseconds()) / 1000)
	if elapsed > 0 {
		s.RPS = round3(float64(s.Sent) / elapsed.Seconds())
	}
	// Latencies of every answered request (any status); transport errors have none.
	if len(lat) > 0 {
		sort.Float64s(lat)
		sum := 0.0
		for _, v := range lat {
			sum += v
		}
		s.LatencyMs["min"] = lat[0]
		s.LatencyMs["mean"] = round3(sum / float64(len(lat)))
		for _, p := range []struct {
			name string
			q    float64
		}{{"p50", 0.50}, {"p90", 0.90}, {"p95", 0.95}, {"p99", 0.99}, {"p999", 0.999}} {
			s.LatencyMs[p.name] = percentile(lat, p.q)
		}
		s.LatencyMs["max"] = lat[len(lat)-1]
	}
	return s
}

// percentile by nearest rank: the smallest sample with at least q of the samples at or below it.
func percentile(sorted []float64, q float64) float64 {
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	if i < 0 {
		i = 0
	}
	return sorted[i]
}

func round3(v float64) float64 { return math.Round(v*1000) / 1000 }

func intList(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		v, err := strconv.Atoi(f)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if len(out) == 0 {
		return nil, errors.New("empty list")
	}
	return out, nil
}

// checkLoopback refuses any target off this machine: load goes to 127.0.0.0/8 or ::1 only.
func checkLoopback(pattern string) error {
	u, err := url.Parse(strings.NewReplacer("{n}", "0", "{ms}", "0").Replace(pattern))
	if err != nil {
		return fmt.Errorf("bad -url: %w", err)
	}
	if u.Scheme != "http" {
		return fmt.Errorf("-url must be http://, got %q", u.Scheme)
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("-url host %q is not a loopback address (127.0.0.0/8, ::1, localhost)", host)
}

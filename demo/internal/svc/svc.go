// Package svc is the plumbing the demo services share: flags, listening, readiness,
// a served-requests counter, and a clean exit on SIGTERM. The functions that probes
// target live in each service's package main, not here.
package svc

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
)

// Common flags every service takes.
type Common struct {
	Name string
	Host string
	Port int
}

// Flags registers -name, -host and -port on the default flag set.
func Flags(defaultName string, defaultPort int) *Common {
	c := &Common{}
	flag.StringVar(&c.Name, "name", defaultName, "service name, used in logs")
	// Loopback by default: containers run with --network host and nothing should listen
	// beyond this machine.
	flag.StringVar(&c.Host, "host", "127.0.0.1", "address to listen on")
	flag.IntVar(&c.Port, "port", defaultPort, "TCP port (0 picks a free one; the chosen port is logged)")
	return c
}

// Server counts requests and serves /healthz and /stats beside the service's own routes.
type Server struct {
	common  *Common
	mux     *http.ServeMux
	served  atomic.Int64
	failed  atomic.Int64
	started time.Time
}

func New(c *Common) *Server {
	s := &Server{common: c, mux: http.NewServeMux(), started: time.Now()}
	// Readiness and stats are not counted as served: tests compare served to the load sent.
	s.mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("ok\n"))
	})
	s.mux.HandleFunc("/stats", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"name":   c.Name,
			"served": s.served.Load(),
			"failed": s.failed.Load(),
			"pid":    os.Getpid(),
		})
	})
	return s
}

// Handle registers a counted route. The handler returns the HTTP status it wrote.
func (s *Server) Handle(pattern string, h func(w http.ResponseWriter, r *http.Request) int) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		status := h(w, r)
		s.served.Add(1)
		if status >= 400 {
			s.failed.Add(1)
		}
	})
}

// Log writes one JSON line to stderr: machine-readable for the TypeScript side
// (it reads the "listening" event to learn a port chosen with -port 0).
func Log(name, event string, fields map[string]any) {
	m := map[string]any{"service": name, "event": event, "time": time.Now().UTC().Format(time.RFC3339Nano)}
	for k, v := range fields {
		m[k] = v
	}
	b, _ := json.Marshal(m)
	fmt.Fprintln(os.Stderr, string(b))
}

// Run listens, serves until SIGTERM or SIGINT, then drains, logs the served count and exits 0.
func (s *Server) Run() {
	c := s.common
	ln, err := net.Listen("tcp", net.JoinHostPort(c.Host, strconv.Itoa(c.Port)))
	if err != nil {
		Log(c.Name, "error", map[string]any{"error": err.Error()})
		os.Exit(1)
	}
	srv := &http.Server{Handler: s.mux, ReadHeaderTimeout: 10 * time.Second}
	sigs := make(chan os.Signal, 1)
	// As PID 1 of a container, a signal without a handler is ignored: handling it is what
	// makes `podman stop` quick instead of waiting for SIGKILL.
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	Log(c.Name, "listening", map[string]any{"addr": ln.Addr().String(), "pid": os.Getpid()})

	select {
	case sig := <-sigs:
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		_ = srv.Shutdown(ctx)
		cancel()
		Log(c.Name, "stopped", map[string]any{
			"signal": sig.String(), "served": s.served.Load(), "failed": s.failed.Load(),
			"uptime_ms": time.Since(s.started).Milliseconds(),
		})
		os.Exit(0)
	case err := <-errc:
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			Log(c.Name, "error", map[string]any{"error": err.Error()})
			os.Exit(1)
		}
	}
}

// IntParam reads an integer query parameter; missing means def, malformed is an error.
func IntParam(r *http.Request, key string, def int) (int, error) {
	v := r.URL.Query().Get(key)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("bad %s=%q: %w", key, v, err)
	}
	return n, nil
}

// Emojis is the shared table: voting names what it counts, emoji looks names up.
var Emojis = []string{
	":joy:", ":sunglasses:", ":doughnut:", ":stuck_out_tongue_winking_eye:", ":money_mouth_face:",
	":flushed:", ":mask:", ":nerd_face:", ":ghost:", ":skull_and_crossbones:", ":heart_eyes_cat:",
	":hear_no_evil:", ":see_no_evil:", ":speak_no_evil:", ":boy:", ":girl:", ":man:", ":woman:",
	":older_man:", ":policeman:", ":guardsman:", ":construction_worker:", ":prince:", ":princess:",
	":man_in_tuxedo:", ":bride_with_veil:", ":mrs_claus:", ":santa:", ":turkey:", ":rabbit:",
	":no_good_woman:", ":ok_woman:", ":raising_hand_woman:", ":bowing_man:", ":man_facepalming:",
	":woman_shrugging:", ":massage_woman:", ":walking_man:", ":running_man:", ":dancer:",
	":man_dancing:", ":dancing_women:", ":rainbow:", ":star2:", ":sunny:", ":champagne:",
	":beer:", ":pizza:", ":taco:", ":100:",
}

// EmojiName maps any integer (negative too) to an entry of Emojis.
func EmojiName(n int) string {
	i := n % len(Emojis)
	if i < 0 {
		i += len(Emojis)
	}
	return Emojis[i]
}

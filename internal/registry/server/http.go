package server

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// HealthBody is the /healthz body; the field order is the key order of
// registry.md §3 and is part of the API.
type HealthBody struct {
	Status        string `json:"status"`
	Version       string `json:"version"`
	UptimeSeconds int64  `json:"uptime_seconds"`
	NodesOnline   int64  `json:"nodes_online"`
	NetworksCount int64  `json:"networks_count"`
	RequestsTotal uint64 `json:"requests_total"`
	ErrorsTotal   uint64 `json:"errors_total"`
}

type readyBody struct {
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
}

func (s *Server) newHTTPServer() *http.Server {
	return &http.Server{
		Handler:           s.httpH,
		ReadHeaderTimeout: HTTPIdleTimeout,
		IdleTimeout:       HTTPIdleTimeout,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
}

// HTTPHandler returns the HTTP surface (/healthz, /readyz, /metrics), the
// same one served on the registry port and on -http.
func (s *Server) HTTPHandler() http.Handler { return s.httpH }

func (s *Server) httpHandler() http.Handler {
	metricsH := s.metrics.Handler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "only GET and HEAD are allowed here", http.StatusMethodNotAllowed)
			return
		}
		switch r.URL.Path {
		case "/healthz":
			s.refreshProbe(r.Context())
			s.serveHealthz(w)
		case "/readyz":
			s.serveReadyz(w, r)
		case "/metrics":
			if !s.metricsAllowed(r) {
				http.Error(w, "metrics are served to loopback peers, or to others with Authorization: Bearer <-metrics-token>", http.StatusForbidden)
				return
			}
			s.refreshProbe(r.Context())
			metricsH.ServeHTTP(w, r)
		default:
			http.Error(w, "not found: this registry serves /healthz, /readyz and /metrics", http.StatusNotFound)
		}
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// Health returns the current /healthz body and HTTP status.
func (s *Server) Health() (HealthBody, int) {
	s.probeMu.Lock()
	p := s.probe
	s.probeMu.Unlock()
	h := HealthBody{
		Status:        "ok",
		Version:       strings.TrimPrefix(s.cfg.Version, "v"),
		UptimeSeconds: int64(time.Since(s.start) / time.Second),
		NodesOnline:   p.gauges.NodesOnline,
		NetworksCount: p.gauges.Networks,
		RequestsTotal: s.metrics.RequestsTotal(),
		ErrorsTotal:   s.metrics.ErrorsTotal(),
	}
	if p.err != nil {
		h.Status = "degraded"
		return h, http.StatusServiceUnavailable
	}
	return h, http.StatusOK
}

func (s *Server) serveHealthz(w http.ResponseWriter) {
	h, status := s.Health()
	writeJSON(w, status, h)
}

func (s *Server) serveReadyz(w http.ResponseWriter, r *http.Request) {
	reason := ""
	switch {
	case s.closing.Load():
		reason = "registry is shutting down"
	case !s.listening.Load():
		reason = "registry listener is not accepting yet"
	case s.cfg.Health != nil:
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		if err := s.cfg.Health.Ready(ctx); err != nil {
			reason = err.Error()
		}
	}
	if reason != "" {
		writeJSON(w, http.StatusServiceUnavailable, readyBody{Status: "not_ready", Reason: reason})
		return
	}
	writeJSON(w, http.StatusOK, readyBody{Status: "ready"})
}

// metricsAllowed: loopback peers always; others with the bearer token.
func (s *Server) metricsAllowed(r *http.Request) bool {
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil && ap.Addr().Unmap().IsLoopback() {
		return true
	}
	if s.cfg.MetricsToken == "" {
		return false
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(got), []byte(s.cfg.MetricsToken)) == 1
}

// runProbe queries the store once and records the result.
func (s *Server) runProbe(ctx context.Context) {
	var p probeResult
	if s.cfg.Health != nil {
		pctx, cancel := context.WithTimeout(ctx, s.cfg.ProbeInterval)
		p.gauges, p.err = s.cfg.Health.Gauges(pctx)
		cancel()
		if p.err != nil {
			s.log.Warn("store probe failed; /healthz reports degraded", "err", p.err)
		} else {
			s.metrics.SetGauges(p.gauges)
		}
	}
	s.probeMu.Lock()
	if p.err != nil { // keep the last good counts while degraded
		p.gauges = s.probe.gauges
	}
	s.probe = p
	s.probeMu.Unlock()
}

// refreshProbe runs the store probe now, bounded by 2 s, so that the
// counts of /healthz and the gauges of /metrics reflect the store at the
// time of the request (registry.md §3: "nodes with last_seen within the
// online threshold", "networks excluding the backbone"), not a snapshot up
// to one probe interval old.
// Concurrent requests share one in-flight probe, so a flood of /healthz
// requests costs at most one store probe at a time; a client that hangs up
// does not cancel the probe (which would report the store degraded).
func (s *Server) refreshProbe(ctx context.Context) {
	s.probeMu.Lock()
	if ch := s.refreshing; ch != nil {
		s.probeMu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
		}
		return
	}
	ch := make(chan struct{})
	s.refreshing = ch
	s.probeMu.Unlock()
	defer func() {
		s.probeMu.Lock()
		s.refreshing = nil
		s.probeMu.Unlock()
		close(ch)
	}()
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	s.runProbe(pctx)
}

// probeLoop refreshes the probe every ProbeInterval until ctx ends.
func (s *Server) probeLoop(ctx context.Context) {
	t := time.NewTicker(s.cfg.ProbeInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.runProbe(ctx)
		}
	}
}

// chanListener is a net.Listener fed with already-accepted connections
// (the sniffed HTTP ones) for http.Server.Serve.
type chanListener struct {
	addr   net.Addr
	ch     chan net.Conn
	done   chan struct{}
	closed sync.Once
}

func newChanListener(addr net.Addr) *chanListener {
	return &chanListener{addr: addr, ch: make(chan net.Conn), done: make(chan struct{})}
}

// deliver hands c to the HTTP server; false if the listener is closed.
func (l *chanListener) deliver(c net.Conn) bool {
	select {
	case l.ch <- c:
		return true
	case <-l.done:
		return false
	}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.closed.Do(func() { close(l.done) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return l.addr }

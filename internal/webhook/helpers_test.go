package webhook

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	whmsg "github.com/pilot-go/pilot/internal/wire/svcmsg/webhook"
)

// waitLimit bounds every wait of these tests.
const waitLimit = 10 * time.Second

// checkLeaks fails the test when more goroutines run at its end than at
// its start, after a bounded wait for them to exit. Register it first so
// that it runs after every other cleanup.
func checkLeaks(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(waitLimit)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				n := runtime.Stack(buf, true)
				t.Errorf("goroutine leak: %d before, %d after\n%s", before, runtime.NumGoroutine(), buf[:n])
				return
			}
			runtime.Gosched()
			time.Sleep(5 * time.Millisecond) // polling a condition, not synchronising
		}
	})
}

// request is one attempt as the endpoint saw it.
type request struct {
	path   string
	header http.Header
	body   []byte
}

// endpoint is an httptest server recording every attempt; status decides
// the answer to the n-th attempt (0-based).
type endpoint struct {
	srv    *httptest.Server
	mu     sync.Mutex
	reqs   []request
	status func(n int, r *http.Request) int
}

func newEndpoint(t *testing.T, status func(n int, r *http.Request) int) *endpoint {
	t.Helper()
	e := &endpoint{status: status}
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		e.mu.Lock()
		n := len(e.reqs)
		e.reqs = append(e.reqs, request{path: r.URL.Path, header: r.Header.Clone(), body: body})
		e.mu.Unlock()
		code := e.status(n, r)
		if code >= 300 && code < 400 {
			w.Header().Set("Location", "/redirected")
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(e.srv.Close)
	return e
}

func (e *endpoint) requests() []request {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]request(nil), e.reqs...)
}

// always answers every attempt with code.
func always(code int) func(int, *http.Request) int {
	return func(int, *http.Request) int { return code }
}

// fakeSleep records the requested waits and returns at once.
type fakeSleep struct {
	mu   sync.Mutex
	durs []time.Duration
}

func (f *fakeSleep) Sleep(ctx context.Context, d time.Duration) error {
	f.mu.Lock()
	f.durs = append(f.durs, d)
	f.mu.Unlock()
	return ctx.Err()
}

func (f *fakeSleep) waits() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Duration(nil), f.durs...)
}

// fakeClock returns base, advanced by step on every call.
type fakeClock struct {
	mu   sync.Mutex
	t    time.Time
	step time.Duration
}

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.t
	f.t = f.t.Add(f.step)
	return now
}

func (f *fakeClock) Set(t time.Time) {
	f.mu.Lock()
	f.t = t
	f.mu.Unlock()
}

// logBuf is a concurrency-safe log sink.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) count(substr string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.b.String(), substr)
}

func (l *logBuf) logger() *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }

// running is a client whose Run executes in a goroutine owned by the test.
type running struct {
	*Client
	runErr chan error
}

// start creates a client with cfg and runs it; cleanup closes it and waits
// for Run to return.
func start(t *testing.T, cfg Config) *running {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	r := &running{Client: c, runErr: make(chan error, 1)}
	go func() { r.runErr <- c.Run(context.Background()) }()
	t.Cleanup(func() { r.stop(t) })
	waitFor(t, "Run to start", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.started
	})
	return r
}

// stop closes the client within waitLimit and waits for Run.
func (r *running) stop(t *testing.T) {
	t.Helper()
	closed := make(chan struct{})
	go func() { _ = r.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(waitLimit):
		t.Fatal("Close did not return")
	}
	select {
	case err, ok := <-r.runErr:
		if ok && err != nil {
			t.Errorf("Run: %v", err)
		}
		if ok {
			close(r.runErr)
		}
	case <-time.After(waitLimit):
		t.Fatal("Run did not return")
	}
}

// waitFor polls cond until it holds or waitLimit passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond) // polling a condition
	}
}

// ids returns the event_ids of the recorded bodies.
func ids(t *testing.T, reqs []request) []uint64 {
	t.Helper()
	var out []uint64
	for _, r := range reqs {
		env, err := whmsg.Parse(r.body)
		if err != nil {
			t.Fatalf("endpoint got a bad body %q: %v", r.body, err)
		}
		out = append(out, env.EventID)
	}
	return out
}

package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pilot-go/pilot/internal/registry/metrics"
)

// fakeHealth is a stub store: its answers are switched by the test.
type fakeHealth struct {
	mu     sync.Mutex
	down   error
	g      metrics.Gauges
	probes int
}

func (f *fakeHealth) Gauges(context.Context) (metrics.Gauges, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.probes++
	return f.g, f.down
}

func (f *fakeHealth) Ready(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.down
}

func (f *fakeHealth) set(err error) {
	f.mu.Lock()
	f.down = err
	f.mu.Unlock()
}

func (f *fakeHealth) probeCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.probes
}

// §14 item 6: /healthz on the registry port has exactly the seven keys in
// order; networks_count is what the store reports excluding the backbone.
func TestRegistry_6_Healthz(t *testing.T) {
	fh := &fakeHealth{g: metrics.Gauges{NodesOnline: 7, Networks: 3}}
	h := start(t, Config{Health: fh, Version: "v1.5.0"})
	c := dial(t, h.addr)
	_, _ = c.Write(append(frame(`{"type":"heartbeat"}`), frame(`nope`)...))
	readFrame(t, c)
	readFrame(t, c)

	code, body := httpGet(t, "http://"+h.addr+"/healthz")
	if code != 200 {
		t.Fatalf("status %d", code)
	}
	keys := objectKeys(t, body)
	want := "status,version,uptime_seconds,nodes_online,networks_count,requests_total,errors_total"
	if strings.Join(keys, ",") != want {
		t.Fatalf("keys %v", keys)
	}
	var hb HealthBody
	_ = json.Unmarshal(body, &hb)
	if hb != (HealthBody{Status: "ok", Version: "1.5.0", UptimeSeconds: hb.UptimeSeconds, NodesOnline: 7, NetworksCount: 3, RequestsTotal: 2, ErrorsTotal: 1}) {
		t.Fatalf("body %+v", hb)
	}
}

func objectKeys(t *testing.T, b []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not an object: %s", b)
	}
	var keys []string
	for dec.More() {
		k, _ := dec.Token()
		keys = append(keys, k.(string))
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

// §14 item 7: /readyz is 503 while the store is unreachable, 200 otherwise;
// /healthz turns degraded after a failed probe.
func TestRegistry_7_Readyz(t *testing.T) {
	fh := &fakeHealth{}
	h := start(t, Config{Health: fh, ProbeInterval: 20 * time.Millisecond})
	if code, body := httpGet(t, "http://"+h.addr+"/readyz"); code != 200 || string(body) != "{\"status\":\"ready\"}\n" {
		t.Fatalf("ready: %d %s", code, body)
	}
	fh.set(errors.New("store unreachable: dial tcp: connection refused"))
	code, body := httpGet(t, "http://"+h.addr+"/readyz")
	if code != 503 || !strings.Contains(string(body), `"status":"not_ready","reason":"store unreachable`) {
		t.Fatalf("not ready: %d %s", code, body)
	}
	n := fh.probeCount()
	waitFor(t, func() bool { return fh.probeCount() > n+1 })
	code, body = httpGet(t, "http://"+h.addr+"/healthz")
	if code != 503 || !strings.HasPrefix(string(body), `{"status":"degraded",`) {
		t.Fatalf("healthz while down: %d %s", code, body)
	}
	fh.set(nil)
	n = fh.probeCount()
	waitFor(t, func() bool { return fh.probeCount() > n+1 })
	if code, _ := httpGet(t, "http://"+h.addr+"/healthz"); code != 200 {
		t.Fatalf("healthz after recovery: %d", code)
	}
}

// §14 item 8: /metrics from a non-loopback peer without the token is 403;
// with the bearer token, or from loopback, it is the exposition.
func TestRegistry_8_MetricsAccess(t *testing.T) {
	srv, err := New(Config{Addr: ":0", Dispatcher: &stub{}, MetricsToken: "s3cret-token"})
	if err != nil {
		t.Fatal(err)
	}
	srv.Metrics().ObserveRequest("heartbeat", time.Millisecond)
	get := func(remote, auth string) *recorder {
		req, _ := http.NewRequest("GET", "/metrics", nil)
		req.RemoteAddr = remote
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		rec := newRecorder()
		srv.HTTPHandler().ServeHTTP(rec, req)
		return rec
	}
	for _, tc := range []struct {
		remote, auth string
		status       int
	}{
		{"192.0.2.1:4000", "", 403},
		{"192.0.2.1:4000", "Bearer wrong", 403},
		{"192.0.2.1:4000", "s3cret-token", 403},
		{"192.0.2.1:4000", "Bearer s3cret-token", 200},
		{"[::ffff:127.0.0.1]:4000", "", 200},
		{"[::1]:4000", "", 200},
	} {
		if rec := get(tc.remote, tc.auth); rec.status != tc.status {
			t.Errorf("%s %q: %d, want %d", tc.remote, tc.auth, rec.status, tc.status)
		}
	}
	noToken, _ := New(Config{Addr: ":0", Dispatcher: &stub{}})
	req, _ := http.NewRequest("GET", "/metrics", nil)
	req.RemoteAddr = "192.0.2.1:4000"
	req.Header.Set("Authorization", "Bearer ")
	rec := newRecorder()
	noToken.HTTPHandler().ServeHTTP(rec, req)
	if rec.status != 403 {
		t.Fatalf("no -metrics-token: %d", rec.status)
	}

	// Over a real loopback connection on the registry port.
	h := start(t, Config{})
	c := dial(t, h.addr)
	_, _ = c.Write(frame(`{"type":"lookup"}`))
	readFrame(t, c)
	code, body := httpGet(t, "http://"+h.addr+"/metrics")
	if code != 200 || !strings.Contains(string(body), `pilot_requests_total{type="lookup"} 1`) ||
		!strings.Contains(string(body), "go_goroutines") {
		t.Fatalf("metrics %d:\n%s", code, grep(string(body), "pilot_requests"))
	}
}

// §14 item 9: an unknown type is counted as type="unknown" (the server
// normalises Response.Type).
func TestRegistry_9_UnknownTypeOverTheWire(t *testing.T) {
	h := start(t, Config{})
	c := dial(t, h.addr)
	_, _ = c.Write(append(frame(`{"type":"set_expr_policy"}`), frame(`{"type":"heartbeat"}`)...))
	readFrame(t, c)
	readFrame(t, c)
	m := scrapeMetrics(t, h.srv)
	if !strings.Contains(m, `pilot_requests_total{type="unknown"} 1`) || strings.Contains(m, "set_expr_policy") {
		t.Fatalf("metrics:\n%s", grep(m, "pilot_requests_total"))
	}
}

func TestHTTPSurfaceRoutes(t *testing.T) {
	h := start(t, Config{HTTPAddr: "127.0.0.1:0"})
	for _, base := range []string{"http://" + h.addr, "http://" + h.srv.HTTPAddr().String()} {
		code, body := httpGet(t, base+"/nope")
		if code != 404 || !strings.Contains(string(body), "not found") {
			t.Fatalf("%s 404: %d %s", base, code, body)
		}
		if code, _ := httpGet(t, base+"/healthz"); code != 200 {
			t.Fatalf("%s healthz %d", base, code)
		}
		cl := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}
		resp, err := cl.Head(base + "/healthz")
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("HEAD: %v %v", resp, err)
		}
		resp.Body.Close()
		req, _ := http.NewRequest("DELETE", base+"/healthz", nil)
		resp, err = cl.Do(req)
		if err != nil || resp.StatusCode != 405 {
			t.Fatalf("DELETE: %v %v", resp, err)
		}
		resp.Body.Close()
		cl.CloseIdleConnections()
	}
	// Keep-alive: two requests on one sniffed connection.
	c := dial(t, h.addr)
	_, _ = c.Write([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
	var all bytes.Buffer
	_, _ = all.ReadFrom(c)
	if n := strings.Count(all.String(), "HTTP/1.1 200 OK"); n != 2 {
		t.Fatalf("%d responses:\n%s", n, all.String())
	}
	waitFor(t, func() bool { return h.srv.OpenConns() == 0 })
}

package server

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pilot-go/pilot/internal/registry/tlsconf"
)

// stub is a Dispatcher standing in for the handler layer: it refuses
// non-object bodies with invalid_argument and answers <type>_ok with the
// body length.
type stub struct {
	block   chan struct{} // if non-nil, "slow" requests wait for it
	entered chan struct{} // signalled when a "slow" request starts
}

func (d *stub) Handle(ctx context.Context, req *Request) Response {
	var m map[string]any
	if err := json.Unmarshal(req.Body, &m); err != nil || m == nil {
		return Response{Body: ErrorBody("invalid_argument", "request body must be a JSON object"), Code: "invalid_argument"}
	}
	typ, _ := m["type"].(string)
	switch typ {
	case "panic":
		panic("boom")
	case "slow":
		if d.entered == nil {
			break
		}
		d.entered <- struct{}{}
		<-d.block
	case "big":
		return Response{Body: bytes.Repeat([]byte("x"), MaxFrame+1), Type: typ}
	case "fat": // a reply just under the frame cap
		return Response{Body: append(append([]byte(`{"type":"fat_ok","pad":"`), bytes.Repeat([]byte("x"), MaxFrame-64)...), `"}`...), Type: typ}
	}
	body, _ := json.Marshal(map[string]any{"type": typ + "_ok", "len": len(req.Body), "seq": req.Seq, "tls": req.TLS})
	return Response{Body: body, Type: typ}
}

type harness struct {
	srv     *Server
	addr    string
	cancel  context.CancelFunc
	done    chan error
	stopped bool
}

func start(t *testing.T, cfg Config) *harness {
	t.Helper()
	if cfg.Dispatcher == nil {
		cfg.Dispatcher = &stub{}
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{srv: srv, cancel: cancel, done: make(chan error, 1)}
	go func() { h.done <- srv.Run(ctx) }()
	select {
	case <-srv.Ready():
	case err := <-h.done:
		t.Fatal(err)
	}
	h.addr = srv.Addr().String()
	t.Cleanup(func() { h.stop(t) })
	return h
}

// stop cancels Run and waits for it to return nil.
func (h *harness) stop(t *testing.T) {
	t.Helper()
	if h.stopped {
		return
	}
	h.stopped = true
	h.cancel()
	select {
	case err := <-h.done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return")
	}
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { c.Close() })
	return c
}

// frame encodes a request frame by hand (any length, oversize included).
func frame(body string) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
}

func readFrame(t *testing.T, r io.Reader) map[string]any {
	t.Helper()
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		t.Fatalf("read reply header: %v", err)
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > MaxFrame {
		t.Fatalf("reply of %d bytes", n)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("reply %q: %v", body, err)
	}
	return m
}

// expectClosed reads until EOF or reset; it fails if data arrives.
func expectClosed(t *testing.T, c net.Conn) {
	t.Helper()
	var b [1]byte
	n, err := c.Read(b[:])
	if n != 0 || err == nil {
		t.Fatalf("expected close, read %d bytes err %v", n, err)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("connection still open at the client deadline")
	}
}

// §14 item 1: a 65,536-byte body is processed; 65,537 gets one
// message_too_large frame and the connection is closed.
func TestRegistry_1_FrameCap(t *testing.T) {
	h := start(t, Config{})
	c := dial(t, h.addr)
	pad := strings.Repeat(" ", MaxFrame-len(`{"type":"x"}`))
	body := `{"type":"x"}` + pad
	if _, err := c.Write(frame(body)); err != nil {
		t.Fatal(err)
	}
	if m := readFrame(t, c); m["type"] != "x_ok" || m["len"] != float64(MaxFrame) {
		t.Fatalf("reply %v", m)
	}
	go func() { _, _ = c.Write(frame(body + " ")) }()
	m := readFrame(t, c)
	if m["type"] != "error" || m["code"] != "message_too_large" || m["error"] == "" {
		t.Fatalf("reply %v", m)
	}
	expectClosed(t, c)
}

// §14 item 2: a non-object body gets invalid_argument and the connection
// serves the next request; three frames written at once get three replies
// in order.
func TestRegistry_2_MalformedAndPipelining(t *testing.T) {
	h := start(t, Config{})
	c := dial(t, h.addr)
	var batch []byte
	for _, b := range []string{``, `[1]`, `{"type":"a"}`, `{"type":"b"}`, `{"type":"c"}`} {
		batch = append(batch, frame(b)...)
	}
	if _, err := c.Write(batch); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if m := readFrame(t, c); m["code"] != "invalid_argument" {
			t.Fatalf("reply %d: %v", i, m)
		}
	}
	for i, want := range []string{"a_ok", "b_ok", "c_ok"} {
		m := readFrame(t, c)
		if m["type"] != want || m["seq"] != float64(i+3) {
			t.Fatalf("reply %d: %v, want %s", i, m, want)
		}
	}
}

// §14 item 4: idle and frame timeouts close the connection.
func TestRegistry_4_Timeouts(t *testing.T) {
	h := start(t, Config{IdleTimeout: 300 * time.Millisecond, FrameTimeout: 200 * time.Millisecond})
	// Idle after one request.
	c := dial(t, h.addr)
	_, _ = c.Write(frame(`{"type":"a"}`))
	readFrame(t, c)
	t0 := time.Now()
	expectClosed(t, c)
	if time.Since(t0) < 250*time.Millisecond {
		t.Fatalf("closed after %v, before the idle timeout", time.Since(t0))
	}
	// A frame started but never finished.
	c2 := dial(t, h.addr)
	_, _ = c2.Write(frame(`{"type":"a"}`)[:8])
	expectClosed(t, c2)
	// A header only.
	c3 := dial(t, h.addr)
	_, _ = c3.Write([]byte{0, 0, 0, 20})
	expectClosed(t, c3)
}

// §1 "A response that cannot be written within 30 s closes the
// connection", with the timeout shortened: a client that sends requests
// and never reads fills the socket buffers, the registry's reply write
// blocks, and the registry closes the connection once WriteTimeout has
// passed. (With a WriteTimeout of an hour, the connection stays open and
// waitFor fails.)
func TestRegistry_WriteTimeout(t *testing.T) {
	h := start(t, Config{WriteTimeout: 200 * time.Millisecond, IdleTimeout: time.Minute, FrameTimeout: time.Minute})
	c := dial(t, h.addr)
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(4096) // a small window: the buffers fill sooner
	}
	// 256 replies of 64 KiB: 16 MiB, more than loopback TCP buffers hold.
	reqs := bytes.Repeat(frame(`{"type":"fat"}`), 256)
	if _, err := c.Write(reqs); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return h.srv.OpenConns() == 0 })
}

// §14 item 5: with MaxConns 2 the third connection is closed before any
// reply; the per-IP cap works the same way.
func TestRegistry_5_ConnectionCaps(t *testing.T) {
	for _, tc := range []struct {
		cfg    Config
		reason string
	}{
		{Config{MaxConns: 2}, "max_conns"},
		{Config{MaxConnsPerIP: 2}, "per_ip"},
	} {
		t.Run(tc.reason, func(t *testing.T) {
			h := start(t, tc.cfg)
			a, b := dial(t, h.addr), dial(t, h.addr)
			for _, c := range []net.Conn{a, b} { // both admitted and served
				_, _ = c.Write(frame(`{"type":"a"}`))
				readFrame(t, c)
			}
			third := dial(t, h.addr)
			_, _ = third.Write(frame(`{"type":"a"}`))
			expectClosed(t, third)
			rec := scrapeMetrics(t, h.srv)
			if !strings.Contains(rec, `pilot_connections_rejected_total{reason="`+tc.reason+`"} 1`) ||
				!strings.Contains(rec, "pilot_connections_open 2\n") {
				t.Fatalf("metrics:\n%s", grep(rec, "pilot_connections"))
			}
			// Closing one frees a slot.
			a.Close()
			waitFor(t, func() bool { return h.srv.OpenConns() == 1 })
			d := dial(t, h.addr)
			_, _ = d.Write(frame(`{"type":"a"}`))
			readFrame(t, d)
		})
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10 s")
		}
		time.Sleep(time.Millisecond) // polling, not synchronisation by sleep
	}
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func scrapeMetrics(t *testing.T, s *Server) string {
	t.Helper()
	req, _ := http.NewRequest("GET", "/metrics", nil)
	req.RemoteAddr = "127.0.0.1:5555"
	rec := newRecorder()
	s.HTTPHandler().ServeHTTP(rec, req)
	return rec.body.String()
}

type recorder struct {
	hdr    http.Header
	status int
	body   bytes.Buffer
}

func newRecorder() *recorder                    { return &recorder{hdr: http.Header{}, status: 200} }
func (r *recorder) Header() http.Header         { return r.hdr }
func (r *recorder) WriteHeader(s int)           { r.status = s }
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }

func TestPanicIsRecovered(t *testing.T) {
	h := start(t, Config{})
	c := dial(t, h.addr)
	_, _ = c.Write(append(frame(`{"type":"panic"}`), frame(`{"type":"big"}`)...))
	for i := 0; i < 2; i++ {
		if m := readFrame(t, c); m["code"] != "internal" || !strings.Contains(m["error"].(string), "internal error") {
			t.Fatalf("reply %d %v", i, m)
		}
	}
	_, _ = c.Write(frame(`{"type":"a"}`))
	if m := readFrame(t, c); m["type"] != "a_ok" {
		t.Fatalf("after panic: %v", m)
	}
}

func TestSniffing(t *testing.T) {
	h := start(t, Config{})
	for _, prefix := range []string{"PILT\x00\x00", "\x16\x03\x01\x00\x10", "\x01\x00\x00\x00", "SSH-2.0"} {
		c := dial(t, h.addr)
		_, _ = c.Write([]byte(prefix))
		expectClosed(t, c)
	}
	c := dial(t, h.addr)
	_, _ = c.Write([]byte("POST /healthz HTTP/1.1\r\nHost: x\r\n\r\n"))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != 405 {
		t.Fatalf("POST: %v %v", resp, err)
	}
	expectClosed(t, c)
	if m := scrapeMetrics(t, h.srv); !strings.Contains(m, `pilot_connections_rejected_total{reason="protocol"} 4`) {
		t.Fatalf("metrics: %s", grep(m, "rejected"))
	}
}

// Graceful shutdown: an in-flight request is answered, an idle connection
// is closed, Run returns nil.
func TestGracefulShutdown(t *testing.T) {
	d := &stub{block: make(chan struct{}), entered: make(chan struct{}, 1)}
	h := start(t, Config{Dispatcher: d})
	busy, idle := dial(t, h.addr), dial(t, h.addr)
	_, _ = idle.Write(frame(`{"type":"a"}`))
	readFrame(t, idle)
	_, _ = busy.Write(frame(`{"type":"slow"}`))
	<-d.entered
	h.cancel()
	expectClosed(t, idle)
	if c, err := net.DialTimeout("tcp", h.addr, time.Second); err == nil {
		var b [1]byte
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(b[:]); err == nil {
			t.Fatal("new connection served during shutdown")
		}
		c.Close()
	}
	close(d.block)
	if m := readFrame(t, busy); m["type"] != "slow_ok" {
		t.Fatalf("in-flight reply %v", m)
	}
	expectClosed(t, busy)
	h.stop(t)
}

func TestShutdownGraceExpires(t *testing.T) {
	d := &stub{block: make(chan struct{}), entered: make(chan struct{}, 1)}
	defer close(d.block)
	h := start(t, Config{Dispatcher: d, ShutdownTimeout: 100 * time.Millisecond})
	c := dial(t, h.addr)
	_, _ = c.Write(frame(`{"type":"slow"}`))
	<-d.entered
	h.cancel()
	// The stub ignores ctx; the connection is force-closed after the grace
	// period even though the handler is still blocked.
	expectClosed(t, c)
	go func() { d.block <- struct{}{} }()
	h.stop(t)
}

func TestNewValidates(t *testing.T) {
	if _, err := New(Config{Addr: ":0"}); err == nil {
		t.Fatal("no dispatcher accepted")
	}
	if _, err := New(Config{Dispatcher: &stub{}}); err == nil {
		t.Fatal("no address accepted")
	}
}

// §14 item 11: with TLS a plaintext frame gets failed_precondition unless
// AllowPlain; plain GET /healthz is still served; frames over TLS work.
func TestRegistry_11_TLSRequired(t *testing.T) {
	tc, err := tlsconf.Load(tlsconf.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	h := start(t, Config{TLS: tc.Config})
	c := dial(t, h.addr)
	_, _ = c.Write(frame(`{"type":"a"}`))
	m := readFrame(t, c)
	if m["code"] != "failed_precondition" || m["error"] != "this registry requires TLS; connect with -registry-tls" {
		t.Fatalf("reply %v", m)
	}
	expectClosed(t, c)
	if code, _ := httpGet(t, "http://"+h.addr+"/healthz"); code != 200 {
		t.Fatalf("plain healthz %d", code)
	}
	tlsc, err := tls.Dial("tcp", h.addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer tlsc.Close()
	_ = tlsc.SetDeadline(time.Now().Add(10 * time.Second))
	if fp := tlsconf.Fingerprint(tlsc.ConnectionState().PeerCertificates[0].Raw); fp != tc.Fingerprint {
		t.Fatal("fingerprint differs")
	}
	_, _ = tlsc.Write(frame(`{"type":"a"}`))
	if m := readFrame(t, tlsc); m["type"] != "a_ok" || m["tls"] != true {
		t.Fatalf("TLS reply %v", m)
	}
	// HTTP over TLS is served too.
	cl := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := cl.Get("https://" + h.addr + "/readyz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("https readyz: %v %v", resp, err)
	}
	resp.Body.Close()
	cl.CloseIdleConnections()

	h2 := start(t, Config{TLS: tc.Config, AllowPlain: true})
	c2 := dial(t, h2.addr)
	_, _ = c2.Write(frame(`{"type":"a"}`))
	if m := readFrame(t, c2); m["type"] != "a_ok" || m["tls"] != false {
		t.Fatalf("allow-plain reply %v", m)
	}
}

func httpGet(t *testing.T, url string) (int, []byte) {
	t.Helper()
	cl := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}
	defer cl.CloseIdleConnections()
	resp, err := cl.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

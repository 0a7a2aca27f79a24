package regclient

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/identity"
	"github.com/pilot-go/pilot/internal/wire/regmsg"
)

// fakeRegistry is a registry stand-in on loopback TCP: it decodes every
// request with regmsg, records it, and answers what the test's handler
// says. It checks nothing itself; the tests verify signatures on the
// recorded requests.
type fakeRegistry struct {
	t       *testing.T
	ln      net.Listener
	handler func(n int, req regmsg.Request) response
	batch   int // set once: read this many frames before answering them

	mu    sync.Mutex
	reqs  []recorded // guarded by mu
	conns []net.Conn // guarded by mu
	wg    sync.WaitGroup
}

type recorded struct {
	req  regmsg.Request
	conn int // index of the connection it came on
}

// response is what the fake does with one request.
type response struct {
	body  []byte // reply body
	close bool   // close the connection without a reply
	hang  bool   // never answer (keep reading)
}

// okReply is the minimal success reply to typ.
func okReply(typ string) response { return response{body: []byte(`{"type":"` + typ + `_ok"}`)} }

func replyWith(t *testing.T, r regmsg.Reply) response {
	t.Helper()
	b, err := regmsg.MarshalReply(r)
	if err != nil {
		t.Fatal(err)
	}
	return response{body: b}
}

func errReply(code regmsg.Code, msg string, retryMS int64) response {
	return response{body: regmsg.MarshalError(&regmsg.Error{Code: code, Message: msg, RetryAfterMS: retryMS})}
}

// newFake starts a fake registry; tlsConf != nil serves TLS.
func newFake(t *testing.T, tlsConf *tls.Config, handler func(n int, req regmsg.Request) response) *fakeRegistry {
	t.Helper()
	return startFake(t, tlsConf, 1, handler)
}

// startFake starts a fake registry that reads batch frames before it
// answers them.
func startFake(t *testing.T, tlsConf *tls.Config, batch int, handler func(n int, req regmsg.Request) response) *fakeRegistry {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if tlsConf != nil {
		ln = tls.NewListener(ln, tlsConf)
	}
	if handler == nil {
		handler = func(_ int, req regmsg.Request) response { return okReply(req.Type()) }
	}
	f := &fakeRegistry{t: t, ln: ln, handler: handler, batch: batch}
	f.wg.Add(1)
	go f.acceptLoop()
	t.Cleanup(func() {
		ln.Close()
		f.mu.Lock()
		for _, c := range f.conns {
			c.Close()
		}
		f.mu.Unlock()
		f.wg.Wait()
	})
	return f
}

func (f *fakeRegistry) addr() string { return f.ln.Addr().String() }

func (f *fakeRegistry) acceptLoop() {
	defer f.wg.Done()
	for {
		nc, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.mu.Lock()
		idx := len(f.conns)
		f.conns = append(f.conns, nc)
		f.mu.Unlock()
		f.wg.Add(1)
		go f.serve(nc, idx)
	}
}

func (f *fakeRegistry) serve(nc net.Conn, idx int) {
	defer f.wg.Done()
	defer nc.Close()
	for {
		var out [][]byte
		for len(out) < f.batch {
			body, err := regmsg.ReadFrame(nc, nil)
			if err != nil {
				return
			}
			req, derr := regmsg.DecodeRequest(body)
			if derr != nil {
				f.t.Errorf("fake registry: client sent an invalid request %s: %v", body, derr)
				return
			}
			f.mu.Lock()
			n := len(f.reqs)
			f.reqs = append(f.reqs, recorded{req: req, conn: idx})
			f.mu.Unlock()
			r := f.handler(n, req)
			switch {
			case r.close:
				return
			case r.hang:
				continue
			}
			out = append(out, r.body)
		}
		for _, b := range out {
			frame, err := regmsg.AppendFrame(nil, b)
			if err != nil {
				f.t.Errorf("fake registry: %v", err)
				return
			}
			if _, err := nc.Write(frame); err != nil {
				return
			}
		}
	}
}

func (f *fakeRegistry) requests() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.reqs)
}

func (f *fakeRegistry) last() regmsg.Request {
	f.t.Helper()
	r := f.requests()
	if len(r) == 0 {
		f.t.Fatal("fake registry received no request")
	}
	return r[len(r)-1].req
}

func (f *fakeRegistry) connCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.conns)
}

// sleepLog replaces Client.sleep: it records the delays and returns at
// once, so the retry paths run without waiting.
type sleepLog struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleepLog) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleepLog) take() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.d
	s.d = nil
	return d
}

// testIdentity derives a fixed identity from one byte.
func testIdentity(t testing.TB, b byte) *identity.Identity {
	t.Helper()
	id, err := identity.FromSeed(bytes.Repeat([]byte{b}, identity.SeedSize))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

var fixedNow = time.Date(2026, 3, 27, 10, 15, 3, 412_000_000, time.UTC)

// newTestClient returns a client of f with identity 1 as node 7, a fixed
// clock and recorded sleeps; mutate adjusts the Config.
func newTestClient(t *testing.T, f *fakeRegistry, mutate func(*Config)) (*Client, *sleepLog) {
	t.Helper()
	cfg := Config{
		Addr:     f.addr(),
		Identity: testIdentity(t, 1),
		NodeID:   7,
		AuthMode: AuthV2,
		Timeout:  5 * time.Second,
		Clock:    func() time.Time { return fixedNow },
		Logger:   slog.New(slog.DiscardHandler),
	}
	if mutate != nil {
		mutate(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	sl := &sleepLog{}
	c.sleep = sl.sleep
	t.Cleanup(func() { c.Close() })
	return c, sl
}

// verifyV2 checks that req is a v2 request whose signature by pub covers
// its canonical string, and returns that string.
func verifyV2(t *testing.T, req regmsg.Request, pub ed25519.PublicKey) []byte {
	t.Helper()
	a := req.AuthFields()
	if regmsg.AuthVersion(req) != regmsg.AuthV2 || a.TS == nil || a.Nonce == nil {
		t.Fatalf("%s is not a v2 request (ts %v, nonce %v, signature %v)", req.Type(), a.TS, a.Nonce, a.Signature)
	}
	if _, err := regmsg.DecodeNonce(*a.Nonce); err != nil {
		t.Fatalf("%s: nonce %q: %v", req.Type(), *a.Nonce, err)
	}
	msg := regmsg.CanonicalV2(req)
	verifySig(t, pub, msg, *a.Signature)
	return msg
}

func verifySig(t *testing.T, pub ed25519.PublicKey, msg []byte, sigB64 string) {
	t.Helper()
	sig, err := regmsg.DecodeSignature(sigB64)
	if err != nil {
		t.Fatalf("signature %q: %v", sigB64, err)
	}
	if !ed25519.Verify(pub, msg, sig) {
		t.Fatalf("signature does not verify over %q", msg)
	}
}

// fakeConn is a net.Conn that swallows writes and, once the first write
// has happened (so a reply never precedes its request), reads a fixed byte
// string: the fuzz target's registry.
type fakeConn struct {
	r         io.Reader
	wrote     chan struct{}
	closed    chan struct{}
	wroteOnce sync.Once
	closeOnce sync.Once
}

func newFakeConn(data []byte) *fakeConn {
	return &fakeConn{r: bytes.NewReader(data), wrote: make(chan struct{}), closed: make(chan struct{})}
}

func (c *fakeConn) Read(p []byte) (int, error) {
	select {
	case <-c.wrote:
	case <-c.closed:
		return 0, net.ErrClosed
	}
	return c.r.Read(p)
}

func (c *fakeConn) Write(p []byte) (int, error) {
	c.wroteOnce.Do(func() { close(c.wrote) })
	return len(p), nil
}

func (c *fakeConn) Close() error {
	c.closeOnce.Do(func() { close(c.closed) })
	return nil
}

func (c *fakeConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *fakeConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c *fakeConn) SetDeadline(time.Time) error      { return nil }
func (c *fakeConn) SetReadDeadline(time.Time) error  { return nil }
func (c *fakeConn) SetWriteDeadline(time.Time) error { return nil }

func nodeAddr(n addr.NodeID) addr.Addr              { return addr.New(0, n) }
func pubOf(id *identity.Identity) ed25519.PublicKey { return id.PublicKey() }
func ctxT(t *testing.T) context.Context             { return t.Context() }

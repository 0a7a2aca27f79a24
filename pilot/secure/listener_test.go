package secure

import (
	"context"
	"errors"
	"net"
	"os"
	"sync"
	"testing"
	"time"
)

// fakeListener hands out the server ends of pipes.
type fakeListener struct {
	conns  chan net.Conn
	done   chan struct{}
	closed sync.Once
}

func newFakeListener() *fakeListener {
	return &fakeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *fakeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *fakeListener) Close() error   { l.closed.Do(func() { close(l.done) }); return nil }
func (l *fakeListener) Addr() net.Addr { return pilotAddr(serverNode, Port) }

// connect offers a new stream to the listener and returns the client end.
func (l *fakeListener) connect(t *testing.T) *pconn {
	t.Helper()
	cl, sv := pipe()
	select {
	case l.conns <- sv:
	case <-time.After(10 * time.Second):
		t.Fatal("listener does not accept")
	}
	return cl
}

func TestSecure_ListenerHandshakesDoNotBlockAccept(t *testing.T) {
	ccfg, scfg := setup()
	failures := make(chan error, 4)
	scfg.HandshakeError = func(_ net.Addr, err error) { failures <- err }
	inner := newFakeListener()
	ln, err := Listen(inner, scfg)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()

	silent := inner.connect(t) // never sends a byte
	defer silent.Close()
	bad := inner.connect(t) // sends garbage
	go bad.Write([]byte("GET / HTTP/1.1\r\n"))

	good := inner.connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cdone := make(chan result, 1)
	go func() {
		c, err := Client(ctx, good, ccfg)
		cdone <- result{c, err}
	}()
	sc, err := ln.Accept()
	if err != nil {
		t.Fatalf("Accept: %v", err)
	}
	defer sc.Close()
	cr := <-cdone
	if cr.err != nil {
		t.Fatalf("client: %v", cr.err)
	}
	defer cr.c.Close()
	if got := sc.(*Conn).PeerNodeID(); got != clientNode {
		t.Errorf("accepted PeerNodeID %d", got)
	}
	exchange(t, cr.c, sc.(*Conn), []byte("ping"), []byte("pong"))

	if err := <-failures; !errors.Is(err, ErrModeNotAllowed) {
		t.Errorf("garbage client: %v, want ErrModeNotAllowed", err)
	}

	// Close ends the silent handshake and later Accepts fail.
	if err := ln.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept after Close: %v", err)
	}
}

func TestSecure_ListenerHandshakeTimeout(t *testing.T) {
	_, scfg := setup()
	scfg.HandshakeTimeout = 50 * time.Millisecond
	failures := make(chan error, 1)
	scfg.HandshakeError = func(_ net.Addr, err error) { failures <- err }
	inner := newFakeListener()
	ln, err := Listen(inner, scfg)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	silent := inner.connect(t)
	defer silent.Close()
	if err := <-failures; !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("silent client: %v, want deadline exceeded", err)
	}
}

func TestSecure_HandshakeDeadline(t *testing.T) {
	t.Run("timeout", func(t *testing.T) {
		cl, sv := pipe()
		defer sv.Close()
		ccfg, _ := setup()
		ccfg.HandshakeTimeout = 50 * time.Millisecond
		go func() { // reads the ClientHello, never answers
			b := make([]byte, 64)
			for {
				if _, err := sv.Read(b); err != nil {
					return
				}
			}
		}()
		_, err := Client(context.Background(), cl, ccfg)
		if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.Is(err, ErrHandshake) {
			t.Fatalf("error %v, want a handshake deadline", err)
		}
		if !cl.closed.Load() {
			t.Error("stream left open")
		}
	})
	t.Run("context cancel", func(t *testing.T) {
		cl, sv := pipe()
		defer sv.Close()
		_, scfg := setup()
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			cl.Write([]byte("PSC2")) // then nothing
			cancel()
		}()
		_, err := Server(ctx, sv, scfg)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("error %v, want context.Canceled", err)
		}
	})
	t.Run("deadline cleared after success", func(t *testing.T) {
		cl, sv := pipe()
		ccfg, scfg := setup()
		mustPair(t, cl, sv, ccfg, scfg)
		for _, c := range []*pconn{cl, sv} {
			d := c.deadlines()
			if len(d) != 2 || d[0].IsZero() || !d[1].IsZero() {
				t.Errorf("deadlines set %v, want the handshake's then none", d)
			}
		}
	})
}

func TestSecure_DialUsesDialFunc(t *testing.T) {
	ccfg, scfg := setup()
	var gotAddr string
	ccfg.Dial = func(ctx context.Context, address string) (net.Conn, error) {
		gotAddr = address
		cl, sv := pipe()
		go func() {
			if c, err := Server(ctx, sv, scfg); err == nil {
				c.Write([]byte("hi"))
				c.Close()
			}
		}()
		return cl, nil
	}
	c, err := Dial(context.Background(), "0:0000.0000.1F00:443", ccfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if gotAddr != "0:0000.0000.1F00:443" || c.PeerNodeID() != serverNode {
		t.Fatalf("dialed %q, peer %d", gotAddr, c.PeerNodeID())
	}
	dialErr := errors.New("no route")
	ccfg.Dial = func(context.Context, string) (net.Conn, error) { return nil, dialErr }
	if _, err := Dial(context.Background(), "x", ccfg); !errors.Is(err, dialErr) {
		t.Fatalf("Dial error %v", err)
	}
}

package server

import (
	"crypto/tls"
	"net"
	"testing"
	"time"

	"github.com/pilot-go/pilot/internal/registry/tlsconf"
)

// pace waits until d has passed since t0. It only paces the client's
// writes (so that bytes reach the registry at given offsets); it never
// stands in for synchronisation: every assertion below is on what the
// client observes on the connection.
func pace(t0 time.Time, d time.Duration) {
	time.Sleep(time.Until(t0.Add(d)))
}

// trickleFirstFrame writes the first frame of a connection in three parts:
// its first byte at t0, the rest of its header with all of its body but one
// byte at headerAt, the last byte at lastAt (offsets from t0).
func trickleFirstFrame(c net.Conn, body string, headerAt, lastAt time.Duration) {
	f := frame(body)
	t0 := time.Now()
	_, _ = c.Write(f[:1])
	pace(t0, headerAt) // pacing only
	_, _ = c.Write(f[1 : len(f)-1])
	pace(t0, lastAt) // pacing only
	// The registry may have closed the connection already: a failed write
	// is part of the expected outcome, the read below decides.
	_, _ = c.Write(f[len(f)-1:])
}

// registry.md §1 "Once the first byte of a frame has arrived, the whole
// frame MUST arrive within the frame timeout", applied to the first frame
// of a connection, whose header the protocol sniff reads. The header
// completes at 0.75 × FrameTimeout (inside the sniff wait), the last byte
// comes at 1.5 × FrameTimeout after the first: the connection must be
// closed without a reply. (Before the fix the sniff's deadline was replaced
// by a fresh FrameTimeout once the header was in, so the frame had until
// 1.75 × FrameTimeout and was answered.)
func TestFirstFrameTimeoutFromFirstByte(t *testing.T) {
	const ft = 400 * time.Millisecond
	tcfg, err := tlsconf.Load(tlsconf.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cfg  Config
		dial func(t *testing.T, addr string) net.Conn
	}{
		{"plain", Config{FrameTimeout: ft}, dial},
		// Over TLS the first frame's header is read by the second sniff,
		// of the decrypted stream.
		{"tls", Config{FrameTimeout: ft, TLS: tcfg.Config}, dialTLS},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := start(t, tc.cfg)
			c := tc.dial(t, h.addr)
			trickleFirstFrame(c, `{"type":"a"}`, ft*3/4, ft*3/2)
			expectClosed(t, c) // fails on any reply byte
		})
	}
}

// The same trickle, finished well within the frame timeout of the first
// byte, is served: the first frame is not held to a stricter bound.
func TestFirstFrameWithinTimeoutIsServed(t *testing.T) {
	const ft = 2 * time.Second
	h := start(t, Config{FrameTimeout: ft})
	c := dial(t, h.addr)
	trickleFirstFrame(c, `{"type":"a"}`, ft/8, ft/4)
	if m := readFrame(t, c); m["type"] != "a_ok" {
		t.Fatalf("reply %v", m)
	}
}

func dialTLS(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { c.Close() })
	return c
}

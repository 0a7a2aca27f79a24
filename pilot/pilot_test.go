package pilot

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/pilot-go/pilot/internal/ipc"
	"github.com/pilot-go/pilot/internal/ipc/ipctest"
)

var (
	_ net.Conn       = (*Conn)(nil)
	_ net.Listener   = (*Listener)(nil)
	_ net.PacketConn = (*PacketConn)(nil)
	_ net.Addr       = (*Addr)(nil)
)

func TestConnRoundTrip(t *testing.T) {
	d := startDaemon(t, nil)
	a, b := d.pair(t)
	if !a.c.tagged {
		t.Fatal("tagged mode not negotiated")
	}
	payload := make([]byte, 3<<20+12345)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := a.Write(payload)
		if err == nil {
			err = a.Close()
		}
		errc <- err
	}()
	b.SetReadDeadline(time.Now().Add(testTimeout))
	got, err := io.ReadAll(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, payload) {
		t.Fatalf("received %d bytes, want %d identical", len(got), len(payload))
	}
	// The other direction after the peer closed: Send is refused (code 7)
	// or the write succeeds into a half-closed stream; either way no hang.
	b.SetWriteDeadline(time.Now().Add(testTimeout))
	b.Write([]byte("late"))
	if got := b.RemoteAddr().String(); got != "0:0000.0000.02AE:"+portOf(b.RemoteAddr()) {
		t.Errorf("remote address %q", got)
	}
	if b.LocalAddr().Network() != "pilot" {
		t.Errorf("network %q", b.LocalAddr().Network())
	}
}

func portOf(a net.Addr) string {
	s := a.String()
	return s[len("0:0000.0000.02AE:"):]
}

func TestReadDeadline(t *testing.T) {
	d := startDaemon(t, nil)
	a, b := d.pair(t)
	b.SetReadDeadline(time.Now().Add(-time.Second))
	_, err := b.Read(make([]byte, 10))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read with past deadline: %v", err)
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("error %v is not a net.Error timeout", err)
	}
	// A future deadline expires while waiting.
	b.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if _, err := b.Read(make([]byte, 10)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read with short deadline: %v", err)
	}
	// Clearing the deadline lets data through; a deadline moved while
	// blocked takes effect.
	b.SetReadDeadline(time.Time{})
	if _, err := a.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 10)
	n, err := b.Read(buf)
	if err != nil || string(buf[:n]) != "hello" {
		t.Fatalf("Read %q %v", buf[:n], err)
	}
	done := make(chan error, 1)
	go func() { _, err := b.Read(buf); done <- err }()
	b.SetReadDeadline(time.Now())
	if err := <-done; !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("blocked Read after SetReadDeadline(now): %v", err)
	}
	b.Close()
	if _, err := b.Read(buf); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Read after Close: %v", err)
	}
}

func TestWriteDeadlineBoundsSendOK(t *testing.T) {
	d := startDaemon(t, nil)
	a, b := d.pair(t)
	held := d.be.Conn(a.id)
	held.Hold(ipc.DefaultSendBuffer) // the daemon now withholds Send OKs
	a.SetWriteDeadline(time.Now().Add(30 * time.Millisecond))
	n, err := a.Write([]byte("x"))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Write: %d %v, want a deadline error", n, err)
	}
	held.Hold(0)
	a.SetWriteDeadline(time.Time{})
	if _, err := a.Write([]byte("y")); err != nil {
		t.Fatal(err)
	}
	b.SetReadDeadline(time.Now().Add(testTimeout))
	buf := make([]byte, 2)
	if _, err := io.ReadFull(b, buf); err != nil || string(buf) != "xy" {
		t.Fatalf("peer read %q %v", buf, err)
	}
}

// TestSlowConsumer: unread data of one connection does not stop the
// client's reader from serving another connection.
func TestSlowConsumer(t *testing.T) {
	d := startDaemon(t, nil)
	server, client := d.connect(t), d.connect(t)
	ln, err := server.Listen(testCtx(t), "pilot", ":700")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	target := "0:0000.0000.02AE:700"
	slow, err := client.Dial(testCtx(t), "pilot", target)
	if err != nil {
		t.Fatal(err)
	}
	fast, err := client.Dial(testCtx(t), "pilot", target)
	if err != nil {
		t.Fatal(err)
	}
	slowPeer, _ := ln.Accept()
	fastPeer, _ := ln.Accept()
	big := bytes.Repeat([]byte{0xAB}, 8<<20)
	if _, err := slowPeer.Write(big); err != nil { // nobody reads slow yet
		t.Fatal(err)
	}
	for i := range 20 {
		msg := []byte{byte(i)}
		if _, err := fastPeer.Write(msg); err != nil {
			t.Fatal(err)
		}
		fast.SetReadDeadline(time.Now().Add(testTimeout))
		got := make([]byte, 1)
		if _, err := io.ReadFull(fast, got); err != nil || got[0] != byte(i) {
			t.Fatalf("fast connection: %v %v", got, err)
		}
	}
	slow.SetReadDeadline(time.Now().Add(testTimeout))
	got := make([]byte, len(big))
	if _, err := io.ReadFull(slow, got); err != nil || !bytes.Equal(got, big) {
		t.Fatalf("slow connection lost data: %v", err)
	}
}

func TestListenerAcceptClose(t *testing.T) {
	d := startDaemon(t, nil)
	c := d.connect(t)
	ln, err := c.Listen(testCtx(t), "pilot", ":1000")
	if err != nil {
		t.Fatal(err)
	}
	if ln.Addr().String() != "0:0000.0000.02AE:1000" {
		t.Errorf("Addr %v", ln.Addr())
	}
	if _, err := d.connect(t).Listen(testCtx(t), "pilot", ":1000"); err == nil {
		t.Fatal("second Listen on the same port succeeded")
	} else {
		var pe *Error
		if !errors.As(err, &pe) || pe.Code != CodeAlreadyExists {
			t.Fatalf("second Listen: %v, want code already_exists", err)
		}
	}
	accepted := make(chan error, 1)
	go func() { _, err := ln.Accept(); accepted <- err }()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-accepted; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close: %v", err)
	}
	if d.be.Listening(1000) {
		t.Fatal("port still bound after Listener.Close (no Unbind)")
	}
	ln2, err := d.connect(t).Listen(testCtx(t), "pilot", "0:0000.0000.0000:1000")
	if err != nil {
		t.Fatalf("re-Listen after Close: %v", err)
	}
	ln2.Close()
	if err := ln.Close(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("second Close: %v", err)
	}
}

func TestDialErrors(t *testing.T) {
	gate := make(chan struct{})
	d := startDaemon(t, func(be *ipctest.Backend) {
		be.OnDial = func(ctx context.Context, req ipc.DialRequest) error {
			if req.Port != 99 {
				return nil
			}
			select {
			case <-gate:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	})
	c := d.connect(t)
	_, err := c.Dial(testCtx(t), "pilot", "0:0000.0000.02AE:5")
	var pe *Error
	if !errors.As(err, &pe) || pe.Code != CodeConnectionFailed || pe.Message != "connection refused" {
		t.Fatalf("Dial to a closed port: %v", err)
	}
	if _, err := c.Dial(testCtx(t), "tcp", "0:0000.0000.02AE:5"); err == nil {
		t.Fatal("network tcp accepted")
	}
	if _, err := c.Dial(testCtx(t), "pilot", "nonsense"); err == nil {
		t.Fatal("bad address accepted")
	}
	// A cancelled dial returns at once; the late connection is closed.
	ln, err := d.connect(t).Listen(testCtx(t), "pilot", ":99")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := c.Dial(ctx, "pilot", "0:0000.0000.02AE:99"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Dial with expiring ctx: %v", err)
	}
	close(gate)
	peer, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	peer.SetReadDeadline(time.Now().Add(testTimeout))
	if _, err := peer.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("abandoned dial's peer: %v, want EOF", err)
	}
}

func TestPacketConnRoundTrip(t *testing.T) {
	d := startDaemon(t, nil)
	a, err := d.connect(t).ListenPacket(testCtx(t), "pilot", ":0")
	if err != nil {
		t.Fatal(err)
	}
	b, err := d.connect(t).ListenPacket(testCtx(t), "pilot", ":4000")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.WriteTo([]byte("ping"), b.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	b.SetReadDeadline(time.Now().Add(testTimeout))
	n, from, err := b.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "ping" || from.String() != a.LocalAddr().String() {
		t.Fatalf("ReadFrom %q from %v: %v (want from %v)", buf[:n], from, err, a.LocalAddr())
	}
	if _, err := b.WriteTo([]byte("pong"), from); err != nil {
		t.Fatal(err)
	}
	a.SetReadDeadline(time.Now().Add(testTimeout))
	if n, _, err := a.ReadFrom(buf); err != nil || string(buf[:n]) != "pong" {
		t.Fatalf("reply %q %v", buf[:n], err)
	}
	a.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
	if _, _, err := a.ReadFrom(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("ReadFrom deadline: %v", err)
	}
	var pe *Error
	if _, err := a.WriteTo(nil, from); !errors.As(err, &pe) || pe.Code != CodeInvalidArgument {
		t.Fatalf("empty datagram: %v", err)
	}
	port := b.LocalAddr().(*Addr).Port
	b.Close()
	if d.be.Listening(port) {
		t.Fatal("PacketConn.Close did not unbind")
	}
}

func TestPackageLevelFunctions(t *testing.T) {
	d := startDaemon(t, nil)
	t.Setenv("PILOT_SOCKET", d.path)
	ln, err := Listen(testCtx(t), "pilot", ":0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*Addr).Port
	conn, err := Dial(testCtx(t), "pilot", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	peer, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	conn.Write([]byte("z"))
	peer.SetReadDeadline(time.Now().Add(testTimeout))
	if b, err := io.ReadAll(io.LimitReader(peer, 1)); err != nil || string(b) != "z" {
		t.Fatalf("read %q %v", b, err)
	}
	conn.Close() // also closes its IPC client
	if _, err := peer.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("after Close: %v", err)
	}
	ln.Close()
	if d.be.Listening(port) {
		t.Fatal("listener still bound")
	}
	pc, err := ListenPacket(testCtx(t), "pilot", ":0")
	if err != nil {
		t.Fatal(err)
	}
	pc.Close()
}

func TestCloseReasonAndNoDelay(t *testing.T) {
	d := startDaemon(t, nil)
	a, b := d.pair(t)
	if err := a.SetNoDelay(false); err != nil {
		t.Fatal(err)
	}
	if err := b.SetNoDelay(true); err != nil {
		t.Fatal(err)
	}
	d.be.Conn(b.id).Inject([]byte("tail"))
	d.be.Conn(b.id).End(2, "peer reset")
	b.SetReadDeadline(time.Now().Add(testTimeout))
	got, err := io.ReadAll(b)
	var ce *ClosedError
	if string(got) != "tail" || !errors.As(err, &ce) || ce.Reason != 2 || ce.Detail != "peer reset" {
		t.Fatalf("read %q, %v; want the data, then a ClosedError with reason 2", got, err)
	}
	if _, err := a.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
}

// TestPackageLevelFailuresReturnNilInterfaces pins that a failed Dial,
// Listen or ListenPacket returns a nil interface (not a typed nil that
// compares unequal to nil).
func TestPackageLevelFailuresReturnNilInterfaces(t *testing.T) {
	d := startDaemon(t, nil)
	ctx := testCtx(t)
	if c, err := Dial(ctx, "pilot", "0:0000.0000.02AE:5", WithSocket(d.path)); err == nil || c != nil {
		t.Fatalf("Dial to a closed port: conn %#v, err %v; want nil and an error", c, err)
	}
	if l, err := Listen(ctx, "tcp", ":1000", WithSocket(d.path)); err == nil || l != nil {
		t.Fatalf("Listen on network tcp: listener %#v, err %v; want nil and an error", l, err)
	}
	if pc, err := ListenPacket(ctx, "pilot", "nonsense", WithSocket(d.path)); err == nil || pc != nil {
		t.Fatalf("ListenPacket on a bad address: %#v, err %v; want nil and an error", pc, err)
	}
}

package netsim

import (
	"errors"
	"net"
	"testing"
	"testing/synctest"
	"time"
)

func TestReadDeadlinePassed(t *testing.T) {
	n := newNet(t, Config{})
	mustHost(t, n, pubA)
	a := listen(t, n, pubA, 1)
	if err := a.SetReadDeadline(time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	_, _, err := a.ReadFromUDPAddrPort(make([]byte, 10))
	if !isTimeout(err) {
		t.Fatalf("read past deadline: %v", err)
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("%v is not a net.Error with Timeout()", err)
	}
	// As with a real socket, an expired deadline wins over queued data ...
	send(t, a, "queued", a.LocalAddrPort())
	if _, _, err := a.ReadFromUDPAddrPort(make([]byte, 10)); !isTimeout(err) {
		t.Fatalf("read past deadline with data queued: %v", err)
	}
	// ... and clearing it makes the data readable.
	if err := a.SetReadDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	if msg, _ := recv(t, a); msg != "queued" {
		t.Fatalf("got %q", msg)
	}
}

// TestReadDeadlineUnblocksBlockedRead: a read loop blocked with no deadline is
// released by another goroutine setting one in the past.
func TestReadDeadlineUnblocksBlockedRead(t *testing.T) {
	n := newNet(t, Config{})
	mustHost(t, n, pubA)
	a := listen(t, n, pubA, 1)
	errc := make(chan error, 1)
	go func() {
		_, _, err := a.ReadFromUDPAddrPort(make([]byte, 10))
		errc <- err
	}()
	if err := a.SetReadDeadline(time.Now()); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if !isTimeout(err) {
			t.Fatalf("blocked read returned %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("blocked read not released by SetReadDeadline")
	}
}

// TestReadDeadlineTiming checks, on the bubble's virtual clock, that a read
// returns exactly at its deadline, that moving the deadline while a read is
// blocked takes effect, and that a timer of an earlier deadline cannot fire.
func TestReadDeadlineTiming(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, Config{})
		mustHost(t, n, pubA)
		a := listen(t, n, pubA, 1)
		buf := make([]byte, 10)

		start := time.Now()
		_ = a.SetReadDeadline(start.Add(100 * time.Millisecond))
		if _, _, err := a.ReadFromUDPAddrPort(buf); !isTimeout(err) {
			t.Fatalf("read: %v", err)
		}
		if got := time.Since(start); got != 100*time.Millisecond {
			t.Fatalf("deadline fired after %v", got)
		}

		// Extend while blocked: the read must last until the new deadline.
		start = time.Now()
		_ = a.SetReadDeadline(start.Add(50 * time.Millisecond))
		go func() {
			advance(10 * time.Millisecond)
			_ = a.SetReadDeadline(start.Add(300 * time.Millisecond))
		}()
		if _, _, err := a.ReadFromUDPAddrPort(buf); !isTimeout(err) {
			t.Fatalf("read: %v", err)
		}
		if got := time.Since(start); got != 300*time.Millisecond {
			t.Fatalf("extended deadline fired after %v", got)
		}

		// Clear while blocked: data sent later is read, the old timer is dead.
		_ = a.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		go func() {
			_ = a.SetReadDeadline(time.Time{})
			advance(time.Second)
			send(t, a, "late", a.LocalAddrPort())
		}()
		if got, _, err := a.ReadFromUDPAddrPort(buf); err != nil || string(buf[:got]) != "late" {
			t.Fatalf("read after clearing deadline: %q %v", buf[:got], err)
		}
	})
}

func TestCloseUnblocksRead(t *testing.T) {
	n := newNet(t, Config{})
	mustHost(t, n, pubA)
	a := listen(t, n, pubA, 1)
	errc := make(chan error, 1)
	go func() {
		_, _, err := a.ReadFromUDPAddrPort(make([]byte, 10))
		errc <- err
	}()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("blocked read returned %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("read still blocked 2 s after Close")
	}
	if _, _, err := a.ReadFromUDPAddrPort(nil); !errors.Is(err, net.ErrClosed) {
		t.Errorf("read after close: %v", err)
	}
	if err := a.SetReadDeadline(time.Time{}); !errors.Is(err, net.ErrClosed) {
		t.Errorf("SetReadDeadline after close: %v", err)
	}
	if err := a.Close(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("second Close: %v", err)
	}
	// A datagram to the closed socket's port is not delivered to it.
	b := listen(t, n, pubA, 2)
	send(t, b, "x", a.LocalAddrPort())
	if s := n.Stats(); s.Dropped[DropNoListener] != 1 {
		t.Errorf("stats %+v", s)
	}
}

// TestNetPacketConn drives a Conn through the net.PacketConn methods.
func TestNetPacketConn(t *testing.T) {
	n := newNet(t, Config{})
	mustHost(t, n, pubA, pubB)
	var a, b net.PacketConn = listen(t, n, pubA, 1), listen(t, n, pubB, 2)
	if _, err := a.WriteTo([]byte("pc"), b.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	if err := b.SetDeadline(time.Now().Add(2 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := b.SetWriteDeadline(time.Now()); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 10)
	got, from, err := b.ReadFrom(buf)
	if err != nil || string(buf[:got]) != "pc" || from.String() != "198.51.100.1:1" {
		t.Fatalf("ReadFrom: %q %v %v", buf[:got], from, err)
	}
}

package netsim

import (
	"errors"
	"net/netip"
	"os"
	"testing"
	"time"
)

// Addresses used across the tests.
var (
	beaconIP = netip.MustParseAddr("192.0.2.1")
	pubA     = netip.MustParseAddr("198.51.100.1")
	pubB     = netip.MustParseAddr("198.51.100.2")
	pubC     = netip.MustParseAddr("198.51.100.3")
	natPubA  = netip.MustParseAddr("203.0.113.1")
	natPubB  = netip.MustParseAddr("203.0.113.2")
	privA    = netip.MustParseAddr("10.0.0.2")
	privA2   = netip.MustParseAddr("10.0.0.3")
	privA3   = netip.MustParseAddr("10.0.0.4")
	privB    = netip.MustParseAddr("10.1.0.2")
)

// newNet creates a Network closed at the end of the test. Inside a synctest
// bubble the cleanup runs inside the bubble, so the bubble also checks that
// Close stopped the scheduler goroutine.
func newNet(t *testing.T, cfg Config) *Network {
	t.Helper()
	n, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = n.Close() })
	return n
}

func mustHost(t *testing.T, n *Network, ips ...netip.Addr) {
	t.Helper()
	for _, ip := range ips {
		if err := n.AddHost(ip); err != nil {
			t.Fatalf("AddHost(%v): %v", ip, err)
		}
	}
}

func mustNAT(t *testing.T, n *Network, cfg NATConfig, hosts ...netip.Addr) *NAT {
	t.Helper()
	nat, err := n.AddNAT(cfg)
	if err != nil {
		t.Fatalf("AddNAT(%v): %v", cfg.Public, err)
	}
	for _, ip := range hosts {
		if err := nat.AddHost(ip); err != nil {
			t.Fatalf("NAT.AddHost(%v): %v", ip, err)
		}
	}
	return nat
}

func listen(t *testing.T, n *Network, ip netip.Addr, port uint16) *Conn {
	t.Helper()
	c, err := n.ListenConn(ip, port)
	if err != nil {
		t.Fatalf("Listen(%v, %d): %v", ip, port, err)
	}
	return c
}

func send(t *testing.T, c PacketConn, msg string, to netip.AddrPort) {
	t.Helper()
	if _, err := c.WriteToUDPAddrPort([]byte(msg), to); err != nil {
		t.Fatalf("write to %v: %v", to, err)
	}
}

// recv reads one datagram, failing the test after a bounded wait (2 s of
// real time, or of virtual time inside a synctest bubble).
func recv(t *testing.T, c PacketConn) (string, netip.AddrPort) {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(2 * time.Second)); err != nil {
		t.Fatalf("SetReadDeadline: %v", err)
	}
	buf := make([]byte, MaxDatagram)
	n, from, err := c.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatalf("read on %v: %v", c.LocalAddr(), err)
	}
	return string(buf[:n]), from
}

// isTimeout reports whether err is a read-deadline error.
func isTimeout(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }

// advance lets virtual time pass inside a synctest bubble. It is not
// synchronisation: outside a bubble it must not be used.
func advance(d time.Duration) { time.Sleep(d) }

// discover plays the beacon's discovery (beacon.md §3): c sends to the beacon
// socket, which reads the datagram and returns its observed source.
func discover(t *testing.T, c PacketConn, beacon PacketConn) netip.AddrPort {
	t.Helper()
	send(t, c, "discover", beacon.LocalAddr().(interface{ AddrPort() netip.AddrPort }).AddrPort())
	msg, from := recv(t, beacon)
	if msg != "discover" {
		t.Fatalf("beacon got %q, want discover", msg)
	}
	return from
}

// waitFor polls cond until it holds or the bounded timeout passes.
func waitFor(t *testing.T, what string, cond func() bool, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		<-tick.C
	}
}

// checkBalance asserts the counter invariant of an idle network.
func checkBalance(t *testing.T, s Stats) {
	t.Helper()
	if s.Sent+s.Duplicated != s.Delivered+s.TotalDropped() {
		t.Errorf("stats do not balance: sent %d + dup %d != delivered %d + dropped %d (%v)",
			s.Sent, s.Duplicated, s.Delivered, s.TotalDropped(), s.Dropped)
	}
}

package netsim

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

func TestSendReceive(t *testing.T) {
	n := newNet(t, Config{Seed: 1})
	mustHost(t, n, pubA, pubB)
	a := listen(t, n, pubA, 4000)
	b := listen(t, n, pubB, 0)

	bAddr := b.LocalAddrPort()
	if bAddr.Addr() != pubB || bAddr.Port() < ephemeralFirst {
		t.Fatalf("ephemeral local address %v, want %v:%d+", bAddr, pubB, ephemeralFirst)
	}
	if got := a.LocalAddr().String(); got != "198.51.100.1:4000" {
		t.Fatalf("LocalAddr %q", got)
	}
	send(t, a, "hello", bAddr)
	msg, from := recv(t, b)
	if msg != "hello" || from != netip.MustParseAddrPort("198.51.100.1:4000") {
		t.Fatalf("got %q from %v", msg, from)
	}
	send(t, b, "world", from)
	if msg, from := recv(t, a); msg != "world" || from != bAddr {
		t.Fatalf("reply %q from %v", msg, from)
	}
	// IPv4-mapped IPv6 destinations are the same IPv4 destination.
	send(t, a, "mapped", netip.AddrPortFrom(netip.AddrFrom16(pubB.As16()), bAddr.Port()))
	if msg, _ := recv(t, b); msg != "mapped" {
		t.Fatalf("mapped destination: got %q", msg)
	}

	s := n.Stats()
	if s.Sent != 3 || s.Delivered != 3 || s.TotalDropped() != 0 {
		t.Fatalf("stats %+v", s)
	}
	if ps := n.PathStats(pubA, pubB); ps.Sent != 2 || ps.Delivered != 2 {
		t.Fatalf("path stats %+v", ps)
	}
	if cs := b.Stats(); cs.Sent != 1 || cs.Received != 2 {
		t.Fatalf("conn stats %+v", cs)
	}
}

func TestTruncatedRead(t *testing.T) {
	n := newNet(t, Config{})
	mustHost(t, n, pubA)
	a := listen(t, n, pubA, 1)
	send(t, a, "0123456789", a.LocalAddrPort())
	buf := make([]byte, 4)
	got, _, err := a.ReadFromUDPAddrPort(buf)
	if err != nil || got != 4 || string(buf) != "0123" {
		t.Fatalf("got %d %q %v", got, buf, err)
	}
}

func TestListenErrors(t *testing.T) {
	n := newNet(t, Config{})
	mustHost(t, n, pubA)
	mustNAT(t, n, NATConfig{Public: natPubA, Type: FullCone}, privA)
	listen(t, n, pubA, 5000)

	for _, tc := range []struct {
		ip   netip.Addr
		port uint16
		want error
	}{
		{pubA, 5000, ErrAddrInUse},
		{pubB, 1, ErrUnknownHost},
		{natPubA, 1, ErrUnknownHost}, // a NAT's public address is not a host
	} {
		if _, err := n.Listen(tc.ip, tc.port); !errors.Is(err, tc.want) {
			t.Errorf("Listen(%v, %d) = %v, want %v", tc.ip, tc.port, err, tc.want)
		}
	}
	for _, ip := range []netip.Addr{pubA, natPubA, privA} {
		if err := n.AddHost(ip); !errors.Is(err, ErrAddrTaken) {
			t.Errorf("AddHost(%v) = %v, want ErrAddrTaken", ip, err)
		}
	}
	for _, ip := range []netip.Addr{{}, netip.MustParseAddr("::1"), netip.IPv4Unspecified()} {
		if err := n.AddHost(ip); !errors.Is(err, ErrInvalidAddr) {
			t.Errorf("AddHost(%v) = %v, want ErrInvalidAddr", ip, err)
		}
	}
	if _, err := n.AddNAT(NATConfig{Public: natPubB}); !errors.Is(err, ErrInvalidParam) {
		t.Errorf("AddNAT without type = %v", err)
	}
	if _, err := New(Config{RecvQueue: -1}); !errors.Is(err, ErrInvalidParam) {
		t.Errorf("New(RecvQueue -1) = %v", err)
	}

	// Ephemeral ports are distinct and the port is reusable after Close.
	seen := map[uint16]bool{}
	for range 100 {
		c := listen(t, n, privA, 0)
		p := c.LocalAddrPort().Port()
		if seen[p] {
			t.Fatalf("ephemeral port %d handed out twice", p)
		}
		seen[p] = true
	}
	c, _ := n.ListenConn(pubA, 6000)
	_ = c.Close()
	listen(t, n, pubA, 6000)
}

func TestWriteErrors(t *testing.T) {
	n := newNet(t, Config{})
	mustHost(t, n, pubA)
	a := listen(t, n, pubA, 1)
	for _, tc := range []struct {
		name string
		len  int
		to   netip.AddrPort
		want error
	}{
		{"port 0", 1, netip.AddrPortFrom(pubB, 0), ErrInvalidAddr},
		{"ipv6", 1, netip.MustParseAddrPort("[2001:db8::1]:9"), ErrInvalidAddr},
		{"zero addr", 1, netip.AddrPort{}, ErrInvalidAddr},
		{"too large", MaxDatagram + 1, netip.AddrPortFrom(pubB, 9), ErrTooLarge},
	} {
		if _, err := a.WriteToUDPAddrPort(make([]byte, tc.len), tc.to); !errors.Is(err, tc.want) {
			t.Errorf("%s: err %v, want %v", tc.name, err, tc.want)
		}
	}
	if _, err := a.WriteToUDPAddrPort(make([]byte, MaxDatagram), a.LocalAddrPort()); err != nil {
		t.Errorf("largest datagram: %v", err)
	}
	if _, err := a.WriteTo([]byte("x"), &net.TCPAddr{}); !errors.Is(err, ErrInvalidAddr) {
		t.Errorf("WriteTo(TCPAddr) = %v", err)
	}
}

func TestUndeliverableCounted(t *testing.T) {
	n := newNet(t, Config{})
	mustHost(t, n, pubA, pubB)
	mustNAT(t, n, NATConfig{Public: natPubB, Type: FullCone}, privB)
	a := listen(t, n, pubA, 1)

	send(t, a, "x", netip.AddrPortFrom(pubC, 1))    // nobody has this address
	send(t, a, "x", netip.AddrPortFrom(privB, 1))   // private address behind a NAT
	send(t, a, "x", netip.AddrPortFrom(pubB, 1))    // host exists, port unbound
	send(t, a, "x", netip.AddrPortFrom(natPubB, 7)) // NAT has no mapping
	s := n.Stats()
	want := Stats{Sent: 4}
	want.Dropped[DropNoRoute] = 2
	want.Dropped[DropNoListener] = 1
	want.Dropped[DropNoMapping] = 1
	if s != want {
		t.Fatalf("stats %+v, want %+v", s, want)
	}
	if ps := n.PathStats(pubA, privB); ps.Dropped[DropNoRoute] != 1 {
		t.Fatalf("path stats %+v", ps)
	}
}

func TestRecvQueueFull(t *testing.T) {
	n := newNet(t, Config{RecvQueue: 3})
	mustHost(t, n, pubA, pubB)
	a, b := listen(t, n, pubA, 1), listen(t, n, pubB, 1)
	for i := range 5 {
		send(t, a, fmt.Sprint(i), b.LocalAddrPort())
	}
	if cs := b.Stats(); cs.Received != 3 || cs.Dropped != 2 {
		t.Fatalf("conn stats %+v", cs)
	}
	if s := n.Stats(); s.Dropped[DropRecvQueue] != 2 {
		t.Fatalf("stats %+v", s)
	}
	for i := range 3 {
		if msg, _ := recv(t, b); msg != fmt.Sprint(i) {
			t.Fatalf("datagram %d = %q", i, msg)
		}
	}
}

// TestSeedDeterminism: the same seed and the same sends give the same losses,
// duplicates, ephemeral ports and NAT ports; another seed does not.
func TestSeedDeterminism(t *testing.T) {
	run := func(seed uint64) string {
		n := newNet(t, Config{Seed: seed, RecvQueue: 1000, Link: LinkConfig{Loss: 0.5, Duplicate: 0.2}})
		mustHost(t, n, pubB)
		mustNAT(t, n, NATConfig{Public: natPubA, Type: Symmetric}, privA)
		a, b := listen(t, n, privA, 0), listen(t, n, pubB, 0)
		for i := range 200 {
			send(t, a, fmt.Sprint(i), b.LocalAddrPort())
		}
		var sb strings.Builder
		fmt.Fprintf(&sb, "%v %v|", a.LocalAddrPort(), b.LocalAddrPort())
		for range n.Stats().Delivered {
			msg, from := recv(t, b)
			fmt.Fprintf(&sb, "%s@%v ", msg, from)
		}
		return sb.String()
	}
	first := run(42)
	if again := run(42); again != first {
		t.Fatalf("same seed, different outcome:\n%s\n%s", first, again)
	}
	if other := run(43); other == first {
		t.Fatalf("different seeds, same outcome")
	}
}

func TestNetworkCloseUnblocksAndRefuses(t *testing.T) {
	n := newNet(t, Config{})
	mustHost(t, n, pubA)
	a := listen(t, n, pubA, 1)
	errc := make(chan error, 1)
	go func() {
		_, _, err := a.ReadFromUDPAddrPort(make([]byte, 10))
		errc <- err
	}()
	if err := n.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("read after Network.Close: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("read still blocked 2 s after Network.Close")
	}
	if _, err := a.WriteToUDPAddrPort([]byte("x"), a.LocalAddrPort()); !errors.Is(err, net.ErrClosed) {
		t.Errorf("write after close: %v", err)
	}
	if _, err := n.Listen(pubA, 2); !errors.Is(err, net.ErrClosed) {
		t.Errorf("listen after close: %v", err)
	}
	if err := n.AddHost(pubB); !errors.Is(err, net.ErrClosed) {
		t.Errorf("AddHost after close: %v", err)
	}
	if err := n.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestNetworkCloseWithPacketsInFlight runs in a bubble: if Close left the
// scheduler goroutine running, synctest.Test would fail.
func TestNetworkCloseWithPacketsInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n, err := New(Config{Link: LinkConfig{Delay: time.Hour}})
		if err != nil {
			t.Fatal(err)
		}
		if err := n.AddHost(pubA); err != nil {
			t.Fatal(err)
		}
		a := listen(t, n, pubA, 1)
		send(t, a, "late", a.LocalAddrPort())
		synctest.Wait()
		if s := n.Stats(); s.Sent != 1 || s.Delivered != 0 {
			t.Fatalf("stats %+v", s)
		}
		if err := n.Close(); err != nil {
			t.Fatal(err)
		}
	})
}

package netsim

import (
	"encoding/binary"
	"errors"
	"math"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"
)

// within reports whether got is within tol of want.
func within(got uint64, want, tol float64) bool {
	return math.Abs(float64(got)-want) <= tol
}

func TestLossStatistics(t *testing.T) {
	const total = 20000
	n := newNet(t, Config{Seed: 7, RecvQueue: total, Link: LinkConfig{Loss: 0.1}})
	mustHost(t, n, pubA, pubB)
	a, b := listen(t, n, pubA, 1), listen(t, n, pubB, 1)
	for range total {
		send(t, a, "x", b.LocalAddrPort())
	}
	s := n.Stats()
	// Binomial: sd = sqrt(20000·0.1·0.9) ≈ 42; allow 6 sd.
	if !within(s.Dropped[DropLoss], 2000, 250) {
		t.Fatalf("lost %d of %d at 10%%", s.Dropped[DropLoss], total)
	}
	if s.Delivered != total-s.Dropped[DropLoss] || b.Stats().Received != s.Delivered {
		t.Fatalf("stats %+v conn %+v", s, b.Stats())
	}
	checkBalance(t, s)
}

func TestDuplicationStatistics(t *testing.T) {
	const total = 20000
	n := newNet(t, Config{Seed: 8, RecvQueue: 2 * total, Link: LinkConfig{Duplicate: 0.05}})
	mustHost(t, n, pubA, pubB)
	a, b := listen(t, n, pubA, 1), listen(t, n, pubB, 1)
	for range total {
		send(t, a, "x", b.LocalAddrPort())
	}
	s := n.Stats()
	if !within(s.Duplicated, 1000, 200) {
		t.Fatalf("duplicated %d of %d at 5%%", s.Duplicated, total)
	}
	if s.Delivered != total+s.Duplicated {
		t.Fatalf("delivered %d, want %d", s.Delivered, total+s.Duplicated)
	}
	checkBalance(t, s)
}

// TestReorder sends numbered datagrams in one virtual instant; the ones held
// back arrive after later ones.
func TestReorder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const total = 2000
		n := newNet(t, Config{Seed: 9, RecvQueue: total, Link: LinkConfig{
			Delay: time.Millisecond, Reorder: 0.25, ReorderDelay: 20 * time.Millisecond,
		}})
		mustHost(t, n, pubA, pubB)
		a, b := listen(t, n, pubA, 1), listen(t, n, pubB, 1)
		var buf [4]byte
		for i := range total {
			binary.BigEndian.PutUint32(buf[:], uint32(i))
			if _, err := a.WriteToUDPAddrPort(buf[:], b.LocalAddrPort()); err != nil {
				t.Fatal(err)
			}
		}
		late, highest := 0, -1
		seen := make([]bool, total)
		for range total {
			msg, _ := recv(t, b)
			i := int(binary.BigEndian.Uint32([]byte(msg)))
			if seen[i] {
				t.Fatalf("datagram %d delivered twice", i)
			}
			seen[i] = true
			if i < highest {
				late++
			}
			highest = max(highest, i)
		}
		s := n.Stats()
		if !within(s.Reordered, 500, 120) {
			t.Fatalf("reordered %d of %d at 25%%", s.Reordered, total)
		}
		// Nearly every held-back datagram is overtaken by a later one.
		if late < int(s.Reordered)*9/10 || uint64(late) > s.Reordered {
			t.Fatalf("%d datagrams arrived late, %d were held back", late, s.Reordered)
		}
		checkBalance(t, s)
	})
}

func TestDelayAndJitter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, Config{Seed: 10, Link: LinkConfig{Delay: 50 * time.Millisecond, Jitter: 10 * time.Millisecond}})
		mustHost(t, n, pubA, pubB)
		if err := n.SetPath(pubA, pubC, LinkConfig{Delay: 30 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
		mustHost(t, n, pubC)
		a, b, c := listen(t, n, pubA, 1), listen(t, n, pubB, 1), listen(t, n, pubC, 1)
		start := time.Now()
		for range 100 {
			send(t, a, "j", b.LocalAddrPort())
		}
		var minD, maxD time.Duration = time.Hour, 0
		for range 100 {
			recv(t, b)
			d := time.Since(start)
			minD, maxD = min(minD, d), max(maxD, d)
		}
		if minD < 40*time.Millisecond || maxD > 60*time.Millisecond || maxD-minD < 10*time.Millisecond {
			t.Fatalf("delays in [%v, %v], want spread within [40ms, 60ms]", minD, maxD)
		}
		// The per-path override: exactly 30 ms, both directions.
		start = time.Now()
		send(t, a, "p", c.LocalAddrPort())
		recv(t, c)
		send(t, c, "q", a.LocalAddrPort())
		recv(t, a)
		if got := time.Since(start); got != 60*time.Millisecond {
			t.Fatalf("round trip on the 30 ms path took %v", got)
		}
	})
}

func TestBandwidthQueue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, Config{Link: LinkConfig{Bandwidth: 10000, QueueBytes: 5000}})
		mustHost(t, n, pubA, pubB)
		a, b := listen(t, n, pubA, 1), listen(t, n, pubB, 1)
		payload := make([]byte, 1000)
		start := time.Now()
		for range 10 {
			if _, err := a.WriteToUDPAddrPort(payload, b.LocalAddrPort()); err != nil {
				t.Fatal(err)
			}
		}
		if s := n.Stats(); s.Dropped[DropQueue] != 5 {
			t.Fatalf("queue drops %d, want 5 (5000-byte queue, 1000-byte datagrams)", s.Dropped[DropQueue])
		}
		for i := 1; i <= 5; i++ {
			recv(t, b)
			if got, want := time.Since(start), time.Duration(i)*100*time.Millisecond; got != want {
				t.Fatalf("datagram %d arrived after %v, want %v at 10 kB/s", i, got, want)
			}
		}
		// The queue has drained: the next datagram is accepted.
		if _, err := a.WriteToUDPAddrPort(payload, b.LocalAddrPort()); err != nil {
			t.Fatal(err)
		}
		recv(t, b)
		checkBalance(t, n.Stats())
	})
}

// TestCutAndHeal forces and then lifts a path failure, leaving other paths
// alone (the relay-fallback scenario of beacon.md §12.3).
func TestCutAndHeal(t *testing.T) {
	n := newNet(t, Config{})
	mustHost(t, n, beaconIP, pubA)
	natB := mustNAT(t, n, NATConfig{Public: natPubB, Type: FullCone}, privB)
	bc, a, b := listen(t, n, beaconIP, 9001), listen(t, n, pubA, 1), listen(t, n, privB, 1)
	eb := discover(t, b, bc)

	n.Cut(privB, pubA) // by the private address of the host behind the NAT
	send(t, a, "cut", eb)
	send(t, b, "cut", a.LocalAddrPort())
	if ps := n.PathStats(pubA, natB.Public()); ps.Dropped[DropDown] != 1 {
		t.Fatalf("A->B while cut: %+v", ps)
	}
	if ps := n.PathStats(privB, pubA); ps.Dropped[DropDown] != 1 {
		t.Fatalf("B->A while cut: %+v", ps)
	}
	send(t, a, "via beacon", bc.LocalAddrPort())
	if msg, _ := recv(t, bc); msg != "via beacon" {
		t.Fatalf("beacon got %q", msg)
	}
	n.Heal(pubA, privB)
	send(t, a, "healed", eb)
	if msg, _ := recv(t, b); msg != "healed" {
		t.Fatalf("after heal got %q", msg)
	}
	// A cut by public address has the same effect.
	n.Cut(natB.Public(), pubA)
	send(t, a, "cut", eb)
	if ps := n.PathStats(pubA, natB.Public()); ps.Dropped[DropDown] != 2 {
		t.Fatalf("cut by NAT address: %+v", ps)
	}
}

func TestLinkRules(t *testing.T) {
	n := newNet(t, Config{})
	mustHost(t, n, pubA, pubB, pubC)
	mustNAT(t, n, NATConfig{Public: natPubA, Type: FullCone}, privA, privA2)
	a, b, c := listen(t, n, pubA, 1), listen(t, n, pubB, 1), listen(t, n, pubC, 1)
	la, la2 := listen(t, n, privA, 1), listen(t, n, privA2, 1)
	lose := LinkConfig{Loss: 1}

	if err := n.SetPath(pubA, pubB, lose); err != nil {
		t.Fatal(err)
	}
	// Everything leaving the NAT is lost: matched by public address.
	if err := n.SetLink(netip.PrefixFrom(natPubA, 32), netip.MustParsePrefix("0.0.0.0/0"), lose); err != nil {
		t.Fatal(err)
	}
	send(t, a, "x", b.LocalAddrPort())
	send(t, b, "x", a.LocalAddrPort())
	send(t, la, "x", c.LocalAddrPort())
	send(t, a, "ok", c.LocalAddrPort())
	send(t, la, "lan", la2.LocalAddrPort()) // rules do not apply inside a LAN
	if s := n.Stats(); s.Dropped[DropLoss] != 3 || s.Delivered != 2 {
		t.Fatalf("stats %+v", s)
	}
	// A later, more specific rule wins over the NAT-wide one.
	if err := n.SetLink(netip.PrefixFrom(privA, 32), netip.PrefixFrom(pubC, 32), LinkConfig{}); err != nil {
		t.Fatal(err)
	}
	send(t, la, "y", c.LocalAddrPort())
	if ps := n.PathStats(privA, pubC); ps.Delivered != 1 {
		t.Fatalf("override: %+v", ps)
	}
	// Clearing the A<->B rules restores the default.
	n.ClearLink(netip.PrefixFrom(pubA, 32), netip.PrefixFrom(pubB, 32))
	send(t, a, "z", b.LocalAddrPort())
	if ps := n.PathStats(pubA, pubB); ps.Delivered != 1 {
		t.Fatalf("after ClearLink: %+v", ps)
	}
	// Runtime change of the default.
	if err := n.SetDefault(lose); err != nil {
		t.Fatal(err)
	}
	send(t, a, "w", b.LocalAddrPort())
	if ps := n.PathStats(pubA, pubB); ps.Dropped[DropLoss] != 2 {
		t.Fatalf("after SetDefault: %+v", ps)
	}
}

func TestInvalidLinkConfig(t *testing.T) {
	n := newNet(t, Config{})
	bad := []LinkConfig{
		{Loss: -0.1}, {Loss: 1.5}, {Duplicate: math.NaN()}, {Reorder: 2},
		{Delay: -1}, {Jitter: -1}, {ReorderDelay: -1}, {Bandwidth: -1}, {QueueBytes: -1},
	}
	for _, c := range bad {
		if err := n.SetDefault(c); !errors.Is(err, ErrInvalidParam) {
			t.Errorf("SetDefault(%+v) = %v", c, err)
		}
		if _, err := New(Config{Link: c}); !errors.Is(err, ErrInvalidParam) {
			t.Errorf("New(%+v) = %v", c, err)
		}
	}
	if err := n.SetLink(netip.Prefix{}, netip.MustParsePrefix("0.0.0.0/0"), LinkConfig{}); !errors.Is(err, ErrInvalidAddr) {
		t.Errorf("SetLink(invalid prefix) = %v", err)
	}
}

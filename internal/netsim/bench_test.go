package netsim

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// pump runs one reader per conn counting datagrams until the conn closes.
type pump struct {
	wg  sync.WaitGroup
	got atomic.Uint64
}

func (p *pump) start(c *Conn) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		buf := make([]byte, MaxDatagram)
		for {
			if _, _, err := c.ReadFromUDPAddrPort(buf); err != nil {
				return
			}
			p.got.Add(1)
		}
	}()
}

// TestConcurrentTraffic sends from several goroutines through NATs over a
// lossy, jittery, duplicating internet and checks that every datagram is
// accounted for once the network is idle (run with -race).
func TestConcurrentTraffic(t *testing.T) {
	const senders, perSender = 4, 1000
	n := newNet(t, Config{Seed: 12, RecvQueue: 8192, Link: LinkConfig{
		Delay: time.Millisecond, Jitter: 500 * time.Microsecond, Loss: 0.05, Duplicate: 0.05, Reorder: 0.1,
	}})
	mustHost(t, n, beaconIP)
	nat := mustNAT(t, n, NATConfig{Public: natPubA, Type: FullCone}, privA, privA2, privA3)
	sink := listen(t, n, beaconIP, 9001)
	var p pump
	p.start(sink)

	var wg sync.WaitGroup
	for i := range senders {
		ip := []netip.Addr{privA, privA2, privA3, privA}[i]
		c := listen(t, n, ip, 0)
		wg.Add(1)
		go func() {
			defer wg.Done()
			payload := make([]byte, 100)
			for range perSender {
				if _, err := c.WriteToUDPAddrPort(payload, sink.LocalAddrPort()); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	idle := func() bool {
		s := n.Stats()
		return s.Sent+s.Duplicated == s.Delivered+s.TotalDropped() && p.got.Load() == s.Delivered
	}
	waitFor(t, "all datagrams delivered or dropped", idle, 5*time.Second)
	s := n.Stats()
	if s.Sent != senders*perSender || s.Dropped[DropLoss] == 0 || s.Duplicated == 0 || s.Reordered == 0 {
		t.Fatalf("stats %+v", s)
	}
	if s.Dropped[DropRecvQueue] != 0 {
		t.Fatalf("receive queue overflowed: %+v", s)
	}
	if got := len(nat.Mappings()); got != senders {
		t.Fatalf("%d mappings for %d sockets", got, senders)
	}
	_ = sink.Close()
	p.wg.Wait()
}

// BenchmarkSendRecv: one goroutine writes and reads on a perfect path.
func BenchmarkSendRecv(b *testing.B) {
	n, err := New(Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer n.Close()
	_ = n.AddHost(pubA)
	_ = n.AddHost(pubB)
	x, _ := n.ListenConn(pubA, 1)
	y, _ := n.ListenConn(pubB, 1)
	payload, buf := make([]byte, 1200), make([]byte, MaxDatagram)
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := x.WriteToUDPAddrPort(payload, y.LocalAddrPort()); err != nil {
			b.Fatal(err)
		}
		if _, _, err := y.ReadFromUDPAddrPort(buf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDelayedThroughNAT: a writer and a reader goroutine across two
// NATs with 1 ms delay and jitter, so every datagram goes through the
// scheduler goroutine.
func BenchmarkDelayedThroughNAT(b *testing.B) {
	n, err := New(Config{RecvQueue: 1 << 16, Link: LinkConfig{Delay: time.Millisecond, Jitter: 200 * time.Microsecond}})
	if err != nil {
		b.Fatal(err)
	}
	defer n.Close()
	natA, _ := n.AddNAT(NATConfig{Public: natPubA, Type: FullCone})
	natB, _ := n.AddNAT(NATConfig{Public: natPubB, Type: FullCone})
	_ = natA.AddHost(privA)
	_ = natB.AddHost(privB)
	x, _ := n.ListenConn(privA, 1)
	y, _ := n.ListenConn(privB, 1)
	// Open B's mapping toward A so A can address B's public endpoint.
	_, _ = y.WriteToUDPAddrPort([]byte("open"), netip.AddrPortFrom(natPubA, 1))
	yPub := natB.Mappings()[0].Public
	var p pump
	p.start(y)
	payload := make([]byte, 1200)
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	start := time.Now()
	sent := 0
	for b.Loop() {
		if _, err := x.WriteToUDPAddrPort(payload, yPub); err != nil {
			b.Fatal(err)
		}
		sent++
	}
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); <-tick.C {
		if s := n.Stats(); s.Delivered+s.TotalDropped() >= uint64(sent)+1 { // +1: the "open" datagram
			break
		}
	}
	b.ReportMetric(float64(p.got.Load())/time.Since(start).Seconds(), "pkts/s")
	_ = y.Close()
	p.wg.Wait()
}

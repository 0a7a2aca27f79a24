package tunnel

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/netsim"
	"github.com/pilot-go/pilot/internal/wire/frame"
)

// TestWire_C8_QueuedThenDelivered: packets sent before keys exist are
// queued (≤ 64) and delivered after the exchange, in order; the first PILS
// carries counter 1 (C4); no PILT or PILK is ever sent (C5).
func TestWire_C8_QueuedThenDelivered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, netsim.LinkConfig{Delay: 5 * time.Millisecond})
		reg := newRegistry()
		a, b := pair(t, n, reg)
		for i := range 70 { // 6 more than the queue holds: the oldest go
			if err := a.m.Send(b.id, datagram(a.id, b.id, string(rune('A'+i%26))+string(rune('0'+i/26)))); err != nil {
				t.Fatal(err)
			}
		}
		if s, _ := a.m.Peer(b.id); s.Queued != QueuePackets {
			t.Fatalf("queued = %d, want %d", s.Queued, QueuePackets)
		}
		var got []string
		for len(got) < QueuePackets {
			in, ok := b.recv(5 * time.Second)
			if !ok {
				t.Fatalf("got %d of %d queued packets", len(got), QueuePackets)
			}
			if !in.auth || in.from != a.id || in.viaRelay {
				t.Fatalf("inbound %+v: want authenticated direct from %d", in, a.id)
			}
			got = append(got, string(in.pk.Payload))
		}
		if got[0] != "G0" || got[len(got)-1] != "R2" {
			t.Fatalf("delivered %q … %q, want G0 … R2 (oldest 6 dropped)", got[0], got[len(got)-1])
		}
		b.expectNone(time.Second)
		if err := b.m.Send(a.id, datagram(b.id, a.id, "back")); err != nil {
			t.Fatal(err)
		}
		a.mustRecv("back", time.Second)

		for _, nd := range []*node{a, b} {
			nd.tap.mu.Lock()
			first := nd.tap.pils[0]
			for i, c := range nd.tap.pils {
				if c != uint64(i+1) {
					t.Errorf("node %d: PILS #%d has counter %d, want %d", nd.id, i, c, i+1)
					break
				}
			}
			nd.tap.mu.Unlock()
			if first != 1 {
				t.Errorf("node %d: first PILS counter %d, want 1", nd.id, first)
			}
			if k, t2 := nd.tap.count(frame.KindPILK), nd.tap.count(frame.KindPILT); k+t2 != 0 {
				t.Errorf("node %d sent %d PILK and %d PILT with encryption on", nd.id, k, t2)
			}
			if nd.tap.count(frame.KindPILA) == 0 {
				t.Errorf("node %d sent no PILA", nd.id)
			}
		}
		sa, _ := a.m.Peer(b.id)
		if !sa.Encrypted || !sa.Authenticated || sa.Auth != "pila" || sa.Relay || sa.Endpoint.Addr() != pubB {
			t.Fatalf("peer stat %+v", sa)
		}
		if c := a.m.Counters(); c.EncryptionSuccess != QueuePackets || c.EncryptionFailure != 0 {
			t.Fatalf("counters %+v", c)
		}
	})
}

// TestTunnel_EncryptedBothWays exchanges many packets both ways.
func TestTunnel_EncryptedBothWays(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, netsim.LinkConfig{Delay: time.Millisecond})
		a, b := pair(t, n, newRegistry())
		establish(t, a, b)
		for i := range 200 {
			_ = a.m.Send(b.id, datagram(a.id, b.id, "x"))
			_ = b.m.Send(a.id, datagram(b.id, a.id, "y"))
			if i%50 == 0 {
				synctest.Wait()
			}
		}
		for range 200 {
			b.mustRecv("x", time.Second)
			a.mustRecv("y", time.Second)
		}
		if a.m.Counters().Established != 1 || b.m.Counters().Established != 1 {
			t.Fatalf("established a=%d b=%d, want one state each", a.m.Counters().Established, b.m.Counters().Established)
		}
	})
}

// TestTunnel_HoldUntilRegistered: no PILA leaves before SetNodeID (§6.2).
func TestTunnel_HoldUntilRegistered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, netsim.LinkConfig{})
		mustHost(t, n, pubA, pubB)
		reg := newRegistry()
		b := startNode(t, listen(t, n, pubB, 4000), 687, reg, nodeOpts{})
		a := startNode(t, listen(t, n, pubA, 4000), 686, reg, nodeOpts{})
		a.m.node.Store(0) // as if not registered yet
		_ = a.m.Send(b.id, datagram(686, b.id, "early"))
		time.Sleep(2 * time.Second)
		if c := a.tap.count(frame.KindPILA); c != 0 {
			t.Fatalf("%d PILA sent before registration", c)
		}
		a.m.SetNodeID(686)
		b.mustRecv("early", 2*time.Second)
	})
}

// TestTunnel_TooManyPending: the 1,025th peer with a queue is refused.
func TestTunnel_TooManyPending(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, netsim.LinkConfig{})
		mustHost(t, n, pubA)
		reg := newRegistry()
		a := startNode(t, listen(t, n, pubA, 4000), 686, reg, nodeOpts{})
		reg.unreachable = true // queues stay: no candidate, no registry
		for i := range MaxPendingPeers {
			if err := a.m.Send(addr.NodeID(1000+i), datagram(686, addr.NodeID(1000+i), "q")); err != nil {
				t.Fatalf("peer %d: %v", i, err)
			}
		}
		err := a.m.Send(5000, datagram(686, 5000, "q"))
		if err == nil || err.Error() != "too many pending key exchanges" {
			t.Fatalf("err = %v, want too many pending key exchanges", err)
		}
		time.Sleep(QueueAge + time.Second) // queues age out
		if err := a.m.Send(5000, datagram(686, 5000, "q")); err != nil {
			t.Fatalf("after ageing: %v", err)
		}
	})
}

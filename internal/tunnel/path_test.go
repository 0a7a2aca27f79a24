package tunnel

import (
	"fmt"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/netsim"
)

const noNAT netsim.NATType = 0

// punchable is netsim's punch table (netsim/punch_test.go punchOutcome):
// direct works unless one side is symmetric and the other filters by port.
func punchable(a, b netsim.NATType) bool {
	if a == netsim.Symmetric {
		a, b = b, a
	}
	return !(b == netsim.Symmetric && (a == netsim.PortRestricted || a == netsim.Symmetric))
}

func natName(t netsim.NATType) string {
	if t == noNAT {
		return "public"
	}
	return t.String()
}

// natNode starts a node behind a NAT of type typ (or on a public host).
func natNode(t *testing.T, n *netsim.Network, typ netsim.NATType, pub, priv netip.Addr, id addr.NodeID, reg *registry) *node {
	t.Helper()
	if typ == noNAT {
		mustHost(t, n, pub)
		return startNode(t, listen(t, n, pub, 4000), id, reg, nodeOpts{beacon: true})
	}
	nat, err := n.AddNAT(netsim.NATConfig{Public: pub, Type: typ})
	if err != nil {
		t.Fatal(err)
	}
	if err := nat.AddHost(priv); err != nil {
		t.Fatal(err)
	}
	return startNode(t, listen(t, n, priv, 4000), id, reg, nodeOpts{beacon: true})
}

func relayed(n *node, peer addr.NodeID) bool {
	s, _ := n.m.Peer(peer)
	return s.Relay
}

// TestTunnel_PunchMatrix: for every NAT pairing, first contact succeeds
// (direct after punching, or through the relay within 5 s), and after the
// direct retries the path is direct exactly where netsim's punch table says
// punching can work.
func TestTunnel_PunchMatrix(t *testing.T) {
	types := []netsim.NATType{noNAT, netsim.FullCone, netsim.AddressRestricted, netsim.PortRestricted, netsim.Symmetric}
	for _, ta := range types {
		for _, tb := range types {
			t.Run(natName(ta)+"/"+natName(tb), func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) { punchPair(t, ta, tb) })
			})
		}
	}
}

func punchPair(t *testing.T, ta, tb netsim.NATType) {
	n := newNet(t, netsim.LinkConfig{Delay: 10 * time.Millisecond})
	startBeacon(t, n)
	reg := newRegistry()
	a := natNode(t, n, ta, natPubA, privA, 686, reg)
	b := natNode(t, n, tb, natPubB, privB, 687, reg)
	time.Sleep(100 * time.Millisecond) // signed discovers reach the beacon

	_ = a.m.Send(b.id, datagram(a.id, b.id, "first"))
	b.mustRecv("first", 5*time.Second)
	_ = b.m.Send(a.id, datagram(b.id, a.id, "answer"))
	a.mustRecv("answer", 2*time.Second)

	// Keep the tunnel busy (as stream keepalives would) across two direct
	// retry periods.
	want := punchable(ta, tb)
	for i := range 80 {
		_ = a.m.Send(b.id, datagram(a.id, b.id, fmt.Sprint("a", i)))
		_ = b.m.Send(a.id, datagram(b.id, a.id, fmt.Sprint("b", i)))
		b.mustRecv(fmt.Sprint("a", i), 2*time.Second)
		a.mustRecv(fmt.Sprint("b", i), 2*time.Second)
		time.Sleep(9 * time.Second)
	}
	if ra, rb := relayed(a, b.id), relayed(b, a.id); ra == want || rb == want {
		t.Fatalf("relay a→b %v, b→a %v; want direct = %v", ra, rb, want)
	}
}

// TestWire_C14_RelayThenDirect: two daemons that cannot reach each other
// directly connect through the relay within 5 s, and return to direct
// within one retry period once direct reachability exists.
func TestWire_C14_RelayThenDirect(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, netsim.LinkConfig{Delay: 10 * time.Millisecond})
		fb := startBeacon(t, n)
		reg := newRegistry()
		mustHost(t, n, pubA, pubB)
		n.Cut(pubA, pubB)
		a := startNode(t, listen(t, n, pubA, 4000), 686, reg, nodeOpts{beacon: true})
		b := startNode(t, listen(t, n, pubB, 4000), 687, reg, nodeOpts{beacon: true})
		start := time.Now()
		_ = a.m.Send(b.id, datagram(a.id, b.id, "via-relay"))
		in := b.mustRecv("via-relay", 5*time.Second)
		if !in.viaRelay || time.Since(start) > 5*time.Second {
			t.Fatalf("first packet: relay %v after %v", in.viaRelay, time.Since(start))
		}
		if _, ok := <-waitEvent(a, EventRelayActivated); !ok {
			t.Fatal("no tunnel.relay_activated")
		}
		if !relayed(a, b.id) || !relayed(b, a.id) || fb.relayCount() == 0 {
			t.Fatal("not on the relay")
		}
		n.Heal(pubA, pubB)
		healed := time.Now()
		for i := 0; relayed(a, b.id) || relayed(b, a.id); i++ {
			if time.Since(healed) > DirectRetryPeriod*11/10+time.Second {
				t.Fatalf("still relayed %v after heal (a %v, b %v)\na %+v\nb %+v", time.Since(healed), relayed(a, b.id), relayed(b, a.id), a.m.Counters(), b.m.Counters())
			}
			_ = a.m.Send(b.id, datagram(a.id, b.id, fmt.Sprint("k", i)))
			_ = b.m.Send(a.id, datagram(b.id, a.id, fmt.Sprint("k", i)))
			time.Sleep(5 * time.Second)
		}
		relays := fb.relayCount()
		_ = a.m.Send(b.id, datagram(a.id, b.id, "direct-again"))
		if in := b.mustRecv("direct-again", time.Second); in.viaRelay {
			t.Fatal("still relayed")
		}
		if fb.relayCount() != relays {
			t.Fatal("frames still go through the beacon")
		}
	})
}

// TestWire_C13_NATRebinding: after the peer's NAT mapping changes, the next
// authenticated frame from the new address moves endpoint[P]; a replayed
// frame from another address does not.
func TestWire_C13_NATRebinding(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, netsim.LinkConfig{Delay: time.Millisecond})
		reg := newRegistry()
		mustHost(t, n, pubB)
		nat, err := n.AddNAT(netsim.NATConfig{Public: natPubA, Type: netsim.FullCone})
		if err != nil {
			t.Fatal(err)
		}
		if err := nat.AddHost(privA); err != nil {
			t.Fatal(err)
		}
		b := startNode(t, listen(t, n, pubB, 4000), 687, reg, nodeOpts{})
		a := startNode(t, listen(t, n, privA, 4000), 686, reg, nodeOpts{})
		establish(t, a, b)
		before, _ := b.m.Peer(a.id)
		if before.Endpoint.Addr() != natPubA {
			t.Fatalf("endpoint %v, want the NAT's", before.Endpoint)
		}
		a.tap.mu.Lock()
		old := append([]byte(nil), a.tap.frames[0]...)
		a.tap.mu.Unlock()

		if err := n.Rebind(privA); err != nil {
			t.Fatal(err)
		}
		_ = a.m.Send(b.id, datagram(a.id, b.id, "rebound"))
		b.mustRecv("rebound", time.Second)
		after, _ := b.m.Peer(a.id)
		if after.Endpoint == before.Endpoint || after.Endpoint.Addr() != natPubA {
			t.Fatalf("endpoint %v → %v, want a new NAT port", before.Endpoint, after.Endpoint)
		}
		_ = b.m.Send(a.id, datagram(b.id, a.id, "to-new-mapping"))
		a.mustRecv("to-new-mapping", time.Second)

		mustHost(t, n, pubX)
		raw := listen(t, n, pubX, 4000)
		mustWrite(t, raw, old, epOf(pubB))
		synctest.Wait()
		time.Sleep(10 * time.Millisecond)
		if s, _ := b.m.Peer(a.id); s.Endpoint != after.Endpoint {
			t.Fatalf("replayed frame moved the endpoint to %v", s.Endpoint)
		}
	})
}

// TestWire_C10_PeerRestartRecovery: a daemon restarts with the same
// identity on the same address; the other side still holds the old state.
// Its first PILS gets a recovery PILA and traffic resumes within 3 s.
func TestWire_C10_PeerRestartRecovery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, netsim.LinkConfig{Delay: 5 * time.Millisecond})
		reg := newRegistry()
		a, b := pair(t, n, reg)
		establish(t, a, b)
		b.stop()
		b2 := startNode(t, listen(t, n, pubB, 4000), 687, reg, nodeOpts{ident: b.ident})
		start := time.Now()
		for i := 0; ; i++ {
			_ = a.m.Send(b2.id, datagram(a.id, b2.id, "after-restart"))
			if _, ok := b2.recv(200 * time.Millisecond); ok {
				break
			}
			if time.Since(start) > 3*time.Second {
				t.Fatalf("no traffic 3 s after restart (a %+v, b2 %+v)", a.m.Counters(), b2.m.Counters())
			}
		}
		if b2.m.Counters().Recoveries == 0 {
			t.Fatal("no recovery PILA")
		}
		_ = b2.m.Send(a.id, datagram(b2.id, a.id, "back"))
		a.mustRecv("back", time.Second)
	})
}

// TestWire_C11_SuspectPeerLossRekeys: the peer lost its state and never
// asks (as the original); two RTOs (SuspectPeerLoss) rekey and traffic
// resumes.
func TestWire_C11_SuspectPeerLossRekeys(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, netsim.LinkConfig{Delay: 5 * time.Millisecond})
		reg := newRegistry()
		a, b := pair(t, n, reg)
		establish(t, a, b)
		b.stop()
		b2 := startNode(t, listen(t, n, pubB, 4000), 687, reg, nodeOpts{ident: b.ident, silent: true})
		_ = a.m.Send(b2.id, datagram(a.id, b2.id, "lost"))
		b2.expectNone(time.Second)
		start := time.Now()
		a.m.SuspectPeerLoss(b2.id, LossRTO)
		_ = a.m.Send(b2.id, datagram(a.id, b2.id, "resumed")) // sealed under the new state at once
		waitUntil(t, 5*time.Second, "rekey confirmed", func() bool { return !a.m.lockedRekeyPending(b2.id) })
		_ = a.m.Send(b2.id, datagram(a.id, b2.id, "resumed"))
		b2.mustRecv("resumed", 5*time.Second-time.Since(start))
		if s, _ := a.m.Peer(b2.id); s.Rekeys != 1 {
			t.Fatalf("rekeys = %d", s.Rekeys)
		}
	})
}

// TestTunnel_RekeyInterval: trigger (b) rekeys after -rekey-interval and
// traffic continues across the rekey without loss.
func TestTunnel_RekeyInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, netsim.LinkConfig{Delay: 5 * time.Millisecond})
		a, b := pair(t, n, newRegistry())
		establish(t, a, b)
		for i := range 17 {
			time.Sleep(9 * time.Minute)
			_ = a.m.Send(b.id, datagram(a.id, b.id, fmt.Sprint("r", i)))
			b.mustRecv(fmt.Sprint("r", i), time.Second)
			_ = b.m.Send(a.id, datagram(b.id, a.id, fmt.Sprint("s", i)))
			a.mustRecv(fmt.Sprint("s", i), time.Second)
		}
		sa, _ := a.m.Peer(b.id)
		sb, _ := b.m.Peer(a.id)
		if sa.Rekeys+sb.Rekeys == 0 || sa.KeyAge > DefaultRekey+time.Minute {
			t.Fatalf("no rekey after 150 min: a %+v b %+v", sa, sb)
		}
	})
}

// TestTunnel_PeerRestartNewPort: the peer restarts on a new port and stays
// silent; SuspectPeerLoss rekeys and re-resolves, the rekey PILA reaches the
// newly registered address, and the endpoint follows.
func TestTunnel_PeerRestartNewPort(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, netsim.LinkConfig{Delay: 5 * time.Millisecond})
		reg := newRegistry()
		a, b := pair(t, n, reg)
		establish(t, a, b)
		b.stop()
		b2 := startNode(t, listen(t, n, pubB, 4001), 687, reg, nodeOpts{ident: b.ident, silent: true})
		a.m.SuspectPeerLoss(b2.id, LossRTO)
		waitUntil(t, 5*time.Second, "rekey confirmed", func() bool { return !a.m.lockedRekeyPending(b2.id) })
		_ = a.m.Send(b2.id, datagram(a.id, b2.id, "new-port"))
		b2.mustRecv("new-port", time.Second)
		if s, _ := a.m.Peer(b2.id); s.Endpoint != netip.AddrPortFrom(pubB, 4001) {
			t.Fatalf("endpoint %v", s.Endpoint)
		}
	})
}

// TestWire_OwnEndpointChange is beacon.md §12.4: our NAT rebinds; the next
// signed discover observes the new mapping, the layer above is told to
// re-register, and a PILA (T6) makes the peer follow.
func TestWire_OwnEndpointChange(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, netsim.LinkConfig{Delay: 5 * time.Millisecond})
		startBeacon(t, n)
		reg := newRegistry()
		mustHost(t, n, pubB)
		a := natNode(t, n, netsim.FullCone, natPubA, privA, 686, reg)
		b := startNode(t, listen(t, n, pubB, 4000), 687, reg, nodeOpts{beacon: true})
		establish(t, a, b)
		old := a.m.ObservedEndpoint()
		if err := n.Rebind(privA); err != nil {
			t.Fatal(err)
		}
		var cur netip.AddrPort
		select {
		case cur = <-a.moved:
		case <-time.After(30 * time.Second):
			t.Fatal("no EndpointChanged within one discover period")
		}
		if cur == old || cur.Addr() != natPubA || a.m.ObservedEndpoint() != cur {
			t.Fatalf("observed %v → %v", old, cur)
		}
		waitUntil(t, time.Second, "peer follows", func() bool {
			s, _ := b.m.Peer(a.id)
			return s.Endpoint == cur
		})
		_ = b.m.Send(a.id, datagram(b.id, a.id, "to-new-mapping"))
		a.mustRecv("to-new-mapping", time.Second)
	})
}

// TestWire_LANCandidate: two daemons behind the same NAT (no hairpinning)
// reach each other directly through the lan_addrs candidate in the same
// /24 (§7.1 step 2).
func TestWire_LANCandidate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, netsim.LinkConfig{Delay: 5 * time.Millisecond})
		startBeacon(t, n)
		reg := newRegistry()
		nat, err := n.AddNAT(netsim.NATConfig{Public: natPubA, Type: netsim.PortRestricted})
		if err != nil {
			t.Fatal(err)
		}
		privA2 := netip.MustParseAddr("10.0.0.3")
		for _, ip := range []netip.Addr{privA, privA2} {
			if err := nat.AddHost(ip); err != nil {
				t.Fatal(err)
			}
		}
		a := startNode(t, listen(t, n, privA, 4000), 686, reg, nodeOpts{beacon: true, lan: []netip.Addr{privA}})
		b := startNode(t, listen(t, n, privA2, 4000), 687, reg, nodeOpts{beacon: true, lan: []netip.Addr{privA2}})
		reg.mu.Lock()
		reg.lans[a.id] = []netip.AddrPort{epOf(privA)}
		reg.lans[b.id] = []netip.AddrPort{epOf(privA2)}
		reg.mu.Unlock()
		_ = a.m.Send(b.id, datagram(a.id, b.id, "lan"))
		if in := b.mustRecv("lan", 2*time.Second); in.viaRelay {
			t.Fatal("relayed")
		}
		if s, _ := a.m.Peer(b.id); s.Relay || s.Endpoint != epOf(privA2) {
			t.Fatalf("peer %+v, want direct at %v", s, epOf(privA2))
		}
	})
}

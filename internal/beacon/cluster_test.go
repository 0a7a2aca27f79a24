package beacon

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/wire/beaconmsg"
)

// clusterPair starts beacons A and B, each the other's static peer.
func clusterPair(t *testing.T, cfgA, cfgB Config, hA, hB testHooks) (*Server, *Server) {
	t.Helper()
	ca, err := listenUDP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cb, err := listenUDP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfgA.BeaconID, cfgA.Peers = 1, []string{cb.LocalAddr().String()}
	cfgB.BeaconID, cfgB.Peers = 2, []string{ca.LocalAddr().String()}
	return runServer(t, cfgA, ca, hA), runServer(t, cfgB, cb, hB)
}

func handledHook(ev events[handledEvent]) func(byte, netip.AddrPort) {
	return func(typ byte, src netip.AddrPort) { ev <- handledEvent{typ, src} }
}

// §14 item 7: a relay between nodes on different beacons is forwarded
// once; a Relay received from a peer beacon is never forwarded again.
func TestBeacon_C7_ClusterRelay(t *testing.T) {
	hA, hB := newEvents[handledEvent](), newEvents[handledEvent]()
	rA, rB := newEvents[relayResult](), newEvents[relayResult]()
	bA, bB := clusterPair(t, Config{}, Config{},
		testHooks{handled: handledHook(hA), relayed: func(r relayResult) { rA <- r }},
		testHooks{handled: handledHook(hB), relayed: func(r relayResult) { rB <- r }})
	na, nb := newClient(t, "127.0.0.1"), newClient(t, "127.0.0.1")
	na.discover(bA.Addr(), 50)
	nb.discover(bB.Addr(), 51)

	isSyncFrom := func(src netip.AddrPort) func(handledEvent) bool {
		return func(e handledEvent) bool { return e.typ == byte(beaconmsg.TypeSync) && e.src == src }
	}
	bB.sendSyncs()
	hA.waitFor(t, isSyncFrom(bB.Addr()))
	bA.sendSyncs()
	hB.waitFor(t, isSyncFrom(bA.Addr()))
	if a, b := bA.Stats().PeerNodes, bB.Stats().PeerNodes; a != 1 || b != 1 {
		t.Fatalf("peer nodes A=%d B=%d, want 1 each", a, b)
	}

	// a → b through A: A forwards once to B, B delivers from its address.
	na.send(bA.Addr(), relayMsg(50, 51, frameA))
	if got, src := nb.recv(); src != bB.Addr() || !bytes.Equal(got, deliverMsg(50, frameA)) {
		t.Fatalf("delivery % x from %v", got, src)
	}
	if r := rA.next(t); r != relayPeer {
		t.Fatalf("A: %v", r)
	}
	if r := rB.next(t); r != relayForwarded {
		t.Fatalf("B: %v", r)
	}

	// b → a back through B and A.
	nb.send(bB.Addr(), relayMsg(51, 50, frameS))
	if got, src := na.recv(); src != bA.Addr() || !bytes.Equal(got, deliverMsg(51, frameS)) {
		t.Fatalf("delivery % x from %v", got, src)
	}
	rB.next(t)
	rA.next(t)

	// A Relay that reaches A from its peer B for a node that A only knows
	// through B is not sent back (one hop at most).
	bB.send(relayMsg(50, 51, frameS), bA.Addr(), netip.Addr{})
	if r := rA.next(t); r != relayNotFound {
		t.Fatalf("relay from a peer for a peer node: %v, want not_found", r)
	}
	if st := bA.Stats(); st.Relay["peer"] != 1 {
		t.Fatalf("A forwarded %d relays to peers, want 1", st.Relay["peer"])
	}
	select {
	case r := <-rB:
		t.Fatalf("B processed an unexpected relay job: %v", r)
	default:
	}
}

// §14 item 8: Sync from a non-peer changes nothing; a node absent from a
// peer's Syncs disappears from the peer map within 35 s.
func TestBeacon_C8_SyncPeersOnly(t *testing.T) {
	clk := newFakeClock()
	peer, stranger := newClient(t, "127.0.0.1"), newClient(t, "127.0.0.1")
	handled := newEvents[handledEvent]()
	s := startServer(t, Config{Now: clk.Now, Peers: []string{peer.addr().String()}}, testHooks{handled: handledHook(handled)})
	bcn := s.Addr()
	sync := func(from *client, ids ...addr.NodeID) {
		t.Helper()
		from.send(bcn, mustMarshal(t, beaconmsg.Sync{Beacon: 9, Nodes: ids}))
		handled.waitFor(t, func(e handledEvent) bool { return e.src == from.addr() })
	}

	sync(stranger, 60, 61)
	if st := s.Stats(); st.PeerNodes != 0 || st.Drops["source"] != 1 {
		t.Fatalf("Sync from a stranger: %+v", st)
	}
	sync(peer, 60, 61, 0, addr.BroadcastNode) // invalid IDs are skipped
	if st := s.Stats(); st.PeerNodes != 2 {
		t.Fatalf("peer nodes %d, want 2", st.PeerNodes)
	}
	// Truncated Sync (count says 3, two IDs present): dropped.
	bad := mustMarshal(t, beaconmsg.Sync{Beacon: 9, Nodes: []addr.NodeID{62, 63, 64}})
	peer.send(bcn, bad[:len(bad)-4])
	handled.waitFor(t, func(e handledEvent) bool { return e.src == peer.addr() })
	if _, _, _, ok := s.table.route(62, clk.Now()); ok {
		t.Fatal("truncated Sync was applied")
	}

	clk.Advance(30 * time.Second)
	sync(peer, 60) // 61 is no longer announced
	clk.Advance(6 * time.Second)
	if _, _, _, ok := s.table.route(60, clk.Now()); !ok {
		t.Fatal("node 60 (refreshed) vanished")
	}
	if _, _, _, ok := s.table.route(61, clk.Now()); ok {
		t.Fatal("node 61 still mapped 36 s after its last announcement")
	}
	s.table.reap(clk.Now())
	if st := s.Stats(); st.PeerNodes != 1 {
		t.Fatalf("peer nodes %d after reap, want 1", st.PeerNodes)
	}
	// Local entries win over announcements.
	local := newClient(t, "127.0.0.1")
	local.discover(bcn, 60)
	if e, isLocal, _, _ := s.table.route(60, clk.Now()); !isLocal || e.ep != local.addr() {
		t.Fatal("local entry does not win")
	}
}

// §7.1: Sync messages carry the local table, split at 16,000 IDs, and go
// to every peer.
func TestBeacon_SyncSplitsLargeTables(t *testing.T) {
	clk := newFakeClock()
	peer := newClient(t, "127.0.0.1")
	s, mc := newMemServer(t, Config{Now: clk.Now, BeaconID: 3, Peers: []string{peer.addr().String()}})
	for i := range 16001 {
		s.table.applyPlain(addr.NodeID(i+1), netip.MustParseAddrPort("198.51.100.1:1"), netip.Addr{}, clk.Now())
	}
	s.sendSyncs()
	sent := mc.take()
	if len(sent) != 2 {
		t.Fatalf("%d Sync messages, want 2", len(sent))
	}
	total := 0
	for _, p := range sent {
		m, err := beaconmsg.Parse(p.b)
		if err != nil || p.to != peer.addr() || len(p.b) > 64007 {
			t.Fatalf("Sync %v to %v (%d bytes)", err, p.to, len(p.b))
		}
		total += len(m.(beaconmsg.Sync).Nodes)
	}
	if total != 16001 {
		t.Fatalf("announced %d IDs", total)
	}
}

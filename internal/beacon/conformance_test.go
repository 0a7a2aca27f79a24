package beacon

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/identity"
	"github.com/pilot-go/pilot/internal/wire/beaconmsg"
)

var (
	frameA = append([]byte("PILA"), bytes.Repeat([]byte{0xAA}, 40)...)
	frameS = append([]byte("PILS"), bytes.Repeat([]byte{0x55}, 100)...)
)

// §14 item 1: a 5-byte Discover gets an 8-byte (IPv4) or 20-byte (IPv6)
// reply with the observed endpoint, from the address it was sent to; node
// 0 is answered but not recorded.
func TestBeacon_C1_DiscoverReply(t *testing.T) {
	for _, listen := range []string{"127.0.0.1:0", ":0", "0.0.0.0:0"} {
		t.Run(listen, func(t *testing.T) {
			s := startServer(t, Config{Listen: listen}, testHooks{})
			port := s.Addr().Port()
			c := newClient(t, "127.0.0.1")
			dst := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port)
			for _, node := range []addr.NodeID{0, 7} {
				got := c.discover(dst, node) // checks the reply's source
				if len(got) != 8 || !bytes.Equal(got, replyFor(t, c.addr())) {
					t.Fatalf("node %d: reply % x, want 02 ‖ %v (8 bytes)", node, got, c.addr())
				}
			}
			st := s.Stats()
			if st.NodesPlain != 1 {
				t.Fatalf("recorded %d nodes, want 1 (node 7 only)", st.NodesPlain)
			}
			if _, ok := s.table.lookup(0, s.cfg.Now()); ok {
				t.Fatal("node 0 was recorded")
			}
			if listen == "127.0.0.1:0" {
				return
			}
			// Wildcard listener: a Discover sent to 127.0.0.2 is answered
			// from 127.0.0.2, although routing toward 127.0.0.1 would pick
			// 127.0.0.1 as source (per-packet source selection).
			dst2 := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.2"), port)
			if got := c.discover(dst2, 8); !bytes.Equal(got, replyFor(t, c.addr())) {
				t.Fatalf("reply % x", got)
			}
			if !ipv6Loopback() || listen != ":0" {
				return
			}
			c6 := newClient(t, "::1")
			dst6 := netip.AddrPortFrom(netip.IPv6Loopback(), port)
			got := c6.discover(dst6, 9)
			if len(got) != 20 || !bytes.Equal(got, replyFor(t, c6.addr())) {
				t.Fatalf("IPv6 reply % x, want 20 bytes for %v", got, c6.addr())
			}
		})
	}
}

// keyLookup is a fake registry: node → key, counting lookups.
type keyLookup struct {
	keys  map[addr.NodeID]*identity.Identity
	calls chan addr.NodeID
}

func (k *keyLookup) LookupKey(_ context.Context, node addr.NodeID) (ed25519.PublicKey, error) {
	select {
	case k.calls <- node:
	default:
	}
	id, ok := k.keys[node]
	if !ok {
		return nil, errors.New("node not found")
	}
	return id.PublicKey(), nil
}

func testIdentity(t *testing.T, b byte) *identity.Identity {
	t.Helper()
	id, err := identity.FromSeed(bytes.Repeat([]byte{b}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func signedDiscover(t *testing.T, id *identity.Identity, node addr.NodeID, ts time.Time) []byte {
	return mustMarshal(t, beaconmsg.NewSignedDiscover(node, uint64(ts.UnixMilli()), id.PrivateKey()))
}

type verifiedEvent struct {
	node    addr.NodeID
	applied bool
}

// §14 item 2 (with a registry): a signed Discover pins the entry; plain
// discovers and punch requests from elsewhere do not move it, nor does a
// replayed signed Discover; a newer signed Discover from a new address does.
func TestBeacon_C2_SignedDiscoverPins(t *testing.T) {
	const node, other = addr.NodeID(686), addr.NodeID(687)
	clk := newFakeClock()
	id := testIdentity(t, 0x40)
	keys := &keyLookup{keys: map[addr.NodeID]*identity.Identity{node: id}, calls: make(chan addr.NodeID, 100)}
	verified := newEvents[verifiedEvent]()
	s := startServer(t, Config{Keys: keys, VerifyWorkers: 1, Now: clk.Now}, testHooks{
		verified: func(n addr.NodeID, ok bool) { verified <- verifiedEvent{n, ok} },
	})
	bcn := s.Addr()
	a, b, c := newClient(t, "127.0.0.1"), newClient(t, "127.0.0.1"), newClient(t, "127.0.0.1")
	at := func() netip.AddrPort {
		e, ok := s.table.lookup(node, clk.Now())
		if !ok {
			t.Fatal("entry missing")
		}
		return e.ep
	}

	ts0 := clk.Now()
	a.send(bcn, signedDiscover(t, id, node, ts0))
	if got, _ := a.recv(); !bytes.Equal(got, replyFor(t, a.addr())) {
		t.Fatalf("signed discover reply % x", got)
	}
	if ev := verified.next(t); ev != (verifiedEvent{node, true}) {
		t.Fatalf("verification %+v", ev)
	}
	if e, _ := s.table.lookup(node, clk.Now()); !e.auth || e.ep != a.addr() {
		t.Fatalf("entry %+v, want authenticated at %v", e, a.addr())
	}

	// A plain Discover from b is answered but does not move the entry.
	if got := b.discover(bcn, node); !bytes.Equal(got, replyFor(t, b.addr())) {
		t.Fatalf("plain reply % x", got)
	}
	if at() != a.addr() {
		t.Fatal("plain discover moved an authenticated entry")
	}
	// A punch request naming the node as requester from b is dropped.
	b.discover(bcn, other) // give the target an entry
	b.send(bcn, mustMarshal(t, beaconmsg.PunchRequest{Requester: node, Target: other, Padded: true}))
	b.expectNothing(bcn)
	a.expectNothing(bcn)
	if at() != a.addr() {
		t.Fatal("punch request moved an authenticated entry")
	}
	// A punch request toward the node reaches it at its pinned endpoint.
	c.discover(bcn, 999)
	c.send(bcn, mustMarshal(t, beaconmsg.PunchRequest{Requester: 999, Target: node, Padded: true}))
	if got, _ := c.recv(); !bytes.Equal(got, punchCmd(t, a.addr())) {
		t.Fatalf("requester got % x", got)
	}
	if got, _ := a.recv(); !bytes.Equal(got, punchCmd(t, c.addr())) {
		t.Fatalf("pinned node got % x", got)
	}

	// Replay of the same signed Discover from b: answered, not moved, and
	// never even queued for verification.
	b.send(bcn, signedDiscover(t, id, node, ts0))
	b.recv()
	// A newer signed Discover from b moves the entry.
	clk.Advance(time.Second)
	b.send(bcn, signedDiscover(t, id, node, clk.Now()))
	b.recv()
	if ev := verified.next(t); ev != (verifiedEvent{node, true}) {
		t.Fatalf("next verification %+v: the replay was queued or the newer one failed", ev)
	}
	if at() != b.addr() {
		t.Fatal("newer signed discover did not move the entry")
	}
	if n := len(keys.calls); n != 1 {
		t.Fatalf("%d registry lookups, want 1 (key cached)", n)
	}
	if st := s.Stats(); st.NodesAuth != 1 || st.Drops["auth"] < 2 {
		t.Fatalf("stats %+v", st)
	}
}

// §14 item 2 (without a registry): a signed Discover is a plain one, and
// the start-up log says once, at WARN, that verification is off.
func TestBeacon_C2_NoRegistrySignedIsPlain(t *testing.T) {
	const node = addr.NodeID(686)
	var logs logBuffer
	clk := newFakeClock()
	id := testIdentity(t, 0x40)
	handled := newEvents[handledEvent]()
	s := startServer(t, Config{Logger: logs.logger(), Now: clk.Now}, testHooks{
		handled: func(typ byte, src netip.AddrPort) { handled <- handledEvent{typ, src} },
	})
	bcn := s.Addr()
	a, b := newClient(t, "127.0.0.1"), newClient(t, "127.0.0.1")
	for i := range 3 {
		a.send(bcn, signedDiscover(t, id, node, clk.Now().Add(time.Duration(i)*time.Second)))
		a.recv()
	}
	if e, _ := s.table.lookup(node, clk.Now()); e.auth || e.ep != a.addr() {
		t.Fatalf("entry %+v", e)
	}
	b.discover(bcn, node) // the last plain Discover wins
	if e, _ := s.table.lookup(node, clk.Now()); e.auth || e.ep != b.addr() {
		t.Fatalf("entry %+v not moved by a plain discover", e)
	}
	if n := strings.Count(logs.String(), "verification is off"); n != 1 {
		t.Fatalf("verification-off WARN logged %d times:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "level=WARN msg=\"signed-discover verification is off") {
		t.Fatalf("WARN missing:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "msg=\"beacon listening\"") {
		t.Fatalf("start-up line missing:\n%s", logs.String())
	}
}

// §14 item 3: an original daemon (5-byte discovers, 9-byte punch requests)
// can discover, punch and relay.
func TestBeacon_C3_OriginalDaemon(t *testing.T) {
	s := startServer(t, Config{}, testHooks{})
	bcn := s.Addr()
	a, b := newClient(t, "127.0.0.1"), newClient(t, "127.0.0.1")
	a.discover(bcn, 10)
	b.discover(bcn, 11)
	req := mustMarshal(t, beaconmsg.PunchRequest{Requester: 10, Target: 11})
	if len(req) != 9 {
		t.Fatalf("original punch request is %d bytes", len(req))
	}
	a.send(bcn, req)
	if got, _ := a.recv(); !bytes.Equal(got, punchCmd(t, b.addr())) {
		t.Fatalf("requester got % x", got)
	}
	if got, _ := b.recv(); !bytes.Equal(got, punchCmd(t, a.addr())) {
		t.Fatalf("target got % x", got)
	}
	a.send(bcn, relayMsg(10, 11, frameS))
	if got, src := b.recv(); src != bcn || !bytes.Equal(got, deliverMsg(10, frameS)) {
		t.Fatalf("delivery % x from %v", got, src)
	}
}

// §14 item 4: an unknown target produces no message at all; a valid
// request one PunchCommand to each side with the other's endpoint.
func TestBeacon_C4_Punch(t *testing.T) {
	s := startServer(t, Config{}, testHooks{})
	bcn := s.Addr()
	a, b := newClient(t, "127.0.0.1"), newClient(t, "127.0.0.1")
	a.discover(bcn, 20)
	a.send(bcn, mustMarshal(t, beaconmsg.PunchRequest{Requester: 20, Target: 21, Padded: true}))
	a.expectNothing(bcn)

	b.discover(bcn, 21)
	a.send(bcn, mustMarshal(t, beaconmsg.PunchRequest{Requester: 20, Target: 21, Padded: true}))
	if got, src := a.recv(); src != bcn || !bytes.Equal(got, punchCmd(t, b.addr())) {
		t.Fatalf("requester got % x from %v", got, src)
	}
	if got, src := b.recv(); src != bcn || !bytes.Equal(got, punchCmd(t, a.addr())) {
		t.Fatalf("target got % x from %v", got, src)
	}
	a.expectNothing(bcn) // exactly one each
	b.expectNothing(bcn)

	// A request from a new address moves an unauthenticated requester.
	a2 := newClient(t, "127.0.0.1")
	a2.send(bcn, mustMarshal(t, beaconmsg.PunchRequest{Requester: 20, Target: 21, Padded: true}))
	if got, _ := a2.recv(); !bytes.Equal(got, punchCmd(t, b.addr())) {
		t.Fatalf("got % x", got)
	}
	if got, _ := b.recv(); !bytes.Equal(got, punchCmd(t, a2.addr())) {
		t.Fatalf("got % x", got)
	}
}

// §14 item 5: relays are dropped when the sender has no entry, the source
// is not the sender's endpoint, the frame has no relayable magic, or the
// frame exceeds 65,535 bytes.
func TestBeacon_C5_RelayDrops(t *testing.T) {
	s := startServer(t, Config{}, testHooks{})
	bcn := s.Addr()
	a, b, x := newClient(t, "127.0.0.1"), newClient(t, "127.0.0.1"), newClient(t, "127.0.0.1")
	a.discover(bcn, 30)
	b.discover(bcn, 31)
	cases := []struct {
		name   string
		from   *client
		msg    []byte
		reason string
	}{
		{"sender without entry", x, relayMsg(39, 31, frameS), "source"},
		{"source is not the sender's endpoint", x, relayMsg(30, 31, frameS), "source"},
		{"PILP is not relayable", a, relayMsg(30, 31, []byte("PILPxxxx")), "magic"},
		{"unknown magic", a, relayMsg(30, 31, []byte("XXXXxxxx")), "magic"},
		{"truncated frame", a, relayMsg(30, 31, []byte("PIL")), "size"},
	}
	for _, tc := range cases {
		before := s.Stats()
		tc.from.send(bcn, tc.msg)
		tc.from.expectNothing(bcn) // the read loop has processed the relay
		after := s.Stats()
		if after.Drops[tc.reason] != before.Drops[tc.reason]+1 || after.Relay["dropped"] != before.Relay["dropped"]+1 {
			t.Errorf("%s: drops %v → %v", tc.name, before.Drops, after.Drops)
		}
	}
	b.expectNothing(bcn) // the destination never got anything

	// Oversized frames cannot cross real UDP; check the handler directly.
	ms, mc := newMemServer(t, Config{})
	src := netip.MustParseAddrPort("198.51.100.7:41000")
	ms.handle(mustMarshal(t, beaconmsg.Discover{Node: 30}), src, netip.Addr{})
	mc.take()
	big := relayMsg(30, 31, append([]byte("PILS"), make([]byte, beaconmsg.MaxRelayFrame)...))
	ms.handle(big, src, netip.Addr{})
	if st := ms.Stats(); st.Drops["size"] != 1 || len(ms.relayQ) != 0 || len(mc.take()) != 0 {
		t.Fatalf("oversized frame: drops %v, queued %d", st.Drops, len(ms.relayQ))
	}
}

// §14 item 6: a valid relay produces exactly one 06 ‖ sender ‖ frame to
// the destination, byte-identical, from the beacon's address.
func TestBeacon_C6_RelayDeliver(t *testing.T) {
	relayed := newEvents[relayResult]()
	s := startServer(t, Config{}, testHooks{relayed: func(r relayResult) { relayed <- r }})
	bcn := s.Addr()
	a, b := newClient(t, "127.0.0.1"), newClient(t, "127.0.0.1")
	a.discover(bcn, 40)
	b.discover(bcn, 41)
	for _, f := range [][]byte{frameA, frameS, []byte("PILK"), append([]byte("PILT"), make([]byte, 60000)...)} {
		msg := relayMsg(40, 41, f)
		a.send(bcn, msg)
		got, src := b.recv()
		if src != bcn || !bytes.Equal(got, deliverMsg(40, f)) || len(got) != len(msg)-4 {
			t.Fatalf("delivery of %q…: % x… from %v", f[:4], got[:min(len(got), 16)], src)
		}
		if r := relayed.next(t); r != relayForwarded {
			t.Fatalf("result %v", r)
		}
	}
	// Unknown destination: nothing is sent, not_found is counted.
	a.send(bcn, relayMsg(40, 49, frameA))
	if r := relayed.next(t); r != relayNotFound {
		t.Fatalf("result %v", r)
	}
	b.expectNothing(bcn)
	a.expectNothing(bcn)
	if st := s.Stats(); st.Relay["forwarded"] != 4 || st.Relay["not_found"] != 1 {
		t.Fatalf("relay stats %v", st.Relay)
	}
}

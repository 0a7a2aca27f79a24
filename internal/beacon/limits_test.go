package beacon

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/wire/beaconmsg"
)

// §14 item 9: entries expire after -node-ttl without discovers; with
// -max-nodes reached, new nodes are answered but not recorded.
func TestBeacon_C9_ExpiryAndCapacity(t *testing.T) {
	clk := newFakeClock()
	s := startServer(t, Config{Now: clk.Now, NodeTTL: time.Minute, MaxNodes: 2}, testHooks{})
	bcn := s.Addr()
	a, b, c := newClient(t, "127.0.0.1"), newClient(t, "127.0.0.1"), newClient(t, "127.0.0.1")
	a.discover(bcn, 70)
	b.discover(bcn, 71)
	if got := c.discover(bcn, 72); !bytes.Equal(got, replyFor(t, c.addr())) {
		t.Fatalf("node beyond capacity not answered: % x", got)
	}
	if _, ok := s.table.lookup(72, clk.Now()); ok {
		t.Fatal("node recorded beyond -max-nodes")
	}
	// A punch request from a new requester is dropped while full.
	c.send(bcn, mustMarshal(t, beaconmsg.PunchRequest{Requester: 72, Target: 70, Padded: true}))
	c.expectNothing(bcn)
	a.expectNothing(bcn)

	clk.Advance(59 * time.Second)
	a.discover(bcn, 70) // existing entries keep refreshing
	clk.Advance(2 * time.Second)
	if _, ok := s.table.lookup(71, clk.Now()); ok {
		t.Fatal("node 71 did not expire after -node-ttl")
	}
	if _, ok := s.table.lookup(70, clk.Now()); !ok {
		t.Fatal("refreshed node 70 expired")
	}
	// Expired: a punch toward it produces nothing; its slot is free again.
	a.send(bcn, mustMarshal(t, beaconmsg.PunchRequest{Requester: 70, Target: 71, Padded: true}))
	a.expectNothing(bcn)
	c.discover(bcn, 72)
	if _, ok := s.table.lookup(72, clk.Now()); !ok {
		t.Fatal("node 72 not recorded after an expiry freed a slot")
	}
}

// §14 item 10 (discover flood): a flooding source IP is limited, other
// source IPs are still served.
func TestBeacon_C10_SourceFlood(t *testing.T) {
	clk := newFakeClock() // frozen: buckets do not refill
	s := startServer(t, Config{Now: clk.Now, Limits: Limits{SourceRate: 1, SourceBurst: 5}}, testHooks{})
	bcn := s.Addr()
	flood, other := newClient(t, "127.0.0.1"), newClient(t, "127.0.0.2")
	for range 50 {
		flood.send(bcn, mustMarshal(t, beaconmsg.Discover{Node: 80, Form: beaconmsg.DiscoverPadded}))
	}
	if got := other.discover(bcn, 81); !bytes.Equal(got, replyFor(t, other.addr())) {
		t.Fatalf("other source not served: % x", got)
	}
	// The flood got exactly its burst of replies.
	replies := 0
	for {
		if _, _, err := flood.tryRecv(200 * time.Millisecond); err != nil {
			break
		}
		replies++
	}
	if replies != 5 {
		t.Fatalf("flooding source got %d replies, want 5 (burst)", replies)
	}
	if st := s.Stats(); st.Drops["rate"] != 45 {
		t.Fatalf("rate drops %d, want 45", st.Drops["rate"])
	}
}

// §14 item 10 (relay flood): one flooding sender is limited, other
// senders' relays are delivered, and the queue never exceeds -relay-queue.
func TestBeacon_C10_RelayFlood(t *testing.T) {
	clk := newFakeClock()
	s := startServer(t, Config{Now: clk.Now, Limits: Limits{RelayPacketRate: 1, RelayPacketBurst: 5}}, testHooks{})
	bcn := s.Addr()
	flood, good, dst := newClient(t, "127.0.0.1"), newClient(t, "127.0.0.1"), newClient(t, "127.0.0.1")
	flood.discover(bcn, 90)
	good.discover(bcn, 91)
	dst.discover(bcn, 92)
	for range 100 {
		flood.send(bcn, relayMsg(90, 92, frameS))
	}
	good.send(bcn, relayMsg(91, 92, frameA))
	fromFlood, fromGood := 0, 0
	for fromGood == 0 {
		got, _ := dst.recv()
		switch {
		case bytes.Equal(got, deliverMsg(90, frameS)):
			fromFlood++
		case bytes.Equal(got, deliverMsg(91, frameA)):
			fromGood++
		default:
			t.Fatalf("unexpected % x", got)
		}
	}
	flood.expectNothing(bcn) // all 100 processed by the read loop
	if st := s.Stats(); st.Drops["rate"] != 95 {
		t.Fatalf("rate drops %d, want 95", st.Drops["rate"])
	}
	if fromFlood > 5 {
		t.Fatalf("%d flood relays delivered, burst is 5", fromFlood)
	}
}

func TestBeacon_C10_RelayQueueBound(t *testing.T) {
	const queue = 4
	release := make(chan struct{})
	var once sync.Once
	relayed := newEvents[relayResult]()
	s := startServer(t, Config{RelayQueue: queue, RelayWorkers: 1}, testHooks{
		beforeRelay: func() { <-release },
		relayed:     func(r relayResult) { relayed <- r },
	})
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	bcn := s.Addr()
	src, dst := newClient(t, "127.0.0.1"), newClient(t, "127.0.0.1")
	src.discover(bcn, 100)
	dst.discover(bcn, 101)
	const n = 20
	for range n {
		src.send(bcn, relayMsg(100, 101, frameS))
	}
	src.expectNothing(bcn)
	if l := len(s.relayQ); l > queue || cap(s.relayQ) != queue {
		t.Fatalf("queue length %d, capacity %d, limit %d", l, cap(s.relayQ), queue)
	}
	full := s.Stats().Drops["full"]
	if full != n-queue && full != n-queue-1 { // the worker may hold one job
		t.Fatalf("full drops %d, want %d or %d", full, n-queue, n-queue-1)
	}
	once.Do(func() { close(release) })
	for range n - int(full) {
		if r := relayed.next(t); r != relayForwarded {
			t.Fatalf("result %v", r)
		}
		if got, _ := dst.recv(); !bytes.Equal(got, deliverMsg(100, frameS)) {
			t.Fatalf("got % x", got)
		}
	}
}

// Per-requester punch limit and per-target command limit (§9).
func TestBeacon_PunchLimits(t *testing.T) {
	clk := newFakeClock()
	s, mc := newMemServer(t, Config{Now: clk.Now, Limits: Limits{PunchBurst: 3, PunchTargetBurst: 2}})
	r, tg := netip.MustParseAddrPort("198.51.100.1:1000"), netip.MustParseAddrPort("198.51.100.2:2000")
	s.handle(mustMarshal(t, beaconmsg.Discover{Node: 2}), tg, netip.Addr{})
	mc.take()
	for range 10 {
		s.handle(mustMarshal(t, beaconmsg.PunchRequest{Requester: 1, Target: 2, Padded: true}), r, netip.Addr{})
	}
	toR, toT := 0, 0
	for _, p := range mc.take() {
		switch p.to {
		case r:
			toR++
		case tg:
			toT++
		}
	}
	if toR != 3 || toT != 2 {
		t.Fatalf("commands to requester %d (want 3), to target %d (want 2)", toR, toT)
	}
}

func TestLimiterSetEvictsLeastRecentlyUsed(t *testing.T) {
	now := time.Unix(1000, 0)
	ls := newLimiterSet[int](rate.Every(time.Hour), 1, 2)
	if !ls.allow(1, now, 1) || !ls.allow(2, now, 1) || ls.allow(1, now, 1) {
		t.Fatal("buckets of 1 token")
	}
	ls.allow(3, now, 1) // evicts 2 (1 was used more recently)
	if ls.len() != 2 {
		t.Fatalf("%d keys tracked, max 2", ls.len())
	}
	if _, ok := ls.items[2]; ok {
		t.Fatal("key 2 should have been evicted")
	}
	if ls.allow(1, now, 1) {
		t.Fatal("key 1 lost its state")
	}
}

// §14 item 11: no response to a datagram exceeds its size, except
// DiscoverReply and PunchCommand (≤ 20 bytes).
func TestBeacon_C11_NoAmplification(t *testing.T) {
	s, mc := newMemServer(t, Config{})
	v6 := netip.MustParseAddrPort("[2001:db8::1]:4000")
	v4 := netip.MustParseAddrPort("198.51.100.9:5000")
	s.handle(mustMarshal(t, beaconmsg.Discover{Node: 2}), v6, netip.Addr{})
	s.handle(mustMarshal(t, beaconmsg.Discover{Node: 3}), v4, netip.Addr{})
	mc.take()
	inputs := [][]byte{
		mustMarshal(t, beaconmsg.Discover{Node: 1}),
		mustMarshal(t, beaconmsg.Discover{Node: 1, Form: beaconmsg.DiscoverPadded}),
		mustMarshal(t, beaconmsg.PunchRequest{Requester: 1, Target: 2}),
		mustMarshal(t, beaconmsg.PunchRequest{Requester: 1, Target: 2, Padded: true}),
		mustMarshal(t, beaconmsg.Sync{Beacon: 1, Nodes: []addr.NodeID{1, 2}}),
		relayMsg(3, 2, frameS),
		mustMarshal(t, beaconmsg.DiscoverReply{Endpoint: v4}),
		{0x00}, {0x08, 1, 2, 3, 4, 5}, {0x01}, {0x03, 0, 0, 0, 1},
	}
	for _, src := range []netip.AddrPort{v4, v6, netip.MustParseAddrPort("[::ffff:198.51.100.10]:6")} {
		for _, in := range inputs {
			s.handle(in, src, netip.Addr{})
			checkAmplification(t, in, src, mc.take())
		}
	}
	// Padded forms never exceed the request, even toward IPv6 targets.
	s.handle(mustMarshal(t, beaconmsg.PunchRequest{Requester: 1, Target: 2, Padded: true}), v4, netip.Addr{})
	for _, p := range mc.take() {
		if len(p.b) > beaconmsg.PunchRequestPaddedLen {
			t.Fatalf("%d-byte command for a 21-byte request", len(p.b))
		}
	}
}

// checkAmplification asserts §10 rule 1 for one datagram from src.
func checkAmplification(t testing.TB, in []byte, src netip.AddrPort, sent []sentPacket) {
	t.Helper()
	total, bounded := 0, 0
	for _, p := range sent {
		if p.to != src {
			continue
		}
		total += len(p.b)
		if len(p.b) > 0 && (p.b[0] == byte(beaconmsg.TypeDiscoverReply) || p.b[0] == byte(beaconmsg.TypePunchCommand)) && len(p.b) <= 20 {
			bounded++
		}
	}
	if bounded > 1 {
		t.Fatalf("%d replies to one datagram % x", bounded, in[:min(len(in), 16)])
	}
	if total > len(in) && !(bounded == 1 && total <= 20) {
		t.Fatalf("sent %d bytes to %v for a %d-byte datagram % x", total, src, len(in), in[:min(len(in), 16)])
	}
}

// §14 item 12: GET /healthz returns 200 ok while serving, 503 after Close.
func TestBeacon_C12_Healthz(t *testing.T) {
	s := startServer(t, Config{}, testHooks{})
	c := newClient(t, "127.0.0.1")
	c.discover(s.Addr(), 0) // Run is serving
	metrics := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("m 1\n")) })
	hs := httptest.NewServer(s.HealthHandler(metrics))
	defer hs.Close()
	get := func(path string) (int, string, string) {
		t.Helper()
		resp, err := http.Get(hs.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		return resp.StatusCode, b.String(), resp.Header.Get("Content-Type")
	}
	if code, body, ct := get("/healthz"); code != 200 || body != "ok" || ct != "text/plain; charset=utf-8" {
		t.Fatalf("healthz: %d %q %q", code, body, ct)
	}
	if code, body, _ := get("/metrics"); code != 200 || body != "m 1\n" {
		t.Fatalf("metrics from loopback: %d %q", code, body)
	}
	s.Close()
	if code, body, _ := get("/healthz"); code != 503 || body != "unhealthy" {
		t.Fatalf("healthz after Close: %d %q", code, body)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestLoopbackPeer(t *testing.T) {
	for remote, want := range map[string]bool{
		"127.0.0.1:5": true, "[::1]:5": true, "[::ffff:127.0.0.1]:5": true,
		"192.0.2.1:5": false, "[2001:db8::1]:5": false, "garbage": false,
	} {
		if got := loopbackPeer(remote); got != want {
			t.Errorf("loopbackPeer(%q) = %v", remote, got)
		}
	}
}

// Besides -relay-queue jobs, queued relay bytes are bounded, so that a
// queue of maximal frames cannot hold gigabytes.
func TestBeacon_RelayQueueByteBound(t *testing.T) {
	clk := newFakeClock()
	s, _ := newMemServer(t, Config{RelayQueue: 5000, Now: clk.Now, Limits: Limits{RelayByteBurst: 1 << 30}}) // not running: nothing drains the queue
	src := netip.MustParseAddrPort("198.51.100.1:1")
	s.handle(mustMarshal(t, beaconmsg.Discover{Node: 1}), src, netip.Addr{})
	msg := relayMsg(1, 2, append([]byte("PILS"), make([]byte, 64000)...))
	for range 1200 {
		s.handle(msg, src, netip.Addr{})
	}
	queued := len(s.relayQ)
	if want := maxQueuedBytes / len(msg); queued != want {
		t.Fatalf("%d jobs queued, want %d (%d bytes)", queued, want, maxQueuedBytes)
	}
	if full := s.Stats().Drops["full"]; full != uint64(1200-queued) {
		t.Fatalf("full drops %d", full)
	}
}

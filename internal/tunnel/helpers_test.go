package tunnel

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/identity"
	"github.com/pilot-go/pilot/internal/netsim"
	"github.com/pilot-go/pilot/internal/wire/beaconmsg"
	"github.com/pilot-go/pilot/internal/wire/frame"
	"github.com/pilot-go/pilot/internal/wire/packet"
)

var (
	beaconIP = netip.MustParseAddr("192.0.2.10")
	beaconEP = netip.AddrPortFrom(beaconIP, 9001)
	pubA     = netip.MustParseAddr("198.51.100.1")
	pubB     = netip.MustParseAddr("198.51.100.2")
	pubX     = netip.MustParseAddr("198.51.100.9") // attacker / raw injector
	natPubA  = netip.MustParseAddr("203.0.113.1")
	natPubB  = netip.MustParseAddr("203.0.113.2")
	privA    = netip.MustParseAddr("10.0.0.2")
	privB    = netip.MustParseAddr("10.1.0.2")
)

// registry is an in-memory registry: keys for LookupKey and resolutions.
type registry struct {
	mu          sync.Mutex
	keys        map[addr.NodeID]ed25519.PublicKey
	addrs       map[addr.NodeID]netip.AddrPort
	lans        map[addr.NodeID][]netip.AddrPort
	unreachable bool
	lookups     atomic.Int64
}

func newRegistry() *registry {
	return &registry{keys: map[addr.NodeID]ed25519.PublicKey{}, addrs: map[addr.NodeID]netip.AddrPort{},
		lans: map[addr.NodeID][]netip.AddrPort{}}
}

func (r *registry) set(id addr.NodeID, key ed25519.PublicKey, ep netip.AddrPort) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if key != nil {
		r.keys[id] = key
	}
	if ep.IsValid() {
		r.addrs[id] = ep
	}
}

func (r *registry) LookupKey(_ context.Context, id addr.NodeID) (ed25519.PublicKey, error) {
	r.lookups.Add(1)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.unreachable {
		return nil, ErrUnreachable
	}
	k, ok := r.keys[id]
	if !ok {
		return nil, fmt.Errorf("lookup %d: %w", id, ErrNotFound)
	}
	return k, nil
}

func (r *registry) Resolve(_ context.Context, id addr.NodeID) (Resolution, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.unreachable {
		return Resolution{}, ErrUnreachable
	}
	ep, ok := r.addrs[id]
	if !ok {
		return Resolution{}, fmt.Errorf("node %d: %w", id, ErrNotFound)
	}
	return Resolution{RealAddr: ep, LANAddrs: r.lans[id], PublicKey: r.keys[id]}, nil
}

// tapConn counts the tunnel frames a socket sends, by kind (relayed frames
// are classified by their inner frame).
type tapConn struct {
	netsim.PacketConn
	mu     sync.Mutex
	kinds  map[frame.Kind]int
	frames [][]byte   // PILS frames sent directly, in order
	pils   []uint64   // counters of PILS sent
	pilaX  [][32]byte // X25519 keys of the PILAs sent
	pilaID [][32]byte // Ed25519 keys of the PILAs sent
}

func (c *tapConn) WriteToUDPAddrPort(b []byte, to netip.AddrPort) (int, error) {
	inner := b
	if len(b) > 9 && b[0] == byte(beaconmsg.TypeRelay) {
		inner = b[9:]
	}
	k := frame.Classify(inner)
	c.mu.Lock()
	if c.kinds == nil {
		c.kinds = map[frame.Kind]int{}
	}
	c.kinds[k]++
	if k == frame.KindPILA {
		var f frame.PILA
		if f.Decode(inner) == nil {
			c.pilaX = append(c.pilaX, f.X25519)
			c.pilaID = append(c.pilaID, f.Ed25519)
		}
	}
	if k == frame.KindPILS {
		var f frame.PILS
		if f.Decode(inner) == nil {
			c.pils = append(c.pils, f.Counter())
		}
		if len(inner) == len(b) && len(c.frames) < 256 {
			c.frames = append(c.frames, append([]byte(nil), b...))
		}
	}
	c.mu.Unlock()
	return c.PacketConn.WriteToUDPAddrPort(b, to)
}

func (c *tapConn) count(k frame.Kind) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.kinds[k]
}

// node is one Manager under test.
type node struct {
	t     testing.TB
	id    addr.NodeID
	ident *identity.Identity
	m     *Manager
	tap   *tapConn
	in    chan inbound
	stop  func()
	// answerPings makes Deliver answer control pings like the daemon (§11).
	answerPings bool
	events      chan Event
	moved       chan netip.AddrPort // EndpointChanged: the new observed endpoint
}

type inbound struct {
	from     addr.NodeID
	viaRelay bool
	auth     bool
	pk       packet.Packet
}

type nodeOpts struct {
	beacon    bool
	plaintext bool
	ident     *identity.Identity
	newKey    func() (keyPair, error)
	noDiscov  bool
	silent    bool // never sends recovery PILAs (like the original)
	lan       []netip.Addr
	resolver  Resolver      // replaces the registry as Resolver
	rekey     time.Duration // Config.RekeyInterval (0: the default)
}

func newIdentity(t testing.TB) *identity.Identity {
	t.Helper()
	id, err := identity.Generate(nil)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// startNode starts a Manager on conn, registers it with reg and (with a
// beacon) runs start-up discovery and publishes the observed endpoint as
// the node's real_addr.
func startNode(t testing.TB, conn netsim.PacketConn, id addr.NodeID, reg *registry, o nodeOpts) *node {
	t.Helper()
	n := &node{t: t, id: id, ident: o.ident, in: make(chan inbound, 4096), events: make(chan Event, 256),
		moved: make(chan netip.AddrPort, 16), answerPings: true}
	if n.ident == nil {
		n.ident = newIdentity(t)
	}
	n.tap = &tapConn{PacketConn: conn}
	cfg := Config{
		Conn:      n.tap,
		Identity:  n.ident,
		Plaintext: o.plaintext,
		Keys:      reg,
		Resolver:  reg,
		Deliver:   n.deliver,
		Events: func(e Event) {
			select {
			case n.events <- e:
			default:
			}
		},
		DirectRetry:   DirectRetryPeriod,
		RekeyInterval: o.rekey,
		LANAddrs:      o.lan,
		EndpointChanged: func(_, cur netip.AddrPort) {
			select {
			case n.moved <- cur:
			default:
			}
		},
	}
	if o.beacon {
		cfg.Beacon = beaconEP
	}
	if o.resolver != nil {
		cfg.Resolver = o.resolver
	}
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if o.newKey != nil {
		m.newKey = o.newKey
	}
	if o.silent {
		m.recoverLim = rate.NewLimiter(0, 0)
	}
	n.m = m
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = m.Run(ctx) }()
	n.stop = sync.OnceFunc(func() { cancel(); <-done })
	t.Cleanup(n.stop)
	local := conn.LocalAddr().(interface{ String() string })
	ep, _ := netip.ParseAddrPort(local.String())
	if o.beacon && !o.noDiscov {
		obs, err := m.Discover(context.Background())
		if err != nil {
			t.Fatalf("discover: %v", err)
		}
		ep = obs
	}
	reg.set(id, n.ident.PublicKey(), ep)
	m.SetNodeID(id)
	return n
}

func (n *node) deliver(from addr.NodeID, viaRelay, auth bool, p *packet.Packet) {
	if n.answerPings && p.Protocol == packet.ProtoControl && p.DstPort == 0 && !p.Flags.Has(packet.FlagACK) {
		reply := packet.Packet{Flags: packet.FlagACK, Protocol: packet.ProtoControl, Src: p.Dst, Dst: p.Src,
			DstPort: p.SrcPort, Seq: p.Seq, Ack: p.Seq + 1, Payload: append([]byte(nil), p.Payload...)}
		_ = n.m.Send(from, &reply)
		return
	}
	c := *p
	c.Payload = append([]byte(nil), p.Payload...)
	select {
	case n.in <- inbound{from: from, viaRelay: viaRelay, auth: auth, pk: c}:
	default:
	}
}

// datagram builds a datagram packet from src to dst.
func datagram(src, dst addr.NodeID, payload string) *packet.Packet {
	return &packet.Packet{Protocol: packet.ProtoDatagram, Src: addr.New(0, src), Dst: addr.New(0, dst),
		SrcPort: 50000, DstPort: 1000, Payload: []byte(payload)}
}

// recv waits (virtual time inside synctest) for the next inbound packet.
func (n *node) recv(within time.Duration) (inbound, bool) {
	select {
	case in := <-n.in:
		return in, true
	case <-time.After(within):
		return inbound{}, false
	}
}

func (n *node) mustRecv(payload string, within time.Duration) inbound {
	n.t.Helper()
	deadline := time.Now().Add(within)
	for {
		in, ok := n.recv(time.Until(deadline))
		if !ok {
			n.t.Fatalf("node %d: %q not received within %v (counters %+v)", n.id, payload, within, n.m.Counters())
		}
		if string(in.pk.Payload) == payload {
			return in
		}
	}
}

// expectNone checks that nothing arrives within d.
func (n *node) expectNone(d time.Duration) {
	n.t.Helper()
	if in, ok := n.recv(d); ok {
		n.t.Fatalf("node %d: unexpected packet %q from %d", n.id, in.pk.Payload, in.from)
	}
}

// waitUntil polls cond every 10 ms of (virtual) time, up to within.
func waitUntil(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func newNet(t testing.TB, link netsim.LinkConfig) *netsim.Network {
	t.Helper()
	n, err := netsim.New(netsim.Config{Seed: 7, Link: link})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	return n
}

func listen(t testing.TB, n *netsim.Network, ip netip.Addr, port uint16) netsim.PacketConn {
	t.Helper()
	c, err := n.Listen(ip, port)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func mustHost(t testing.TB, n *netsim.Network, ips ...netip.Addr) {
	t.Helper()
	for _, ip := range ips {
		if err := n.AddHost(ip); err != nil {
			t.Fatal(err)
		}
	}
}

// pair starts two managers A (686) and B (687) on public hosts.
func pair(t testing.TB, n *netsim.Network, reg *registry) (*node, *node) {
	t.Helper()
	mustHost(t, n, pubA, pubB)
	a := startNode(t, listen(t, n, pubA, 4000), 686, reg, nodeOpts{})
	b := startNode(t, listen(t, n, pubB, 4000), 687, reg, nodeOpts{})
	return a, b
}

// establish sends one datagram each way and waits for both.
func establish(t testing.TB, a, b *node) {
	t.Helper()
	if err := a.m.Send(b.id, datagram(a.id, b.id, "hello-b")); err != nil {
		t.Fatal(err)
	}
	b.mustRecv("hello-b", 5*time.Second)
	if err := b.m.Send(a.id, datagram(b.id, a.id, "hello-a")); err != nil {
		t.Fatal(err)
	}
	a.mustRecv("hello-a", 5*time.Second)
}

package beacon

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/wire/beaconmsg"
)

func TestNewRejectsBadConfig(t *testing.T) {
	for name, cfg := range map[string]Config{
		"negative ttl":      {Listen: "127.0.0.1:0", NodeTTL: -1},
		"negative nodes":    {Listen: "127.0.0.1:0", MaxNodes: -1},
		"peer without port": {Listen: "127.0.0.1:0", Peers: []string{"10.0.0.1"}},
		"peer port 0":       {Listen: "127.0.0.1:0", Peers: []string{"10.0.0.1:0"}},
		"bad advertise":     {Listen: "127.0.0.1:0", Advertise: "nohost"},
		"disabled limit":    {Listen: "127.0.0.1:0", Limits: Limits{SourceRate: -1}},
		"infinite limit":    {Listen: "127.0.0.1:0", Limits: Limits{RelayPacketRate: rate.Inf}},
		"tiny byte burst":   {Listen: "127.0.0.1:0", Limits: Limits{RelayByteBurst: 1000}},
	} {
		if _, err := New(cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: err %v, want ErrConfig", name, err)
		}
	}
	if _, err := New(Config{Listen: "256.0.0.1:1"}); err == nil {
		t.Error("unresolvable listen address accepted")
	}
}

func TestRunLifecycle(t *testing.T) {
	s, err := New(Config{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if s.Healthy() {
		t.Fatal("healthy before Run")
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(context.Background()) }()
	c := newClient(t, "127.0.0.1")
	c.discover(s.Addr(), 0)
	if !s.Healthy() {
		t.Fatal("not healthy while serving")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run after Close: %v", err)
		}
	case <-time.After(readTimeout):
		t.Fatal("Run did not return after Close")
	}
	if err := s.Run(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Run after Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close is not idempotent: %v", err)
	}
}

// Without a registry directory the beacon still advertises its listen
// address with the bound port; with -advertise that value wins.
func TestAdvertise(t *testing.T) {
	s, _ := newMemServer(t, Config{Listen: ":0"})
	if got := s.advertise(); got != ":9001" {
		t.Fatalf("advertise %q", got)
	}
	s, _ = newMemServer(t, Config{Advertise: "beacon.example:9001"})
	if got := s.advertise(); got != "beacon.example:9001" {
		t.Fatalf("advertise %q", got)
	}
}

// fakeDirectory is a registry beacon directory.
type fakeDirectory struct {
	registered chan string
	peers      []Peer
	err        error
}

func (d *fakeDirectory) Register(_ context.Context, id beaconmsg.BeaconID, addr, token string) error {
	d.registered <- addr + " " + token
	return d.err
}

func (d *fakeDirectory) List(context.Context) ([]Peer, error) { return d.peers, d.err }

// §7.2: the dynamic peer set is every listed address but our own; on a
// failure the previous set is kept.
func TestDirectoryPeers(t *testing.T) {
	dir := &fakeDirectory{registered: make(chan string, 10), peers: []Peer{
		{ID: 7, Addr: "127.0.0.1:9001"}, {ID: 8, Addr: "203.0.113.5:9001"}, {ID: 9, Addr: "bad"},
	}}
	s, _ := newMemServer(t, Config{BeaconID: 7, Directory: dir, RegistryToken: "tok", Peers: []string{"192.0.2.1:1"}})
	s.refreshPeers(context.Background())
	if got := <-dir.registered; got != ":9001 tok" {
		t.Fatalf("registered %q", got)
	}
	want := []netip.AddrPort{netip.MustParseAddrPort("192.0.2.1:1"), netip.MustParseAddrPort("203.0.113.5:9001")}
	if got := s.peers.targets(); len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("peers %v, want %v", got, want)
	}
	dir.err = errors.New("registry down")
	s.refreshPeers(context.Background())
	if !s.peers.has(want[1]) {
		t.Fatal("previous directory peers lost on failure")
	}
}

func TestTableReapAndCounts(t *testing.T) {
	clk := newFakeClock()
	tb := newTable(time.Minute, 10, 10)
	ep := netip.MustParseAddrPort("198.51.100.1:1")
	tb.applyPlain(1, ep, netip.Addr{}, clk.Now())
	tb.applySigned(2, ep, netip.Addr{}, 5, clk.Now())
	tb.applySync(ep, []addr.NodeID{3, 1}, beaconmsg.ValidNode, clk.Now())
	if p, a, n := tb.counts(clk.Now()); p != 1 || a != 1 || n != 1 {
		t.Fatalf("counts %d %d %d", p, a, n)
	}
	clk.Advance(time.Minute)
	tb.reap(clk.Now())
	if len(tb.nodes) != 0 || len(tb.peerNodes) != 0 {
		t.Fatalf("reap left %d nodes, %d peer nodes", len(tb.nodes), len(tb.peerNodes))
	}
}

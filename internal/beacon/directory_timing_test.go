package beacon

import (
	"context"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pilot-go/pilot/internal/wire/beaconmsg"
)

// slowDirectory takes delay for each exchange, or fails when its context
// ends first.
type slowDirectory struct {
	delay time.Duration
	peers []Peer
}

func (d *slowDirectory) wait(ctx context.Context) error {
	select {
	case <-time.After(d.delay):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (d *slowDirectory) Register(ctx context.Context, _ beaconmsg.BeaconID, _, _ string) error {
	return d.wait(ctx)
}

func (d *slowDirectory) List(ctx context.Context) ([]Peer, error) {
	if err := d.wait(ctx); err != nil {
		return nil, err
	}
	return d.peers, nil
}

// beacon.md §7.2 "10 s per exchange": a register and a list that each take
// 8 s complete the round (a single bound over both would cut it), and an
// exchange over 10 s fails it, keeping the previous peers.
func TestDirectoryTimeoutPerExchange(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		peer := netip.MustParseAddrPort("203.0.113.5:9001")
		dir := &slowDirectory{delay: 8 * time.Second, peers: []Peer{{ID: 8, Addr: peer.String()}}}
		s, _ := newMemServer(t, Config{BeaconID: 7, Directory: dir, RegistryToken: "tok"})
		s.refreshPeers(context.Background())
		if !s.peers.has(peer) {
			t.Fatalf("two 8 s exchanges did not complete the round: peers %v", s.peers.targets())
		}
		dir.delay, dir.peers = 11*time.Second, nil
		s.refreshPeers(context.Background())
		if !s.peers.has(peer) {
			t.Fatal("a timed-out round dropped the previous peers")
		}
	})
}

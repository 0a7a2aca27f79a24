package secure

import (
	"context"
	"crypto/ed25519"
	"errors"
	"testing"
	"time"

	"github.com/pilot-go/pilot/addr"
)

func TestCache_RefreshAndErrors(t *testing.T) {
	calls := 0
	fail := false
	c := NewCache(func(_ context.Context, node addr.NodeID) (PeerInfo, error) {
		calls++
		if fail {
			return PeerInfo{}, errors.New("registry down")
		}
		return PeerInfo{PublicKey: ed25519.PublicKey{byte(calls)}}, nil
	}, time.Hour)
	ctx := context.Background()
	a, _ := c.PeerKey(ctx, 5, false)
	b, _ := c.PeerKey(ctx, 5, false)
	if calls != 1 || a.PublicKey[0] != 1 || b.PublicKey[0] != 1 {
		t.Fatalf("cached lookups: %d calls", calls)
	}
	r, _ := c.PeerKey(ctx, 5, true)
	if calls != 2 || r.PublicKey[0] != 2 {
		t.Fatalf("refresh did not ask again: %d calls", calls)
	}
	fail = true
	if _, err := c.PeerKey(ctx, 6, false); err == nil {
		t.Fatal("lookup error swallowed")
	}
	if _, err := c.PeerKey(ctx, 6, false); err == nil || calls != 4 {
		t.Fatalf("failure cached: %d calls", calls)
	}
	expired := NewCache(func(context.Context, addr.NodeID) (PeerInfo, error) { calls++; return PeerInfo{}, nil }, 0)
	calls = 0
	expired.PeerKey(ctx, 1, false)
	expired.PeerKey(ctx, 1, false)
	if calls != 2 {
		t.Fatalf("zero TTL cached: %d calls", calls)
	}
}

func TestStaticKeys_Unknown(t *testing.T) {
	if _, err := (StaticKeys{}).PeerKey(context.Background(), 1, false); err == nil {
		t.Fatal("unknown node found")
	}
}

func TestMode_String(t *testing.T) {
	for m, want := range map[Mode]string{ModeV2: "v2", ModeOriginal: "original", 9: "mode(9)"} {
		if m.String() != want {
			t.Errorf("%d: %q", m, m.String())
		}
	}
}

package daemon

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/wire/regmsg"
)

type fakeFetcher struct {
	mu       sync.Mutex
	trust    map[addr.NodeID]regmsg.CheckTrustOK
	policies map[addr.NetworkID][]addr.Port
	checks   int
	gets     int
	fail     bool
	during   func() // runs inside CheckTrust (to race an epoch change)
}

func (f *fakeFetcher) CheckTrust(_ context.Context, p addr.NodeID) (*regmsg.CheckTrustOK, error) {
	f.mu.Lock()
	f.checks++
	r, fail, during := f.trust[p], f.fail, f.during
	f.mu.Unlock()
	if during != nil {
		during()
	}
	if fail {
		return nil, errors.New("registry down")
	}
	return &r, nil
}

func (f *fakeFetcher) GetNetworkPolicy(_ context.Context, n addr.NetworkID) (*regmsg.GetNetworkPolicyOK, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gets++
	return &regmsg.GetNetworkPolicyOK{NetworkID: n, AllowedPorts: f.policies[n]}, nil
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestAdmissionCacheRules(t *testing.T) {
	f := &fakeFetcher{
		trust: map[addr.NodeID]regmsg.CheckTrustOK{
			10: {Trusted: true, TrustPair: true},
			11: {Trusted: true, SharedNetworks: []addr.NetworkID{3, 4}},
			12: {},
		},
		policies: map[addr.NetworkID][]addr.Port{3: {80}, 4: {443, 7}},
	}
	clk := &clock{t: time.Unix(1000, 0)}
	c := NewAdmissionCache(f, clk.now)
	ctx := context.Background()
	for _, tc := range []struct {
		peer addr.NodeID
		port addr.Port
		want Decision
	}{
		{10, 1000, Decision{Verdict: Admit}},
		{11, 80, Decision{Verdict: Admit}},
		{11, 7, Decision{Verdict: Admit}},
		{11, 1000, Decision{Verdict: RejectPort, Network: 3}},
		{12, 80, Decision{Verdict: RejectUntrusted}},
	} {
		if _, ok := c.Cached(tc.peer, tc.port); ok && f.checks == 0 {
			t.Fatal("cache answered before any fetch")
		}
		d, ok := c.Resolve(ctx, tc.peer, tc.port)
		if !ok || d != tc.want {
			t.Errorf("peer %d port %d: %+v %v, want %+v", tc.peer, tc.port, d, ok, tc.want)
		}
	}
	if f.checks != 3 || f.gets != 2 {
		t.Errorf("fetches: %d check_trust, %d get_network_policy; want 3 and 2", f.checks, f.gets)
	}
	// Negative answers live 10 s, positive 60 s, policies until changed.
	clk.t = clk.t.Add(NegativeTTL)
	if _, ok := c.Cached(12, 80); ok {
		t.Error("negative answer cached beyond 10 s")
	}
	if _, ok := c.Cached(11, 80); !ok {
		t.Error("positive answer expired before 60 s")
	}
	clk.t = clk.t.Add(PositiveTTL - NegativeTTL)
	if _, ok := c.Cached(11, 80); ok {
		t.Error("positive answer cached beyond 60 s")
	}
	c.Resolve(ctx, 11, 80)
	if f.gets != 2 {
		t.Error("policies refetched although the epoch did not change")
	}
	// A new policy_epoch drops everything.
	c.SetEpoch(5)
	if c.SetEpoch(5) {
		t.Error("same epoch dropped the cache")
	}
	if !c.SetEpoch(6) {
		t.Error("new epoch did not drop the cache")
	}
	if _, ok := c.Cached(11, 80); ok {
		t.Error("decision survived a new policy_epoch")
	}
	c.Resolve(ctx, 11, 80)
	if f.gets != 4 {
		t.Errorf("policies not refetched after the epoch change (%d gets)", f.gets)
	}
}

// A fetch that started before an epoch change is not cached after it.
func TestAdmissionCacheEpochRace(t *testing.T) {
	f := &fakeFetcher{trust: map[addr.NodeID]regmsg.CheckTrustOK{9: {Trusted: true, TrustPair: true}}}
	c := NewAdmissionCache(f, nil)
	c.SetEpoch(1)
	f.during = func() { c.SetEpoch(2) }
	c.Resolve(context.Background(), 9, 1)
	if _, ok := c.Cached(9, 1); ok {
		t.Error("answer fetched before the epoch change was cached")
	}
}

func TestAdmissionCacheFailureAndParkingBound(t *testing.T) {
	f := &fakeFetcher{fail: true}
	c := NewAdmissionCache(f, nil)
	if _, ok := c.Resolve(context.Background(), 5, 80); ok {
		t.Error("decision without a registry answer")
	}
	for range MaxParked {
		c.park <- struct{}{}
	}
	f.fail = false
	if _, ok := c.Resolve(context.Background(), 5, 80); ok {
		t.Error("a lookup beyond the parking bound was not dropped")
	}
}

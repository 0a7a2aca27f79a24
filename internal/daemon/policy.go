package daemon

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/wire/regmsg"
)

// Admission cache (wire.md §8 step 4, registry.md §7.6.3).
//
// For a peer that is neither in the local trust store nor admitted because
// the node is public, admission asks the registry check_trust(self, peer)
// and, when the answer lists shared networks, get_network_policy for each
// of them. Answers are cached: positive check_trust answers 60 s, negative
// 10 s, policies until a new policy_epoch. A heartbeat_ok carrying a new
// policy_epoch drops everything (SetEpoch). A fetch that started before
// the drop is not cached after it (generation counter).
//
// The packet path calls Cached, which never blocks; on a miss it parks the
// packet through Resolve (at most MaxParked in flight daemon-wide, each
// bounded by ParkTimeout) and processes or drops it when Resolve returns.

// Cache lifetimes and parking bounds (wire.md §8).
const (
	PositiveTTL = 60 * time.Second
	NegativeTTL = 10 * time.Second
	MaxParked   = 256
	ParkTimeout = 5 * time.Second
)

// AdmissionFetcher asks the registry; the daemon adapts *regclient.Client.
type AdmissionFetcher interface {
	CheckTrust(ctx context.Context, peer addr.NodeID) (*regmsg.CheckTrustOK, error)
	GetNetworkPolicy(ctx context.Context, network addr.NetworkID) (*regmsg.GetNetworkPolicyOK, error)
}

// Verdict is the outcome of step 4 of wire.md §8.
type Verdict uint8

const (
	// Admit: a trust pair, or a shared network that allows the port.
	Admit Verdict = iota + 1
	// RejectUntrusted: no trust pair and no shared network (syn.rejected,
	// datagram.rejected).
	RejectUntrusted
	// RejectPort: shared networks exist but none allows the port
	// (syn.port_rejected, datagram.port_rejected).
	RejectPort
)

func (v Verdict) String() string {
	switch v {
	case Admit:
		return "admit"
	case RejectUntrusted:
		return "reject_untrusted"
	case RejectPort:
		return "reject_port"
	}
	return "unknown"
}

// Decision is a verdict plus, for RejectPort, the first shared network
// (the webhook's "network").
type Decision struct {
	Verdict Verdict
	Network addr.NetworkID
}

// trustEntry is a cached check_trust answer.
type trustEntry struct {
	pair    bool
	shared  []addr.NetworkID
	expires time.Time
}

// AdmissionCache is safe for concurrent use.
type AdmissionCache struct {
	fetch AdmissionFetcher
	now   func() time.Time
	park  chan struct{} // semaphore of MaxParked

	mu       sync.Mutex
	gen      uint64                          // guarded by mu: bumped by every drop
	epoch    uint64                          // guarded by mu
	hasEpoch bool                            // guarded by mu
	trust    map[addr.NodeID]trustEntry      // guarded by mu
	policies map[addr.NetworkID][]addr.Port  // guarded by mu; nil/empty list = all ports
	inflight map[addr.NodeID]*sync.WaitGroup // guarded by mu: one fetch per peer
}

// NewAdmissionCache returns an empty cache; now nil = time.Now.
func NewAdmissionCache(fetch AdmissionFetcher, now func() time.Time) *AdmissionCache {
	if now == nil {
		now = time.Now
	}
	return &AdmissionCache{
		fetch: fetch, now: now, park: make(chan struct{}, MaxParked),
		trust: map[addr.NodeID]trustEntry{}, policies: map[addr.NetworkID][]addr.Port{},
		inflight: map[addr.NodeID]*sync.WaitGroup{},
	}
}

// SetEpoch records a policy_epoch; a value different from the last one
// drops every cached decision and policy. It reports whether it dropped.
func (c *AdmissionCache) SetEpoch(epoch uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	changed := c.hasEpoch && epoch != c.epoch
	c.epoch, c.hasEpoch = epoch, true
	if changed {
		c.dropLocked()
	}
	return changed
}

// Invalidate drops everything (after the daemon's own join, leave or
// invite acceptance, ipc.md §5.18).
func (c *AdmissionCache) Invalidate() {
	c.mu.Lock()
	c.dropLocked()
	c.mu.Unlock()
}

func (c *AdmissionCache) dropLocked() {
	c.gen++
	clear(c.trust)
	clear(c.policies)
}

// Cached returns the decision for (peer, port) from the cache alone; ok is
// false when the registry must be asked. It never blocks on I/O.
func (c *AdmissionCache) Cached(peer addr.NodeID, port addr.Port) (d Decision, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.decideLocked(peer, port)
}

func (c *AdmissionCache) decideLocked(peer addr.NodeID, port addr.Port) (Decision, bool) {
	e, ok := c.trust[peer]
	if !ok || !c.now().Before(e.expires) {
		return Decision{}, false
	}
	if e.pair {
		return Decision{Verdict: Admit}, true
	}
	if len(e.shared) == 0 {
		return Decision{Verdict: RejectUntrusted}, true
	}
	for _, n := range e.shared {
		ports, ok := c.policies[n]
		if !ok {
			return Decision{}, false
		}
		if len(ports) == 0 || slices.Contains(ports, port) {
			return Decision{Verdict: Admit}, true
		}
	}
	return Decision{Verdict: RejectPort, Network: e.shared[0]}, true
}

// Resolve returns the decision, asking the registry on a miss. It is the
// parked path: at most MaxParked calls wait at once (ok false beyond that,
// the packet is dropped), each bounded by ParkTimeout. Concurrent misses
// for the same peer share one check_trust.
func (c *AdmissionCache) Resolve(ctx context.Context, peer addr.NodeID, port addr.Port) (d Decision, ok bool) {
	if d, ok := c.Cached(peer, port); ok {
		return d, true
	}
	select {
	case c.park <- struct{}{}:
		defer func() { <-c.park }()
	default:
		return Decision{}, false
	}
	ctx, cancel := context.WithTimeout(ctx, ParkTimeout)
	defer cancel()
	if err := c.fill(ctx, peer); err != nil {
		return Decision{}, false
	}
	return c.Cached(peer, port)
}

// fill fetches what the cache lacks for peer.
func (c *AdmissionCache) fill(ctx context.Context, peer addr.NodeID) error {
	c.mu.Lock()
	e, have := c.trust[peer]
	have = have && c.now().Before(e.expires)
	if !have {
		if wg, busy := c.inflight[peer]; busy {
			c.mu.Unlock()
			wg.Wait()
			c.mu.Lock()
			e, have = c.trust[peer]
			have = have && c.now().Before(e.expires)
		}
	}
	gen := c.gen
	if !have {
		wg := &sync.WaitGroup{}
		wg.Add(1)
		c.inflight[peer] = wg
		c.mu.Unlock()
		rep, err := c.fetch.CheckTrust(ctx, peer)
		c.mu.Lock()
		delete(c.inflight, peer)
		wg.Done()
		if err != nil {
			c.mu.Unlock()
			return err
		}
		ttl := NegativeTTL
		if rep.Trusted {
			ttl = PositiveTTL
		}
		e = trustEntry{pair: rep.TrustPair, shared: slices.Clone([]addr.NetworkID(rep.SharedNetworks)), expires: c.now().Add(ttl)}
		if gen == c.gen {
			c.trust[peer] = e
		}
	}
	var missing []addr.NetworkID
	if !e.pair {
		for _, n := range e.shared {
			if _, ok := c.policies[n]; !ok {
				missing = append(missing, n)
			}
		}
	}
	c.mu.Unlock()
	for _, n := range missing {
		pol, err := c.fetch.GetNetworkPolicy(ctx, n)
		if err != nil {
			return err
		}
		c.mu.Lock()
		if gen == c.gen {
			c.policies[n] = slices.Clone([]addr.Port(pol.AllowedPorts))
		}
		c.mu.Unlock()
	}
	return nil
}

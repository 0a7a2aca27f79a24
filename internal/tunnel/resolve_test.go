package tunnel

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/netsim"
)

// privacyResolver answers resolve like the registry for a private target
// (registry.md §7.1.5): refused while no trust pair exists, answered once
// trusted. Calls are counted; gate, when set, holds every call after its
// answer was decided (to race an answer against a trust change).
type privacyResolver struct {
	reg  *registry
	self addr.NodeID

	mu          sync.Mutex
	private     map[addr.NodeID]bool
	unreachable bool
	calls       int
	gate        chan struct{}
}

// errPrivate is the registry's refusal message for a private target.
type errPrivate struct{ target, asker addr.NodeID }

func (e errPrivate) Error() string {
	return fmt.Sprintf("node %d is private and shares no trust pair or network with node %d", e.target, e.asker)
}

func (r *privacyResolver) Resolve(ctx context.Context, id addr.NodeID) (Resolution, error) {
	r.mu.Lock()
	r.calls++
	refused, down, gate := r.private[id], r.unreachable, r.gate
	r.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return Resolution{}, ctx.Err()
		}
	}
	switch {
	case down:
		return Resolution{}, ErrUnreachable
	case refused:
		return Resolution{}, errPrivate{target: id, asker: r.self}
	}
	return r.reg.Resolve(ctx, id)
}

func (r *privacyResolver) set(f func(r *privacyResolver)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f(r)
}

func (r *privacyResolver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls
}

// privatePair starts A (686), whose resolves of B (687) are refused, and B.
func privatePair(t *testing.T) (a, b *node, res *privacyResolver) {
	n := newNet(t, netsim.LinkConfig{Delay: time.Millisecond})
	reg := newRegistry()
	mustHost(t, n, pubA, pubB)
	res = &privacyResolver{reg: reg, self: 686, private: map[addr.NodeID]bool{687: true}}
	a = startNode(t, listen(t, n, pubA, 4000), 686, reg, nodeOpts{resolver: res})
	b = startNode(t, listen(t, n, pubB, 4000), 687, reg, nodeOpts{})
	return a, b, res
}

const refusalText = "resolve node 687: node 687 is private and shares no trust pair or network with node 686"

// mustRefuse checks that A's resolve of B fails with the registry's refusal.
func mustRefuse(t *testing.T, a *node, b addr.NodeID) {
	t.Helper()
	err := a.m.Resolve(context.Background(), b)
	var priv errPrivate
	if !errors.As(err, &priv) || err.Error() != refusalText {
		t.Fatalf("resolve of a private node: %v, want %q", err, refusalText)
	}
}

// TestWire_ResolveRefusalInvalidatedWhenTrusted (§7.1 step 1, registry.md
// §7.1.5): a refusal is cached only briefly and InvalidateResolve drops it
// at once, so the first dial after trust forms succeeds well inside the
// 60 s success TTL.
func TestWire_ResolveRefusalInvalidatedWhenTrusted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b, res := privatePair(t)
		t0 := time.Now()
		mustRefuse(t, a, b.id)
		mustRefuse(t, a, b.id) // the short negative cache answers
		if got := res.count(); got != 1 {
			t.Fatalf("%d resolves, want 1 (refusal cached)", got)
		}

		// B trusts A: the registry answers from now on; the daemon
		// invalidates the cached refusal.
		res.set(func(r *privacyResolver) { r.private[b.id] = false })
		a.m.InvalidateResolve(b.id)
		if err := a.m.Resolve(context.Background(), b.id); err != nil {
			t.Fatalf("resolve after trust: %v", err)
		}
		if got := res.count(); got != 2 {
			t.Fatalf("%d resolves, want 2", got)
		}
		if err := a.m.Send(b.id, datagram(a.id, b.id, "trusted")); err != nil {
			t.Fatal(err)
		}
		b.mustRecv("trusted", 2*time.Second)
		if d := time.Since(t0); d >= ResolveRefusalTTL {
			t.Fatalf("dial succeeded only after %v", d)
		}
		// A success is cached: no new ask.
		if err := a.m.Resolve(context.Background(), b.id); err != nil || res.count() != 2 {
			t.Fatalf("cached success: %v, %d resolves", err, res.count())
		}
	})
}

// TestWire_ResolveRefusalShortTTL: without an invalidation the refusal
// expires after ResolveRefusalTTL, not the 60 s of a success.
func TestWire_ResolveRefusalShortTTL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b, res := privatePair(t)
		mustRefuse(t, a, b.id)
		res.set(func(r *privacyResolver) { r.private[b.id] = false })
		time.Sleep(ResolveRefusalTTL - time.Millisecond) // virtual time
		mustRefuse(t, a, b.id)
		time.Sleep(time.Millisecond)
		if err := a.m.Resolve(context.Background(), b.id); err != nil {
			t.Fatalf("resolve %v after the refusal: %v", ResolveRefusalTTL, err)
		}
		if got := res.count(); got != 2 {
			t.Fatalf("%d resolves, want 2", got)
		}
	})
}

// TestWire_ResolveInvalidatedInFlight: a refusal decided before the
// invalidation but returned after it is not trusted: Resolve asks again.
func TestWire_ResolveInvalidatedInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b, res := privatePair(t)
		gate := make(chan struct{})
		res.set(func(r *privacyResolver) { r.gate = gate })
		done := make(chan error, 1)
		go func() { done <- a.m.Resolve(context.Background(), b.id) }()
		synctest.Wait() // the refusal is decided, the answer held
		res.set(func(r *privacyResolver) { r.private[b.id], r.gate = false, nil })
		a.m.InvalidateAllResolves()
		close(gate)
		if err := <-done; err != nil {
			t.Fatalf("stale refusal returned: %v", err)
		}
		if got := res.count(); got != 2 {
			t.Fatalf("%d resolves, want 2", got)
		}
	})
}

// TestWire_EstablishedPeerNeedsNoResolve: after a refused resolve, P
// reaches us (it trusts us; its resolve of us works). With the
// authenticated state and its endpoint, Resolve answers nil without the
// registry and Send works, even while the registry refuses or is down.
func TestWire_EstablishedPeerNeedsNoResolve(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b, res := privatePair(t)
		mustRefuse(t, a, b.id)
		if err := b.m.Send(a.id, datagram(b.id, a.id, "from-b")); err != nil {
			t.Fatal(err)
		}
		a.mustRecv("from-b", 2*time.Second)
		if s, ok := a.m.Peer(b.id); !ok || !s.Authenticated {
			t.Fatalf("no authenticated state with B: %+v", s)
		}
		// The refusal is still cached (virtual time has hardly moved).
		if err := a.m.Resolve(context.Background(), b.id); err != nil {
			t.Fatalf("cached refusal returned for an established peer: %v", err)
		}
		for _, down := range []bool{false, true} {
			res.set(func(r *privacyResolver) { r.unreachable = down })
			a.m.InvalidateResolve(b.id)
			if err := a.m.Resolve(context.Background(), b.id); err != nil {
				t.Fatalf("resolve of an established peer (registry down %v): %v", down, err)
			}
			msg := fmt.Sprintf("to-b-%v", down)
			if err := a.m.Send(b.id, datagram(a.id, b.id, msg)); err != nil {
				t.Fatal(err)
			}
			b.mustRecv(msg, 2*time.Second)
		}
		if got := res.count(); got != 1 {
			t.Fatalf("%d resolves, want 1 (none once established)", got)
		}
	})
}

// TestWire_SetupResolveInvalidatedInFlight: the same race on the
// asynchronous resolve of a send's first contact (T1): the stale refusal
// neither fails the setup nor drops the queued packet.
func TestWire_SetupResolveInvalidatedInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b, res := privatePair(t)
		gate := make(chan struct{})
		res.set(func(r *privacyResolver) { r.gate = gate })
		if err := a.m.Send(b.id, datagram(a.id, b.id, "queued")); err != nil {
			t.Fatal(err)
		}
		synctest.Wait() // the worker's resolve is refused, the answer held
		res.set(func(r *privacyResolver) { r.private[b.id], r.gate = false, nil })
		a.m.InvalidateResolve(b.id)
		close(gate)
		b.mustRecv("queued", 2*time.Second)
		if got := res.count(); got != 2 {
			t.Fatalf("%d resolves, want 2", got)
		}
	})
}

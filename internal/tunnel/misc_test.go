package tunnel

import (
	"context"
	"crypto/ed25519"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/netsim"
	"github.com/pilot-go/pilot/internal/wire/frame"
)

// TestWire_PlaintextMode: two -encrypt=false daemons exchange PILT; an
// encrypting daemon reaches a -encrypt=false one over PILS because the
// latter answers key exchange (§6.10).
func TestWire_PlaintextMode(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, netsim.LinkConfig{Delay: time.Millisecond})
		reg := newRegistry()
		mustHost(t, n, pubA, pubB, pubX)
		a := startNode(t, listen(t, n, pubA, 4000), 686, reg, nodeOpts{plaintext: true})
		b := startNode(t, listen(t, n, pubB, 4000), 687, reg, nodeOpts{plaintext: true})
		_ = a.m.Send(b.id, datagram(a.id, b.id, "plain"))
		if in := b.mustRecv("plain", time.Second); in.auth {
			t.Fatal("PILT packet reported as authenticated")
		}
		if a.tap.count(frame.KindPILT) != 1 || a.tap.count(frame.KindPILA) != 0 {
			t.Fatal("-encrypt=false must send PILT and never initiate key exchange")
		}

		c := startNode(t, listen(t, n, pubX, 4000), 700, reg, nodeOpts{})
		_ = c.m.Send(a.id, datagram(c.id, a.id, "sealed"))
		a.mustRecv("sealed", 2*time.Second)
		_ = a.m.Send(c.id, datagram(a.id, c.id, "sealed-back"))
		if in := c.mustRecv("sealed-back", time.Second); !in.auth {
			t.Fatal("answer not over an authenticated state")
		}
		if c.tap.count(frame.KindPILT) != 0 {
			t.Fatal("encrypting daemon sent PILT")
		}
		_ = b.m.Send(c.id, datagram(b.id, c.id, "pilt-refused"))
		c.expectNone(200 * time.Millisecond)
		if c.m.Counters().PILTDropped != 1 {
			t.Fatalf("PILT not refused: %+v", c.m.Counters())
		}
	})
}

// TestWire_ResolveError: a registry refusal fails the dial with "resolve
// node P: <message>" and drops the queue; with the registry unreachable the
// last known endpoint is used.
func TestWire_ResolveError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, netsim.LinkConfig{Delay: time.Millisecond})
		reg := newRegistry()
		a, b := pair(t, n, reg)
		err := a.m.Resolve(context.Background(), 999)
		if !errors.Is(err, ErrNotFound) || err.Error() != "resolve node 999: node 999: node not found" {
			t.Fatalf("err = %v", err)
		}
		establish(t, a, b)
		a.m.Teardown(b.id)
		b.m.Teardown(a.id)
		if _, ok := a.m.Peer(b.id); ok {
			t.Fatal("peer survived teardown")
		}
		reg.mu.Lock()
		reg.unreachable = true
		reg.mu.Unlock()
		// The registry is gone and the entry was torn down: nothing is known.
		if err := a.m.Resolve(context.Background(), b.id); err != nil {
			t.Fatalf("unreachable registry: %v", err)
		}
		reg.mu.Lock()
		reg.unreachable = false
		reg.mu.Unlock()
		_ = a.m.Send(b.id, datagram(a.id, b.id, "after-teardown"))
		b.mustRecv("after-teardown", 3*time.Second)
	})
}

// TestWire_SetupFallsBackToRelay: T1 unanswered for 3 s switches to the
// relay (webhook tunnel.relay_activated), restarting with a fresh key.
func TestWire_SetupFallsBackToRelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, netsim.LinkConfig{Delay: 10 * time.Millisecond})
		startBeacon(t, n)
		reg := newRegistry()
		mustHost(t, n, pubA, pubB)
		n.Cut(pubA, pubB)
		a := startNode(t, listen(t, n, pubA, 4000), 686, reg, nodeOpts{beacon: true})
		b := startNode(t, listen(t, n, pubB, 4000), 687, reg, nodeOpts{beacon: true})
		t0 := time.Now()
		_ = a.m.Send(b.id, datagram(a.id, b.id, "x"))
		e, ok := <-waitEvent(a, EventRelayActivated)
		if d := time.Since(t0); !ok || e.Peer != b.id || d < RelayAfterSetup || d > RelayAfterSetup+100*time.Millisecond {
			t.Fatalf("relay after %v (%+v)", d, e)
		}
		if in := b.mustRecv("x", time.Second); !in.viaRelay {
			t.Fatal("not relayed")
		}
		// T1 at 0 and 1 s directly; at 3 s the switch restarts it at once
		// on the relay (then T2 answers B's PILA): every setup PILA carries
		// a fresh key.
		a.tap.mu.Lock()
		keys := a.tap.pilaX
		a.tap.mu.Unlock()
		if len(keys) < 3 {
			t.Fatalf("%d PILAs, want ≥ 3", len(keys))
		}
		for i := 1; i < 3; i++ {
			for j := range i {
				if keys[i] == keys[j] {
					t.Fatalf("setup PILA %d reuses the key of PILA %d", i, j)
				}
			}
		}
	})
}

// countingKeys counts lookups and blocks them until released.
type countingKeys struct {
	mu      sync.Mutex
	n       int
	key     ed25519.PublicKey
	release chan struct{}
}

func (c *countingKeys) LookupKey(ctx context.Context, _ addr.NodeID) (ed25519.PublicKey, error) {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
	<-c.release
	return c.key, nil
}

// TestKeyCache_SingleFlightAndRefetch: concurrent checks share one lookup;
// the first mismatch after a match refetches at once (a rotation), repeated
// mismatches at most once per 30 s; a fresh match needs none.
func TestKeyCache_SingleFlightAndRefetch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k1 := newIdentity(t).PublicKey()
		k2 := newIdentity(t).PublicKey()
		ck := &countingKeys{key: k1, release: make(chan struct{})}
		kc := newKeyCache(ck, time.Now)
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				if !kc.matches(context.Background(), 5, k1) {
					t.Error("k1 rejected")
				}
			})
		}
		synctest.Wait()
		close(ck.release)
		wg.Wait()
		if ck.n != 1 {
			t.Fatalf("%d lookups, want 1 (single-flight)", ck.n)
		}
		// A forged key right after the match: one refetch, still k1.
		if kc.matches(context.Background(), 5, k2) || ck.n != 2 {
			t.Fatalf("first mismatch after a match: lookups %d, want 2", ck.n)
		}
		// Repeated mismatches without a match in between: no refetch
		// within 30 s of the last one.
		if kc.matches(context.Background(), 5, k2) || ck.n != 2 {
			t.Fatalf("repeated mismatch within 30 s: lookups %d, want no refetch", ck.n)
		}
		time.Sleep(KeyRefetch)
		ck.key = k2 // the peer rotated
		if !kc.matches(context.Background(), 5, k2) || ck.n != 3 {
			t.Fatalf("after rotation: lookups %d", ck.n)
		}
		if !kc.matches(context.Background(), 5, k2) || ck.n != 3 {
			t.Fatal("fresh key refetched")
		}
		// The peer rotates again a second later: the key matched since the
		// last lookup, so the mismatch refetches without waiting 30 s.
		time.Sleep(time.Second)
		k3 := newIdentity(t).PublicKey()
		ck.key = k3
		if !kc.matches(context.Background(), 5, k3) || ck.n != 4 {
			t.Fatalf("rotation within 30 s of a lookup: lookups %d, want 4", ck.n)
		}
		time.Sleep(KeyTTL)
		if !kc.matches(context.Background(), 5, k3) || ck.n != 5 {
			t.Fatalf("stale key not refetched: %d", ck.n)
		}
	})
}

package tunnel

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/pilot-go/pilot/internal/netsim"
)

// An idle manager must not poll: the maintenance loop runs every Tick only
// while a peer has a short timer (key exchange, queue, rekey, prev[P],
// relay), every quietTick while frames flow, and otherwise naps until the
// next idle removal or age rekey (an hour without peers); the first frame
// after a nap wakes it.
func TestManager_TickSleepsWhenIdle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := newRegistry()
		n := newNet(t, netsim.LinkConfig{Delay: time.Millisecond})
		a, b := pair(t, n, reg)
		if got := a.m.tick(); got != time.Hour {
			// pair only registered the nodes: no peer entry yet.
			t.Fatalf("no peers: next tick in %v, want 1h", got)
		}
		establish(t, a, b)
		time.Sleep(PrevMax) // any rekey state from the setup has settled
		synctest.Wait()
		a.m.tick() // takes in the traffic of the setup
		got := a.m.tick()
		if !a.m.napping.Load() || got <= quietTick || got > IdleTimeout {
			t.Fatalf("idle established peer: next tick in %v (napping %v), want a nap until the idle removal",
				got, a.m.napping.Load())
		}
		// The next frame ends the nap: the loop is poked, ticks after
		// Config.Tick instead of the nap and, with traffic since its last
		// tick, comes back every quietTick.
		before := a.m.lastTick.Load()
		if err := a.m.Send(b.id, datagram(a.id, b.id, "wake")); err != nil {
			t.Fatal(err)
		}
		if a.m.napping.Load() {
			t.Fatal("still napping after a frame")
		}
		synctest.Wait()
		time.Sleep(a.m.cfg.Tick)
		synctest.Wait()
		if a.m.lastTick.Load() == before {
			t.Fatal("the tick loop did not wake at the first frame after a nap")
		}
		if a.m.napping.Load() {
			t.Fatal("the loop naps right after traffic; want ticks every quietTick")
		}
		p := a.m.lookupPeer(b.id)
		p.mu.Lock()
		p.rekeyRequest = true // as the reader sets it (§6.9 triggers)
		p.mu.Unlock()
		if got := a.m.tick(); got != a.m.cfg.Tick {
			t.Fatalf("rekey in progress: next tick in %v, want %v", got, a.m.cfg.Tick)
		}
	})
}

// A nap ends no later than the age rekey of the current state (§6.9).
func TestManager_NapEndsAtAgeRekey(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := newRegistry()
		n := newNet(t, netsim.LinkConfig{Delay: time.Millisecond})
		mustHost(t, n, pubA, pubB)
		a := startNode(t, listen(t, n, pubA, 4000), 686, reg, nodeOpts{rekey: 2 * time.Minute})
		b := startNode(t, listen(t, n, pubB, 4000), 687, reg, nodeOpts{})
		establish(t, a, b)
		time.Sleep(PrevMax)
		synctest.Wait()
		a.m.tick()
		p := a.m.lookupPeer(b.id)
		p.mu.Lock()
		due := p.cur.Created().Add(2 * time.Minute)
		p.mu.Unlock()
		got := a.m.tick()
		if want := time.Until(due); got != max(want, a.m.cfg.Tick) {
			t.Fatalf("nap of %v, want %v (until the age rekey)", got, want)
		}
	})
}

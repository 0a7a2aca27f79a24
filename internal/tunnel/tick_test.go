package tunnel

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/pilot-go/pilot/internal/netsim"
)

// An idle manager must not poll: the maintenance loop runs every Tick only
// while a peer has a short timer (key exchange, queue, rekey, prev[P],
// relay), every quietTick at most while peers are merely kept, and not at
// all without peers.
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
		if got := a.m.tick(); got != quietTick {
			t.Fatalf("idle established peer: next tick in %v, want %v", got, quietTick)
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

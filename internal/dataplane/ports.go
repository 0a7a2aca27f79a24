package dataplane

import (
	"math/rand/v2"
	"time"

	"github.com/pilot-go/pilot/addr"
)

// Ephemeral range of wire.md §2.1.
const (
	EphemeralMin addr.Port = 49152
	EphemeralMax addr.Port = 65535
)

const ephemeralCount = int(EphemeralMax-EphemeralMin) + 1

// portAlloc is the ephemeral allocator of wire.md §2.3: round robin from a
// random start, skipping bound ports, ports of live connections and tuples
// closed less than 60 s ago. Guarded by DataPlane.mu.
type portAlloc struct {
	next   int                    // offset of the next candidate
	recent map[tupleKey]time.Time // tuple → when its connection closed
	byPort map[addr.Port]int      // recent tuples per local port
	held   map[addr.Port]struct{} // ports reserved by the data plane (pings)
}

func (a *portAlloc) init() {
	a.next = rand.IntN(ephemeralCount)
	a.recent = make(map[tupleKey]time.Time)
	a.byPort = make(map[addr.Port]int)
	a.held = make(map[addr.Port]struct{})
}

// closed records the close of a connection on key at now.
func (a *portAlloc) closed(key tupleKey, now time.Time) {
	if key.local < EphemeralMin {
		return
	}
	if _, ok := a.recent[key]; !ok {
		a.byPort[key.local]++
	}
	a.recent[key] = now
}

// prune forgets tuples older than the quarantine.
func (a *portAlloc) prune(now time.Time) {
	for k, t := range a.recent {
		if now.Sub(t) >= tupleQuarantine {
			delete(a.recent, k)
			if a.byPort[k.local]--; a.byPort[k.local] <= 0 {
				delete(a.byPort, k.local)
			}
		}
	}
}

// ephemeralLocked returns a free local port for a connection to (peer,
// rport), or for a port-wide use when peer is 0 (no recent tuple of any
// peer may use it then). It returns 0 when the range is exhausted.
func (dp *DataPlane) ephemeralLocked(peer addr.NodeID, rport addr.Port, now time.Time) addr.Port {
	a := &dp.ports
	if len(a.recent) > 0 {
		a.prune(now)
	}
	for range ephemeralCount {
		p := EphemeralMin + addr.Port(a.next)
		a.next = (a.next + 1) % ephemeralCount
		if !dp.portFreeLocked(p) {
			continue
		}
		if peer == 0 {
			if a.byPort[p] > 0 {
				continue
			}
		} else if _, ok := a.recent[tupleKey{p, peer, rport}]; ok {
			continue
		}
		return p
	}
	return 0
}

// portFreeLocked reports whether p is neither listened on, held, used by a
// live connection nor owned by an IPC client.
func (dp *DataPlane) portFreeLocked(p addr.Port) bool {
	if _, ok := dp.listeners[p]; ok {
		return false
	}
	if _, ok := dp.ports.held[p]; ok {
		return false
	}
	if dp.portConns[p] > 0 {
		return false
	}
	return dp.cfg.PortTaken == nil || !dp.cfg.PortTaken(p)
}

package beacon

import (
	"net/netip"
	"sync"
	"time"

	"github.com/pilot-go/pilot/addr"
)

// entry is a node table value (beacon.md §8).
type entry struct {
	ep       netip.AddrPort // endpoint as observed (unmapped)
	local    netip.Addr     // local address the node sends to (reply source)
	lastSeen time.Time
	auth     bool   // pinned by a verified signed Discover (§4)
	lastTS   uint64 // last accepted signed timestamp, Unix ms
}

// peerNode maps a node ID announced by a peer beacon (§7.1).
type peerNode struct {
	peer    netip.AddrPort
	expires time.Time
}

// outcome is the result of a plain update.
type outcome uint8

const (
	recorded  outcome = iota // created, moved or refreshed
	unchanged                // authenticated entry at this address: answered, not refreshed
	pinned                   // authenticated entry at another address: not moved
	notFull                  // table full and node absent: not recorded
)

// table is the node table and the peer map. One mutex guards both; it is
// a leaf lock (nothing else is locked while it is held). Callers pass the
// current time; an entry older than ttl is treated as absent everywhere
// and deleted on sight, so reap only frees memory.
type table struct {
	ttl          time.Duration // set once in newTable
	maxNodes     int
	maxPeerNodes int

	mu        sync.Mutex
	nodes     map[addr.NodeID]entry    // guarded by mu
	peerNodes map[addr.NodeID]peerNode // guarded by mu
}

func newTable(ttl time.Duration, maxNodes, maxPeerNodes int) *table {
	return &table{
		ttl: ttl, maxNodes: maxNodes, maxPeerNodes: maxPeerNodes,
		nodes:     make(map[addr.NodeID]entry),
		peerNodes: make(map[addr.NodeID]peerNode),
	}
}

func (t *table) getLocked(id addr.NodeID, now time.Time) (entry, bool) {
	e, ok := t.nodes[id]
	if ok && !now.Before(e.lastSeen.Add(t.ttl)) {
		delete(t.nodes, id)
		return entry{}, false
	}
	return e, ok
}

// applyPlainLocked records a plain Discover or a punch request: it creates
// or moves an unauthenticated entry, never an authenticated one (§4).
func (t *table) applyPlainLocked(id addr.NodeID, ep netip.AddrPort, local netip.Addr, now time.Time) outcome {
	e, ok := t.getLocked(id, now)
	switch {
	case ok && e.auth && e.ep == ep:
		return unchanged
	case ok && e.auth:
		return pinned
	case !ok && len(t.nodes) >= t.maxNodes:
		return notFull
	}
	t.nodes[id] = entry{ep: ep, local: local, lastSeen: now}
	delete(t.peerNodes, id) // local entries win over peer announcements
	return recorded
}

// applyPlain handles a plain (or not yet verified) Discover from ep.
func (t *table) applyPlain(id addr.NodeID, ep netip.AddrPort, local netip.Addr, now time.Time) outcome {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.applyPlainLocked(id, ep, local, now)
}

// applySigned records a verified signed Discover: the entry becomes
// authenticated at ep, unless ts is not newer than the last accepted one.
func (t *table) applySigned(id addr.NodeID, ep netip.AddrPort, local netip.Addr, ts uint64, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.getLocked(id, now)
	switch {
	case ok && e.auth && ts <= e.lastTS:
		return false
	case !ok && len(t.nodes) >= t.maxNodes:
		return false
	}
	t.nodes[id] = entry{ep: ep, local: local, lastSeen: now, auth: true, lastTS: ts}
	delete(t.peerNodes, id)
	return true
}

// lastSignedTS returns the last accepted signed timestamp of id (0 if none).
func (t *table) lastSignedTS(id addr.NodeID, now time.Time) uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, _ := t.getLocked(id, now)
	return e.lastTS
}

// punch applies §5.1 steps 2–3 atomically: the requester's entry is checked
// or updated from src, and the target's entry returned. ok is false when the
// request must be dropped; res then says whether the requester is pinned
// elsewhere or the table was full (recorded: the target is unknown).
func (t *table) punch(r, tg addr.NodeID, src netip.AddrPort, local netip.Addr, now time.Time) (re, te entry, res outcome, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch res = t.applyPlainLocked(r, src, local, now); res {
	case pinned, notFull:
		return re, te, res, false
	}
	re = t.nodes[r]
	te, ok = t.getLocked(tg, now)
	return re, te, recorded, ok
}

// lookup returns id's live entry.
func (t *table) lookup(id addr.NodeID, now time.Time) (entry, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.getLocked(id, now)
}

// route returns where a relayed frame for id goes: the local entry, else
// (peer, true) for an unexpired peer announcement.
func (t *table) route(id addr.NodeID, now time.Time) (e entry, local bool, peer netip.AddrPort, viaPeer bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e, ok := t.getLocked(id, now); ok {
		return e, true, netip.AddrPort{}, false
	}
	p, ok := t.peerNodes[id]
	if ok && now.Before(p.expires) {
		return entry{}, false, p.peer, true
	}
	return entry{}, false, netip.AddrPort{}, false
}

// localIDs returns the IDs of the live local entries (for Sync).
func (t *table) localIDs(now time.Time) []addr.NodeID {
	t.mu.Lock()
	defer t.mu.Unlock()
	ids := make([]addr.NodeID, 0, len(t.nodes))
	for id, e := range t.nodes {
		if now.Before(e.lastSeen.Add(t.ttl)) {
			ids = append(ids, id)
		}
	}
	return ids
}

// applySync maps every listed valid ID absent from the local table to peer
// for peerTTL (§7.1). IDs beyond the peer map capacity are ignored.
func (t *table) applySync(peer netip.AddrPort, ids []addr.NodeID, valid func(addr.NodeID) bool, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	exp := now.Add(peerTTL)
	for _, id := range ids {
		if !valid(id) {
			continue
		}
		if _, ok := t.getLocked(id, now); ok {
			continue
		}
		if _, ok := t.peerNodes[id]; !ok && len(t.peerNodes) >= t.maxPeerNodes {
			continue
		}
		t.peerNodes[id] = peerNode{peer: peer, expires: exp}
	}
}

// reap deletes expired entries and peer announcements.
func (t *table) reap(now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for id, e := range t.nodes {
		if !now.Before(e.lastSeen.Add(t.ttl)) {
			delete(t.nodes, id)
		}
	}
	for id, p := range t.peerNodes {
		if !now.Before(p.expires) {
			delete(t.peerNodes, id)
		}
	}
}

// counts returns the live plain and authenticated entries and peer nodes.
func (t *table) counts(now time.Time) (plain, auth, peers int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, e := range t.nodes {
		switch {
		case !now.Before(e.lastSeen.Add(t.ttl)):
		case e.auth:
			auth++
		default:
			plain++
		}
	}
	for _, p := range t.peerNodes {
		if now.Before(p.expires) {
			peers++
		}
	}
	return plain, auth, peers
}

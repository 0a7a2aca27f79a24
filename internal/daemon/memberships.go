package daemon

import (
	"log/slog"
	"slices"
	"sync"

	"github.com/pilot-go/pilot/addr"
	whmsg "github.com/pilot-go/pilot/internal/wire/svcmsg/webhook"
)

// Memberships tracks the node's non-backbone networks. The registry is the
// source of truth: after each registration and each policy_epoch change the
// registrar reads the node's memberships (signed lookup of itself) and
// Sync reports the differences made by someone else as network.sync_joined
// and network.sync_left (services.md §8.3). Joins and leaves the daemon
// makes itself are recorded with Note first, so they raise no event. Safe
// for concurrent use.
type Memberships struct {
	events Emitter
	log    *slog.Logger

	mu    sync.Mutex
	known bool                    // guarded by mu: a first Sync happened
	nets  map[addr.NetworkID]bool // guarded by mu
}

// NewMemberships returns an empty tracker.
func NewMemberships(events Emitter, log *slog.Logger) *Memberships {
	if events == nil {
		events = nopEmitter{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Memberships{events: events, log: log, nets: map[addr.NetworkID]bool{}}
}

// Note records a membership change made by this daemon (auto-join, IPC
// network join/leave/accept).
func (m *Memberships) Note(network addr.NetworkID, member bool) {
	if network == 0 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if member {
		m.nets[network] = true
	} else {
		delete(m.nets, network)
	}
}

// Sync replaces the set with the registry's list. The first call only
// records; later calls emit an event per difference.
func (m *Memberships) Sync(current []addr.NetworkID) {
	now := map[addr.NetworkID]bool{}
	for _, n := range current {
		if n != 0 {
			now[n] = true
		}
	}
	m.mu.Lock()
	var joined, left []addr.NetworkID
	if m.known {
		for n := range now {
			if !m.nets[n] {
				joined = append(joined, n)
			}
		}
		for n := range m.nets {
			if !now[n] {
				left = append(left, n)
			}
		}
	}
	m.known, m.nets = true, now
	m.mu.Unlock()
	slices.Sort(joined)
	slices.Sort(left)
	for _, n := range joined {
		m.log.Info("added to a network by someone else", "network", n)
		m.events.Emit("network.sync_joined", whmsg.Fields{{Key: "network_id", Value: uint64(n)}})
	}
	for _, n := range left {
		m.log.Info("removed from a network by someone else", "network", n)
		m.events.Emit("network.sync_left", whmsg.Fields{{Key: "network_id", Value: uint64(n)}})
	}
}

// List returns the non-backbone networks, ascending (never nil).
func (m *Memberships) List() []addr.NetworkID {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]addr.NetworkID, 0, len(m.nets))
	for n := range m.nets {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// Has reports whether the node is a member of network n; the backbone
// (network 0) is always true.
func (m *Memberships) Has(n addr.NetworkID) bool {
	if n == 0 {
		return true
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.nets[n]
}

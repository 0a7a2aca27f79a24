package trust

import (
	"cmp"
	"slices"

	"github.com/pilot-go/pilot/addr"
)

// IPC Handshake (0x0F) reply shapes (ipc.md §5.10, services.md §5.6).
// Times are Unix seconds; arrays are [] when empty, never null.

// StatusReply is {"status":"sent|approved|rejected|revoked","node_id":N}.
type StatusReply struct {
	Status string      `json:"status"`
	NodeID addr.NodeID `json:"node_id"`
}

// PendingItem is one entry of the pending list.
type PendingItem struct {
	NodeID        addr.NodeID `json:"node_id"`
	PublicKey     string      `json:"public_key"`
	Justification string      `json:"justification"`
	ReceivedAt    int64       `json:"received_at"`
}

// PendingReply is {"pending":[…]}.
type PendingReply struct {
	Pending []PendingItem `json:"pending"`
}

// TrustedItem is one entry of the trusted list.
type TrustedItem struct {
	NodeID     addr.NodeID    `json:"node_id"`
	PublicKey  string         `json:"public_key"`
	ApprovedAt int64          `json:"approved_at"`
	Mutual     bool           `json:"mutual"`
	Network    addr.NetworkID `json:"network"`
}

// TrustedReply is {"trusted":[…]}.
type TrustedReply struct {
	Trusted []TrustedItem `json:"trusted"`
}

// Pending returns the pending requests in node order.
func (m *Manager) Pending() PendingReply {
	s := m.Snapshot()
	out := PendingReply{Pending: make([]PendingItem, 0, len(s.Pending))}
	for _, p := range s.Pending {
		out.Pending = append(out.Pending, PendingItem{NodeID: p.NodeID, PublicKey: p.PublicKey,
			Justification: p.Justification, ReceivedAt: p.ReceivedAt.Unix()})
	}
	return out
}

// Trusted returns the trusted peers in node order.
func (m *Manager) Trusted() TrustedReply {
	s := m.Snapshot()
	out := TrustedReply{Trusted: make([]TrustedItem, 0, len(s.Trusted))}
	for _, e := range s.Trusted {
		out.Trusted = append(out.Trusted, TrustedItem{NodeID: e.NodeID, PublicKey: e.PublicKey,
			ApprovedAt: e.ApprovedAt.Unix(), Mutual: e.Mutual, Network: e.Network})
	}
	return out
}

// HandshakePendingCount is Info's handshake_pending_count.
func (m *Manager) HandshakePendingCount() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.pending)
}

func sortState(s *State) {
	slices.SortFunc(s.Trusted, func(a, b Entry) int { return cmp.Compare(a.NodeID, b.NodeID) })
	slices.SortFunc(s.Pending, func(a, b PendingEntry) int { return cmp.Compare(a.NodeID, b.NodeID) })
}

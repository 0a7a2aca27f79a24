package tunnel

import (
	"net/netip"
	"sort"
	"sync/atomic"
	"time"

	"github.com/pilot-go/pilot/addr"
)

// counters are the Manager's totals (atomics).
type counters struct {
	bytesSent, bytesRecv, pktsSent, pktsRecv atomic.Uint64
	sealed, opened, openFailures, replays    atomic.Uint64
	dropped, innerDrops, pilTDropped         atomic.Uint64
	rateLimited, kxRejected, jobsDropped     atomic.Uint64
	pilaSent, recoveries, established        atomic.Uint64
	rekeys, relaySwitches, directRetries     atomic.Uint64
	directRestored, queueDrops, noRoute      atomic.Uint64
	writeErrors                              atomic.Uint64
	segmentedWrites, coalescedReads          atomic.Uint64
}

// Counters is a snapshot of the Manager's totals; the first six feed
// ipc.md Info (bytes_*, pkts_*, tunnel_encryption_success/failure).
type Counters struct {
	BytesSent, BytesRecv, PktsSent, PktsRecv uint64
	EncryptionSuccess                        uint64 // frames sealed
	EncryptionFailure                        uint64 // PILS that failed to open
	Opened                                   uint64 // PILS opened
	Replays                                  uint64
	Dropped                                  uint64 // malformed, unknown or misdirected frames
	InnerDrops                               uint64 // §6.6 steps 7–8
	PILTDropped                              uint64 // PILT refused with encryption on
	RateLimited                              uint64 // key exchange over §6.3 step 2 limits
	KeyExchangeRejected                      uint64
	JobsDropped                              uint64 // worker pool full
	PILASent                                 uint64
	Recoveries                               uint64 // T4 PILAs
	Established                              uint64 // crypto states built from a PILA/PILK
	Rekeys                                   uint64
	RelaySwitches                            uint64
	DirectRetries                            uint64
	DirectRestored                           uint64
	QueueDrops                               uint64
	NoRoute                                  uint64
	WriteErrors                              uint64
	SegmentedWrites                          uint64 // writes of several datagrams (UDP GSO)
	CoalescedReads                           uint64 // reads of several datagrams (UDP GRO)
}

// Counters returns the totals.
func (m *Manager) Counters() Counters {
	c := &m.ctr
	return Counters{
		BytesSent: c.bytesSent.Load(), BytesRecv: c.bytesRecv.Load(),
		PktsSent: c.pktsSent.Load(), PktsRecv: c.pktsRecv.Load(),
		EncryptionSuccess: c.sealed.Load(), EncryptionFailure: c.openFailures.Load(),
		Opened: c.opened.Load(), Replays: c.replays.Load(), Dropped: c.dropped.Load(),
		InnerDrops: c.innerDrops.Load(), PILTDropped: c.pilTDropped.Load(),
		RateLimited: c.rateLimited.Load(), KeyExchangeRejected: c.kxRejected.Load(),
		JobsDropped: c.jobsDropped.Load(), PILASent: c.pilaSent.Load(),
		Recoveries: c.recoveries.Load(), Established: c.established.Load(),
		Rekeys: c.rekeys.Load(), RelaySwitches: c.relaySwitches.Load(),
		DirectRetries: c.directRetries.Load(), DirectRestored: c.directRestored.Load(),
		QueueDrops: c.queueDrops.Load(), NoRoute: c.noRoute.Load(), WriteErrors: c.writeErrors.Load(),
		SegmentedWrites: c.segmentedWrites.Load(), CoalescedReads: c.coalescedReads.Load(),
	}
}

// PeerStat describes one peer for ipc.md Info (peer_list) and the peers
// command.
type PeerStat struct {
	Node            addr.NodeID
	Endpoint        netip.AddrPort // the beacon's address for a relay-only peer
	Relay           bool
	Encrypted       bool // has a crypto state
	Authenticated   bool // the state came from a PILA
	Auth            string
	KeyAge          time.Duration
	Rekeys          uint64
	LastRx, LastTx  time.Time
	FramesSent      uint64
	FramesRecv      uint64
	DecryptFailures uint64
	Replays         uint64
	Queued          int
}

// Path returns "relay" or "direct".
func (s PeerStat) Path() string {
	if s.Relay {
		return "relay"
	}
	return "direct"
}

// PeerStats returns every peer with an endpoint, a crypto state or a
// queue, ordered by node ID.
func (m *Manager) PeerStats() []PeerStat {
	now := m.cfg.Now()
	var out []PeerStat
	for _, p := range m.snapshot() {
		p.mu.Lock()
		if p.dead || (p.cur == nil && !p.endpoint.IsValid() && len(p.queue) == 0) {
			p.mu.Unlock()
			continue
		}
		s := PeerStat{
			Node: p.id, Endpoint: p.endpoint, Relay: p.relay,
			Encrypted: p.cur != nil, Auth: p.auth.String(), Rekeys: p.rekeys,
			LastRx: p.lastRx, LastTx: p.lastTx, FramesSent: p.framesSent, FramesRecv: p.framesRecv,
			DecryptFailures: p.decryptFailures, Replays: p.replays, Queued: len(p.queue),
		}
		if p.cur != nil {
			s.Authenticated = p.cur.Authenticated()
			s.KeyAge = now.Sub(p.cur.Created())
		} else if m.cfg.Plaintext {
			s.Auth = authPlaintext.String()
		}
		if p.relay {
			s.Endpoint = m.cfg.Beacon
		}
		p.mu.Unlock()
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Node < out[j].Node })
	return out
}

// Peer returns the stats of one peer.
func (m *Manager) Peer(id addr.NodeID) (PeerStat, bool) {
	for _, s := range m.PeerStats() {
		if s.Node == id {
			return s, true
		}
	}
	return PeerStat{}, false
}

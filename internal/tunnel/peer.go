package tunnel

import (
	"crypto/ecdh"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/tunnel/session"
)

// authMode says how the current crypto state was established.
type authMode uint8

const (
	authNone authMode = iota
	authPILA
	authPILK
	authPlaintext
)

func (a authMode) String() string {
	switch a {
	case authPILA:
		return "pila"
	case authPILK:
		return "pilk"
	case authPlaintext:
		return "plaintext"
	}
	return "none"
}

// queued is a marshalled packet waiting for a crypto state (§6.5).
type queued struct {
	pkt []byte
	at  time.Time
}

// peer is the per-peer state of wire.md §6.1. Every field below mu is
// guarded by mu; id is set once.
type peer struct {
	id addr.NodeID

	mu   sync.Mutex
	dead bool // removed from the table (teardown, idle GC)

	// crypto (§6.1)
	local     *ecdh.PrivateKey
	localPub  [32]byte
	pilaFrame []byte // our PILA for local (cached signature)
	pilaNode  addr.NodeID
	peerx     [32]byte
	hasPeerx  bool
	retired   [RetiredKeys][32]byte
	nRetired  int // total ever retired; ring index = n % RetiredKeys
	cur, prev *session.State
	prevUntil time.Time
	auth      authMode
	maxCtr    map[[4]byte]uint64 // highest counter per peer prefix under cur (endpoint learning)

	// queue (§6.5)
	queue      []queued
	queueBytes int

	// T1 setup
	setupActive   bool
	setupStart    time.Time
	setupNext     time.Time
	setupInterval time.Duration
	setupSends    int

	// T5 rekey
	rekeyPending  bool
	rekeyNext     time.Time
	rekeyInterval time.Duration
	lastRekey     time.Time
	rekeys        uint64
	rekeyRequest  bool // trigger (f) or (e) requested outside the tick

	// PILA rate limits (§6.2)
	lastPILA    time.Time
	pilaLimit   *rate.Limiter
	lastRecover time.Time

	// path (§7)
	endpoint       netip.AddrPort
	lastKnown      netip.AddrPort // last endpoint, kept across teardown-less resets
	candidates     []netip.AddrPort
	relay          bool
	lastDirectAuth time.Time
	wasRelay       bool // returned to direct by a retry: RTO rule may fall back
	nextRetry      time.Time
	retryKick      time.Time // last early retry caused by direct evidence
	probeSeq       uint32
	probeAt        time.Time

	// resolve cache (§7.1)
	resolving   bool
	resolvedAt  time.Time // last answer (or failure)
	resolveNext time.Time // no new resolve before (60 s cache, 5 s after a refusal, 2 s when unreachable)
	resolveGen  uint64    // bumped by InvalidateResolve: answers to older asks are stale
	realAddr    netip.AddrPort
	resolveErr  error // the cached refusal ("resolve node P: …") until resolveNext

	// txq holds P's sealed frames while the reader processes a coalesced
	// read (batch.go); nil otherwise.
	txq *gsoBatch

	// stats
	lastRx, lastTx   time.Time
	framesSent       uint64
	framesRecv       uint64
	decryptFailures  uint64
	replays          uint64
	lastReplayEvent  time.Time
	addedEventRaised bool
}

func newPeer(id addr.NodeID) *peer {
	return &peer{
		id:        id,
		pilaLimit: rate.NewLimiter(4, 4),
		maxCtr:    make(map[[4]byte]uint64),
	}
}

// isRetiredLocked reports whether k is one of the peer's last 16 replaced
// X25519 keys.
func (p *peer) isRetiredLocked(k [32]byte) bool {
	n := min(p.nRetired, RetiredKeys)
	for i := range n {
		if p.retired[i] == k {
			return true
		}
	}
	return false
}

func (p *peer) retireLocked(k [32]byte) {
	p.retired[p.nRetired%RetiredKeys] = k
	p.nRetired++
}

// prevLocked returns prev while before its deadline.
func (p *peer) prevLocked(now time.Time) *session.State {
	if p.prev != nil && now.Before(p.prevUntil) {
		return p.prev
	}
	return nil
}

// reachableLocked reports whether P can be sent to without a resolve: an
// authenticated crypto state and a known path (endpoint or relay).
func (p *peer) reachableLocked() bool {
	return p.cur != nil && p.cur.Authenticated() && (p.relay || p.endpoint.IsValid())
}

// invalidateResolveLocked drops the cached resolve answer; an answer still
// in flight is discarded when it arrives (resolveGen).
func (p *peer) invalidateResolveLocked() {
	p.resolveGen++
	p.resolveNext = time.Time{}
	p.resolveErr = nil
}

// directTargetLocked returns the UDP address frames go to on the direct
// path: the learned endpoint, else the first candidate.
func (p *peer) directTargetLocked() netip.AddrPort {
	if p.endpoint.IsValid() {
		return p.endpoint
	}
	if len(p.candidates) > 0 {
		return p.candidates[0]
	}
	return netip.AddrPort{}
}

// addCandidateLocked adds ep to the candidate list (at most MaxCandidates,
// the newest punch candidate replacing the last one).
func (p *peer) addCandidateLocked(ep netip.AddrPort) bool {
	for _, c := range p.candidates {
		if c == ep {
			return false
		}
	}
	if len(p.candidates) >= MaxCandidates {
		p.candidates[MaxCandidates-1] = ep
		return true
	}
	p.candidates = append(p.candidates, ep)
	return true
}

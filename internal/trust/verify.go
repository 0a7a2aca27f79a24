package trust

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/wire/svcmsg/handshake"
)

// Receiver-side verification (services.md §5.3), steps 1–6; step 7 hands
// the message to the state machine.

// Verification limits (services.md §5.3).
const (
	MaxAge          = 300 * time.Second // step 3: oldest accepted timestamp
	MaxFuture       = 30 * time.Second  // step 3: newest accepted timestamp
	ReplayWindow    = 10 * time.Minute  // steps 5, 6
	MaxNoncesPeer   = 64
	MaxNoncesTotal  = 65536
	peerInfoMaxAge  = time.Hour // a cached registry key is refreshed at least this often
	CapHandshakeV2  = "handshake-v2"
	maxPeerInfoSize = 65536 // peers whose key is cached
)

// Reasons a message is dropped; errors.Is matches them.
var (
	ErrDropShape     = errors.New("trust: malformed handshake message")                                     // step 1
	ErrDropSender    = errors.New("trust: node_id is not the stream's remote node")                         // step 2
	ErrDropTime      = errors.New("trust: timestamp outside the accepted window")                           // step 3
	ErrDropKey       = errors.New("trust: public_key differs from the registry key")                        // step 4
	ErrDropNoKey     = errors.New("trust: the registry key of the sender is unknown")                       // step 4
	ErrDropSignature = errors.New("trust: signature does not verify under the registry key")                // steps 5, 6
	ErrDropReplay    = errors.New("trust: message replayed")                                                // steps 5, 6
	ErrDropDowngrade = errors.New("trust: v1-only message from a peer with handshake-v2 or in strict mode") // step 6
)

// peerInfo is what the registry says about a node (lookup_ok).
type peerInfo struct {
	key     ed25519.PublicKey
	keyB64  string
	caps    []string
	fetched time.Time
}

func (p *peerInfo) hasV2() bool { return p != nil && slices.Contains(p.caps, CapHandshakeV2) }

// peerCache caches registry keys and capabilities.
type peerCache struct {
	mu    sync.Mutex
	peers map[addr.NodeID]*peerInfo
}

// replayCache remembers (sender, nonce-or-digest) for ReplayWindow, bounded
// per sender and in total; a full sender is refused until entries age out.
type replayCache struct {
	mu    sync.Mutex
	seen  map[addr.NodeID]map[string]time.Time
	total int
}

// check records key for sender at now; false when it was seen within the
// window or the caches are full.
func (c *replayCache) check(sender addr.NodeID, key string, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen == nil {
		c.seen = map[addr.NodeID]map[string]time.Time{}
	}
	m := c.seen[sender]
	for k, t := range m {
		if now.Sub(t) >= ReplayWindow {
			delete(m, k)
			c.total--
		}
	}
	if _, dup := m[key]; dup {
		return false
	}
	if len(m) >= MaxNoncesPeer {
		return false
	}
	if c.total >= MaxNoncesTotal {
		c.sweepLocked(now)
		if c.total >= MaxNoncesTotal {
			return false
		}
	}
	if m == nil {
		m = map[string]time.Time{}
		c.seen[sender] = m
	}
	m[key] = now
	c.total++
	return true
}

func (c *replayCache) sweepLocked(now time.Time) {
	for s, m := range c.seen {
		for k, t := range m {
			if now.Sub(t) >= ReplayWindow {
				delete(m, k)
				c.total--
			}
		}
		if len(m) == 0 {
			delete(c.seen, s)
		}
	}
}

// peer returns the registry's key and capabilities of node, from the cache
// unless refresh or the entry is missing or old. fresh reports a lookup
// made by this call.
func (m *Manager) peer(ctx context.Context, node addr.NodeID, refresh bool) (info *peerInfo, fresh bool, err error) {
	now := m.now()
	m.peers.mu.Lock()
	info = m.peers.peers[node]
	m.peers.mu.Unlock()
	if info != nil && !refresh && now.Sub(info.fetched) < peerInfoMaxAge {
		return info, false, nil
	}
	rep, err := m.reg.Lookup(ctx, node)
	if err != nil {
		return info, false, fmt.Errorf("lookup node %d: %w", node, err)
	}
	key, kerr := handshake.DecodePublicKey(rep.PublicKey)
	if kerr != nil {
		return nil, false, fmt.Errorf("%w: registry key of node %d: %v", ErrDropNoKey, node, kerr)
	}
	info = &peerInfo{key: key, keyB64: rep.PublicKey, caps: slices.Clone([]string(rep.Capabilities)), fetched: now}
	m.peers.mu.Lock()
	if m.peers.peers == nil || len(m.peers.peers) >= maxPeerInfoSize {
		m.peers.peers = map[addr.NodeID]*peerInfo{}
	}
	m.peers.peers[node] = info
	m.peers.mu.Unlock()
	return info, true, nil
}

// Verify applies steps 1–6 of services.md §5.3 to raw, a message that
// arrived on a stream from remote. It returns the message, or an error
// matching one of the ErrDrop values.
func (m *Manager) Verify(ctx context.Context, remote addr.NodeID, raw []byte) (handshake.Message, error) {
	msg, err := handshake.Parse(raw)
	if err != nil {
		return msg, fmt.Errorf("%w: %v", ErrDropShape, err)
	}
	if msg.NodeID != remote {
		return msg, fmt.Errorf("%w: node_id %d, stream from %d", ErrDropSender, msg.NodeID, remote)
	}
	now := m.now()
	ts := time.Unix(msg.Timestamp, 0)
	if ts.Before(now.Add(-MaxAge)) || ts.After(now.Add(MaxFuture)) {
		return msg, fmt.Errorf("%w: timestamp %d, now %d", ErrDropTime, msg.Timestamp, now.Unix())
	}
	info, fresh, err := m.peer(ctx, msg.NodeID, false)
	if err != nil && info == nil {
		return msg, fmt.Errorf("%w: %v", ErrDropNoKey, err)
	}
	err = m.checkSignature(&msg, raw, info)
	if err != nil && !fresh && !errors.Is(err, ErrDropDowngrade) {
		// Refresh once: the peer may have rotated its key.
		if info2, _, lerr := m.peer(ctx, msg.NodeID, true); lerr == nil {
			info = info2
			err = m.checkSignature(&msg, raw, info)
		}
	}
	if err != nil {
		if errors.Is(err, ErrDropKey) {
			m.log.Warn("trust handshake message carries a key that is not the registry's; dropped", "peer", msg.NodeID)
		}
		return msg, err
	}
	replayKey := "n:" + msg.Nonce
	if msg.SigV2 == "" {
		sum := sha256.Sum256(raw)
		replayKey = "h:" + hex.EncodeToString(sum[:])
	}
	if !m.replay.check(msg.NodeID, replayKey, now) {
		return msg, ErrDropReplay
	}
	return msg, nil
}

// checkSignature applies steps 4–6 (without the replay caches) with info.
func (m *Manager) checkSignature(msg *handshake.Message, raw []byte, info *peerInfo) error {
	if msg.PublicKey != "" && msg.PublicKey != info.keyB64 {
		return ErrDropKey
	}
	self := m.self()
	if msg.SigV2 != "" {
		if err := msg.VerifyV2(info.key, self); err != nil {
			return fmt.Errorf("%w: %v", ErrDropSignature, err)
		}
		return nil
	}
	if info.hasV2() || !m.cfg.HandshakeCompat {
		return ErrDropDowngrade
	}
	if msg.Signature == "" {
		return fmt.Errorf("%w: no signature", ErrDropSignature)
	}
	if err := msg.VerifyV1(info.key, self); err != nil {
		return fmt.Errorf("%w: %v", ErrDropSignature, err)
	}
	return nil
}

package secure

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/pilot-go/pilot/addr"
	svc "github.com/pilot-go/pilot/internal/wire/svcmsg/secure"
)

// Limits of the original mode's auth record (§6.4).
const (
	authMaxSkew     = 5 * time.Second
	authReplayTTL   = time.Hour
	authReplayLimit = 100_000
)

// clientOriginal runs the original mode's client side (§6.4): send our
// X25519 key, read the server's, one HKDF key for both directions; with
// OriginalAuth, read the server's auth record, then send ours.
func clientOriginal(ctx context.Context, raw net.Conn, cfg *Config, self, peer addr.NodeID, info PeerInfo) (*Conn, error) {
	priv, pub, err := ephemeral(cfg.Rand)
	if err != nil {
		return nil, err
	}
	if err := writeMsg(raw, pub[:], "original key"); err != nil {
		return nil, err
	}
	var peerKey [svc.KeyLen]byte
	if err := readMsg(raw, peerKey[:], "original key"); err != nil {
		return nil, err
	}
	c, err := originalConn(raw, priv, peerKey, peer, svc.ClientToServer)
	if err != nil || !cfg.OriginalAuth {
		return c, err
	}
	if err := c.readAuth(ctx, cfg, peer, info, peerKey); err != nil {
		return nil, err
	}
	if err := c.writeAuth(cfg, self, pub); err != nil {
		return nil, err
	}
	c.authenticated = true
	return c, nil
}

// serverOriginal continues the original mode once the client's key is
// read: send ours; with OriginalAuth, send our auth record, then read the
// client's.
func serverOriginal(ctx context.Context, raw net.Conn, cfg *Config, self, remote addr.NodeID, info PeerInfo, peerKey [svc.KeyLen]byte) (*Conn, error) {
	priv, pub, err := ephemeral(cfg.Rand)
	if err != nil {
		return nil, err
	}
	if err := writeMsg(raw, pub[:], "original key"); err != nil {
		return nil, err
	}
	c, err := originalConn(raw, priv, peerKey, remote, svc.ServerToClient)
	if err != nil || !cfg.OriginalAuth {
		return c, err
	}
	if err := c.writeAuth(cfg, self, pub); err != nil {
		return nil, err
	}
	if err := c.readAuth(ctx, cfg, remote, info, peerKey); err != nil {
		return nil, err
	}
	c.authenticated = true
	return c, nil
}

func originalConn(raw net.Conn, priv, peerKey [svc.KeyLen]byte, peer addr.NodeID, sendDir svc.Direction) (*Conn, error) {
	shared, err := svc.SharedSecret(priv, peerKey)
	if err != nil {
		return nil, hsErr("key exchange", err)
	}
	key, err := svc.OriginalKey(shared)
	if err != nil {
		return nil, hsErr("key schedule", err)
	}
	return newConn(raw, ModeOriginal, peer, false, key, key, sendDir, svc.ModeOriginal)
}

// writeAuth sends our auth record; pub is our X25519 key.
func (c *Conn) writeAuth(cfg *Config, self addr.NodeID, pub [svc.KeyLen]byte) error {
	a := svc.AuthRecord{NodeID: self, Timestamp: uint64(cfg.clock().Unix())}
	r := cfg.Rand
	if r == nil {
		r = rand.Reader
	}
	if _, err := io.ReadFull(r, a.Random[:]); err != nil {
		return hsErr("auth random", err)
	}
	var err error
	if a.Sig, err = sign(cfg.Signer, svc.AuthSigned(a, pub)); err != nil {
		return err
	}
	if _, err := c.Write(a.Marshal()); err != nil {
		return hsErr("write auth record", err)
	}
	return nil
}

// readAuth reads and checks the peer's auth record: claimed node = the
// stream's peer (ours), |skew| ≤ 5 s, signature under the registry key
// (refreshed once), random bytes unseen for an hour.
func (c *Conn) readAuth(ctx context.Context, cfg *Config, peer addr.NodeID, info PeerInfo, peerKey [svc.KeyLen]byte) error {
	c.rmu.Lock()
	pt, err := c.readRecord()
	c.rmu.Unlock()
	if err != nil {
		return hsErr("read auth record", err)
	}
	a, err := svc.ParseAuthRecord(pt)
	if err != nil {
		return hsErr("auth record", err)
	}
	if a.NodeID != peer {
		return fmt.Errorf("%w: auth record claims node %d, stream is from %d", ErrAuthentication, a.NodeID, peer)
	}
	now := cfg.clock()
	skew := now.Sub(time.Unix(int64(min(a.Timestamp, 1<<62)), 0))
	if skew > authMaxSkew || skew < -authMaxSkew {
		return fmt.Errorf("%w: auth record time %d is %v off", ErrAuthentication, a.Timestamp, skew)
	}
	if err := verifyRefreshing(ctx, cfg, peer, info, func(k ed25519.PublicKey) error {
		return a.Verify(k, peerKey)
	}); err != nil {
		return err
	}
	if !authReplays.fresh(a.Random, now) {
		return fmt.Errorf("%w: auth record random bytes replayed", ErrAuthentication)
	}
	return nil
}

// replayCache remembers auth record random bytes for authReplayTTL, at
// most authReplayLimit of them (the oldest go first).
type replayCache struct {
	mu    sync.Mutex
	seen  map[[svc.AuthRandomLen]byte]time.Time
	queue []replayEntry
	head  int
}

type replayEntry struct {
	random [svc.AuthRandomLen]byte
	at     time.Time
}

var authReplays = &replayCache{}

// fresh records random and reports whether it was not seen before.
func (rc *replayCache) fresh(random [svc.AuthRandomLen]byte, now time.Time) bool {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.seen == nil {
		rc.seen = make(map[[svc.AuthRandomLen]byte]time.Time)
	}
	for rc.head < len(rc.queue) {
		e := rc.queue[rc.head]
		if now.Sub(e.at) < authReplayTTL && len(rc.seen) < authReplayLimit {
			break
		}
		if at, ok := rc.seen[e.random]; ok && at.Equal(e.at) {
			delete(rc.seen, e.random)
		}
		rc.head++
	}
	if rc.head > len(rc.queue)/2 {
		rc.queue = append(rc.queue[:0], rc.queue[rc.head:]...)
		rc.head = 0
	}
	if at, ok := rc.seen[random]; ok && now.Sub(at) < authReplayTTL {
		return false
	}
	rc.seen[random] = now
	rc.queue = append(rc.queue, replayEntry{random: random, at: now})
	return true
}

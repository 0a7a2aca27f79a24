package handlers

import (
	"sync"
	"time"

	"github.com/pilot-go/pilot/internal/registry/store"
)

// nonceCache remembers accepted (verifying key, nonce) pairs for at least
// the replay window (§5.2 step 5) in two generations: an entry added at t
// stays until the second rotation after t, i.e. for at least one window.
// Reads and heartbeats rely on it alone; mutations also record their nonce
// in the store.
type nonceCache struct {
	mu      sync.Mutex
	window  time.Duration
	started time.Time
	cur     map[nonceKey]time.Time
	old     map[nonceKey]time.Time
}

type nonceKey struct {
	key   store.PublicKey
	nonce store.Nonce
}

func newNonceCache(window time.Duration) *nonceCache {
	return &nonceCache{window: window, cur: make(map[nonceKey]time.Time), old: make(map[nonceKey]time.Time)}
}

func (n *nonceCache) rotate(now time.Time) {
	if n.started.IsZero() {
		n.started = now
	}
	if now.Sub(n.started) >= n.window {
		n.old, n.cur = n.cur, make(map[nonceKey]time.Time)
		n.started = now
	}
}

// seen reports whether (key, nonce) was accepted within the window.
func (n *nonceCache) seen(key store.PublicKey, nonce store.Nonce, now time.Time) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.rotate(now)
	k := nonceKey{key, nonce}
	for _, m := range []map[nonceKey]time.Time{n.cur, n.old} {
		if t, ok := m[k]; ok && now.Sub(t) < n.window {
			return true
		}
	}
	return false
}

// add records (key, nonce) as accepted at now.
func (n *nonceCache) add(key store.PublicKey, nonce store.Nonce, now time.Time) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.rotate(now)
	n.cur[nonceKey{key, nonce}] = now
}

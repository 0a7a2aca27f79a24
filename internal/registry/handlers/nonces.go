package handlers

import (
	"sync"
	"time"

	"github.com/pilot-go/pilot/internal/registry/store"
)

// nonceCache remembers accepted (verifying key, nonce) pairs for at least
// the replay window (§5.2 step 5) in two generations: an entry added at t
// stays until the second rotation after t, i.e. for at least one window.
// Reads and heartbeats rely on it alone (seenOrAdd checks and records in
// one step, so of two concurrent copies of a request only one passes);
// mutations also record their nonce in the store.
//
// A busy registry holds millions of entries, so the maps hold no pointers
// and the garbage collector never scans them: an entry's time is its
// offset from base, a time.Time taken at the first use (differences of
// offsets equal time.Time.Sub, monotonic clock included).
type nonceCache struct {
	mu      sync.Mutex
	window  time.Duration
	base    time.Time     // origin of the offsets, set at the first use
	started time.Duration // offset of the current generation's start
	cur     map[nonceKey]time.Duration
	old     map[nonceKey]time.Duration
}

type nonceKey struct {
	key   store.PublicKey
	nonce store.Nonce
}

func newNonceCache(window time.Duration) *nonceCache {
	return &nonceCache{window: window, cur: make(map[nonceKey]time.Duration), old: make(map[nonceKey]time.Duration)}
}

// offsetLocked returns now as an offset from base, rotating the
// generations when the current one is a window old.
func (n *nonceCache) offsetLocked(now time.Time) time.Duration {
	if n.base.IsZero() {
		n.base = now
	}
	off := now.Sub(n.base)
	if off-n.started >= n.window {
		n.old, n.cur = n.cur, make(map[nonceKey]time.Duration)
		n.started = off
	}
	return off
}

// seenLocked reports whether k was accepted within the window before off.
func (n *nonceCache) seenLocked(k nonceKey, off time.Duration) bool {
	if t, ok := n.cur[k]; ok && off-t < n.window {
		return true
	}
	if t, ok := n.old[k]; ok && off-t < n.window {
		return true
	}
	return false
}

// seen reports whether (key, nonce) was accepted within the window.
func (n *nonceCache) seen(key store.PublicKey, nonce store.Nonce, now time.Time) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.seenLocked(nonceKey{key, nonce}, n.offsetLocked(now))
}

// add records (key, nonce) as accepted at now.
func (n *nonceCache) add(key store.PublicKey, nonce store.Nonce, now time.Time) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.cur[nonceKey{key, nonce}] = n.offsetLocked(now)
}

// seenOrAdd reports whether (key, nonce) was accepted within the window
// and, if it was not, records it as accepted at now.
func (n *nonceCache) seenOrAdd(key store.PublicKey, nonce store.Nonce, now time.Time) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	k, off := nonceKey{key, nonce}, n.offsetLocked(now)
	if n.seenLocked(k, off) {
		return true
	}
	n.cur[k] = off
	return false
}

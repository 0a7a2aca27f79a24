package tunnel

import (
	"context"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"sync"
	"time"

	"github.com/pilot-go/pilot/addr"
)

// keyPair is a local X25519 key pair (§5.1).
type keyPair = *ecdh.PrivateKey

func generateKey() (keyPair, error) { return ecdh.X25519().GenerateKey(rand.Reader) }

// lookupTimeout bounds one registry key lookup made by a worker.
const lookupTimeout = 10 * time.Second

// keyCache is idkey[P] of §6.1 for every peer: the registry's Ed25519 key
// with its fetch time, fetched single-flight per node, at most once per 30 s
// per node unless no key is cached (§6.3 step 6). mu is a leaf lock.
type keyCache struct {
	lookup KeyLookup
	now    func() time.Time

	mu sync.Mutex
	m  map[addr.NodeID]*keyEntry
}

type keyEntry struct {
	key      ed25519.PublicKey // nil: unknown or not found
	notFound bool              // the registry said not_found at fetched
	fetched  time.Time         // when key/notFound was obtained
	lastTry  time.Time         // last lookup started
	// matched: a frame carried the cached key since the last lookup
	// started. The first mismatch after a match is how a key rotation
	// looks: it refetches at once (§6.3 step 6). The 30 s limit applies
	// to repeated refetches, so forged keys cost at most one lookup per
	// genuine match.
	matched bool
	wait    chan struct{} // non-nil while a lookup is in flight
}

func newKeyCache(l KeyLookup, now func() time.Time) *keyCache {
	return &keyCache{lookup: l, now: now, m: make(map[addr.NodeID]*keyEntry)}
}

func (c *keyCache) entryLocked(node addr.NodeID) *keyEntry {
	e := c.m[node]
	if e == nil {
		if len(c.m) >= MaxPeers {
			for id, old := range c.m { // evict one idle entry
				if old.wait == nil {
					delete(c.m, id)
					break
				}
			}
		}
		e = &keyEntry{}
		c.m[node] = e
	}
	return e
}

// seed records a key learnt from resolve_ok.public_key.
func (c *keyCache) seed(node addr.NodeID, key ed25519.PublicKey) {
	if len(key) != ed25519.PublicKeySize {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entryLocked(node)
	e.key, e.notFound, e.fetched = key, false, c.now()
}

// fetch runs one lookup for e (whose wait the caller installed) and
// publishes the result.
func (c *keyCache) fetch(ctx context.Context, node addr.NodeID, e *keyEntry) error {
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	key, err := c.lookup.LookupKey(ctx, node)
	cancel()
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case err == nil && len(key) == ed25519.PublicKeySize:
		e.key, e.notFound, e.fetched = key, false, c.now()
	case errors.Is(err, ErrNotFound):
		e.key, e.notFound, e.fetched = nil, true, c.now()
		err = nil
	case err == nil:
		err = errors.New("registry returned a malformed key")
	}
	close(e.wait)
	e.wait = nil
	return err
}

// matches decides §6.3 step 6: does carried equal node's registered key?
// A fresh cached key that matches answers at once; otherwise the registry
// is asked (single-flight), at most once per 30 s per node, except that the
// first mismatch after the cached key matched a frame refetches at once:
// that is how a peer's key rotation is seen without delay. With the registry
// unreachable a cached key, even stale, is used; with no key the frame is
// dropped.
func (c *keyCache) matches(ctx context.Context, node addr.NodeID, carried []byte) bool {
	waited := false
	for {
		now := c.now()
		c.mu.Lock()
		e := c.entryLocked(node)
		fresh := e.key != nil && now.Sub(e.fetched) < KeyTTL
		if fresh && e.matchLocked(carried) {
			c.mu.Unlock()
			return true
		}
		if w := e.wait; w != nil && !waited {
			c.mu.Unlock()
			select {
			case <-w:
			case <-ctx.Done():
				return false
			}
			waited = true
			continue
		}
		limited := now.Sub(e.lastTry) < KeyRefetch
		if waited || e.wait != nil || (e.key != nil && fresh && limited && !e.matched) ||
			(e.notFound && limited) {
			ok := e.matchLocked(carried)
			c.mu.Unlock()
			return ok
		}
		e.wait = make(chan struct{})
		e.lastTry, e.matched = now, false
		c.mu.Unlock()
		_ = c.fetch(ctx, node, e)
		c.mu.Lock()
		ok := e.matchLocked(carried)
		c.mu.Unlock()
		return ok
	}
}

// matchLocked compares carried with the cached key, recording a match.
func (e *keyEntry) matchLocked(carried []byte) bool {
	ok := e.key != nil && e.key.Equal(ed25519.PublicKey(carried))
	if ok {
		e.matched = true
	}
	return ok
}

// registered answers §6.4 step 3 for a PILK sender: true when the registry
// knows the node, false when it answered not_found; an error when it could
// not be asked and nothing fresh is cached.
func (c *keyCache) registered(ctx context.Context, node addr.NodeID) (bool, error) {
	for waited := false; ; waited = true {
		now := c.now()
		c.mu.Lock()
		e := c.entryLocked(node)
		if (e.key != nil || e.notFound) && now.Sub(e.fetched) < KeyTTL {
			known := e.key != nil
			c.mu.Unlock()
			return known, nil
		}
		if w := e.wait; w != nil {
			c.mu.Unlock()
			if waited {
				return false, ErrUnreachable
			}
			select {
			case <-w:
			case <-ctx.Done():
				return false, ctx.Err()
			}
			continue
		}
		if waited {
			c.mu.Unlock()
			return false, ErrUnreachable
		}
		e.wait = make(chan struct{})
		e.lastTry, e.matched = now, false
		c.mu.Unlock()
		if err := c.fetch(ctx, node, e); err != nil {
			return false, err
		}
	}
}

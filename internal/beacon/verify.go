package beacon

import (
	"context"
	"crypto/ed25519"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/wire/beaconmsg"
)

// verifyJob is a signed Discover awaiting verification (§4).
type verifyJob struct {
	d     beaconmsg.Discover
	ep    netip.AddrPort
	local netip.Addr
}

// verifier holds the key cache of §4 step 3 and the queue of the
// verification workers.
type verifier struct {
	keys     KeyLookup     // set once
	budget   *rate.Limiter // registry lookups in total (safe for concurrent use)
	maxCache int
	q        chan verifyJob

	mu    sync.Mutex
	cache map[addr.NodeID]keyEntry // guarded by mu; leaf lock
}

type keyEntry struct {
	key        ed25519.PublicKey // nil until a lookup succeeded
	fetched    time.Time
	lastLookup time.Time
}

func newVerifier(keys KeyLookup, r rate.Limit, burst, maxCache int) *verifier {
	return &verifier{
		keys: keys, budget: rate.NewLimiter(r, burst), maxCache: maxCache,
		q: make(chan verifyJob, verifyQueueLen), cache: make(map[addr.NodeID]keyEntry),
	}
}

// cached returns node's key if fetched less than 10 min ago.
func (v *verifier) cached(node addr.NodeID, now time.Time) ed25519.PublicKey {
	v.mu.Lock()
	defer v.mu.Unlock()
	if e := v.cache[node]; e.key != nil && now.Sub(e.fetched) < keyCacheTTL {
		return e.key
	}
	return nil
}

// mayLookup claims a registry lookup for node: at most one per node per
// 30 s (the first fetch, a refetch after a failed signature, or a retry
// after a failed lookup) and at most the global budget (§4 step 3).
func (v *verifier) mayLookup(node addr.NodeID, now time.Time) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	e, ok := v.cache[node]
	if ok && now.Sub(e.lastLookup) < lookupRetry {
		return false
	}
	if !v.budget.AllowN(now, 1) {
		return false
	}
	if ok || len(v.cache) < v.maxCache {
		e.lastLookup = now
		v.cache[node] = e
	}
	return true
}

func (v *verifier) store(node addr.NodeID, key ed25519.PublicKey, now time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if e, ok := v.cache[node]; ok || len(v.cache) < v.maxCache {
		e.key, e.fetched = key, now
		v.cache[node] = e
	}
}

func (v *verifier) fetch(ctx context.Context, node addr.NodeID, now time.Time) ed25519.PublicKey {
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	key, err := v.keys.LookupKey(ctx, node)
	if err != nil || len(key) != ed25519.PublicKeySize {
		return nil
	}
	v.store(node, key, now)
	return key
}

// reap forgets keys older than the cache lifetime whose retry window ended.
func (v *verifier) reap(now time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for id, e := range v.cache {
		if now.Sub(e.fetched) >= keyCacheTTL && now.Sub(e.lastLookup) >= lookupRetry {
			delete(v.cache, id)
		}
	}
}

// verifyLoop is one verification worker.
func (s *Server) verifyLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-s.verify.q:
			applied := s.verifyOne(ctx, j)
			if !applied {
				s.ctr.drop(dropAuth)
			}
			if s.hooks.verified != nil {
				s.hooks.verified(j.d.Node, applied)
			}
		}
	}
}

// verifyOne runs §4 steps 2–4 for one job and reports whether the entry
// became (or stayed) authenticated at the job's endpoint. When no key can
// be obtained the update is skipped: the Discover was already applied as
// a plain one by the read loop (step 5).
func (s *Server) verifyOne(ctx context.Context, j verifyJob) bool {
	v, node, now := s.verify, j.d.Node, s.cfg.Now()
	if !freshTS(j.d.Timestamp, now) {
		return false
	}
	key := v.cached(node, now)
	fromCache := key != nil
	if key == nil {
		if !v.mayLookup(node, now) {
			return false
		}
		if key = v.fetch(ctx, node, now); key == nil {
			return false
		}
	}
	ok := j.d.Verify(key)
	if !ok && fromCache && v.mayLookup(node, now) { // key rotation
		if key = v.fetch(ctx, node, now); key != nil {
			ok = j.d.Verify(key)
		}
	}
	if !ok {
		return false
	}
	return s.table.applySigned(node, j.ep, j.local, j.d.Timestamp, s.cfg.Now())
}

package secure

import (
	"context"
	"sync"
	"time"

	"github.com/pilot-go/pilot/addr"
)

// LookupFunc asks the registry for a node's key and capabilities (for
// example the daemon's signed "lookup", ipc.md §10.4).
type LookupFunc func(ctx context.Context, node addr.NodeID) (PeerInfo, error)

// Cache is a KeyStore that caches the answers of a LookupFunc for a TTL
// and asks again when the channel requests a refresh (§6.2: "cached,
// refreshed once on failure so rotations work"). Failed lookups are not
// cached.
type Cache struct {
	lookup LookupFunc
	ttl    time.Duration

	mu      sync.Mutex
	entries map[addr.NodeID]cacheEntry
}

type cacheEntry struct {
	info PeerInfo
	at   time.Time
}

// NewCache returns a Cache over lookup keeping answers for ttl.
func NewCache(lookup LookupFunc, ttl time.Duration) *Cache {
	return &Cache{lookup: lookup, ttl: ttl, entries: make(map[addr.NodeID]cacheEntry)}
}

// PeerKey returns the cached answer for node unless it is older than the
// TTL or refresh is set.
func (c *Cache) PeerKey(ctx context.Context, node addr.NodeID, refresh bool) (PeerInfo, error) {
	now := time.Now()
	if !refresh {
		c.mu.Lock()
		e, ok := c.entries[node]
		c.mu.Unlock()
		if ok && now.Sub(e.at) < c.ttl {
			return e.info, nil
		}
	}
	info, err := c.lookup(ctx, node)
	if err != nil {
		return PeerInfo{}, err
	}
	c.mu.Lock()
	c.entries[node] = cacheEntry{info: info, at: now}
	c.mu.Unlock()
	return info, nil
}

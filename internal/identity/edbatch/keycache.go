package edbatch

import "filippo.io/edwards25519"

// KeyCache remembers decoded public keys, so that a key seen in a recent
// batch is not decompressed again (a square root in the field, about a
// tenth of a batched verification). It holds at most 2 × size keys in two
// generations: when the current one is full it becomes the old one, and a
// key found in the old one moves back to the current one. Keys that do
// not decode are not cached. Like a Verifier, it is not safe for
// concurrent use: its owner (one Verifier at a time) serialises access.
type KeyCache struct {
	size     int
	cur, old map[[32]byte]edwards25519.Point
	hits     uint64
	misses   uint64
}

// NewKeyCache returns a cache of at most 2 × size keys (size ≥ 1).
func NewKeyCache(size int) *KeyCache {
	size = max(size, 1)
	return &KeyCache{size: size, cur: make(map[[32]byte]edwards25519.Point)}
}

// Stats returns the number of lookups that found the key and that did
// not.
func (c *KeyCache) Stats() (hits, misses uint64) { return c.hits, c.misses }

// decode sets A to the point of the 32-byte key pub and reports whether it
// decodes.
func (c *KeyCache) decode(A *edwards25519.Point, pub []byte) bool {
	k := [32]byte(pub)
	if p, ok := c.cur[k]; ok {
		c.hits++
		A.Set(&p)
		return true
	}
	if p, ok := c.old[k]; ok {
		c.hits++
		A.Set(&p)
		c.put(k, A)
		return true
	}
	c.misses++
	if _, err := A.SetBytes(pub); err != nil {
		return false
	}
	c.put(k, A)
	return true
}

func (c *KeyCache) put(k [32]byte, p *edwards25519.Point) {
	if len(c.cur) >= c.size {
		c.old, c.cur = c.cur, make(map[[32]byte]edwards25519.Point, c.size)
	}
	c.cur[k] = *p
}

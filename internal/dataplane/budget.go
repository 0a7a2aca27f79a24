package dataplane

import "sync/atomic"

// ConnMinCharge is what every connection is charged from the moment it
// exists (wire.md §9.15): 64 KiB of receive plus 64 KiB of send buffer.
const ConnMinCharge = 128 << 10

// Budget is the daemon-wide buffer memory cap of wire.md §9.15, shared by
// every stream connection (it implements stream.MemoryBudget). The charge
// never exceeds the cap: Acquire grants at most what remains.
type Budget struct {
	cap  int64
	used atomic.Int64
	peak atomic.Int64
}

// NewBudget returns a budget of capBytes.
func NewBudget(capBytes int) *Budget { return &Budget{cap: int64(capBytes)} }

// Acquire grants up to n bytes and returns the grant (0 … n).
func (b *Budget) Acquire(n int) int {
	if n <= 0 {
		return 0
	}
	for {
		u := b.used.Load()
		g := min(int64(n), b.cap-u)
		if g <= 0 {
			return 0
		}
		if b.used.CompareAndSwap(u, u+g) {
			for {
				p := b.peak.Load()
				if u+g <= p || b.peak.CompareAndSwap(p, u+g) {
					break
				}
			}
			return int(g)
		}
	}
}

// Release returns n bytes.
func (b *Budget) Release(n int) {
	if n > 0 {
		b.used.Add(-int64(n))
	}
}

// Cap returns the cap in bytes.
func (b *Budget) Cap() int { return int(b.cap) }

// Used returns the bytes charged now.
func (b *Budget) Used() int { return int(b.used.Load()) }

// Peak returns the highest charge ever reached.
func (b *Budget) Peak() int { return int(b.peak.Load()) }

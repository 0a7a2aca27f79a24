package beacon

import (
	"container/list"
	"time"

	"golang.org/x/time/rate"
)

// limiterSet holds one token bucket per key, at most max keys; the least
// recently used key is evicted when a new one arrives (beacon.md §9). An
// evicted key starts again with a full bucket, which is why the bound is
// large. Not safe for concurrent use: every limiterSet is owned by the
// read loop.
type limiterSet[K comparable] struct {
	r     rate.Limit
	burst int
	max   int
	order *list.List // front = most recently used; values are *limiterItem[K]
	items map[K]*list.Element
}

type limiterItem[K comparable] struct {
	key K
	lim *rate.Limiter
}

func newLimiterSet[K comparable](r rate.Limit, burst, max int) *limiterSet[K] {
	return &limiterSet[K]{r: r, burst: burst, max: max, order: list.New(), items: make(map[K]*list.Element)}
}

// get returns key's bucket, creating it (and evicting the oldest) if needed.
func (s *limiterSet[K]) get(key K) *rate.Limiter {
	if el, ok := s.items[key]; ok {
		s.order.MoveToFront(el)
		return el.Value.(*limiterItem[K]).lim
	}
	if s.order.Len() >= s.max {
		old := s.order.Back()
		delete(s.items, old.Value.(*limiterItem[K]).key)
		it := old.Value.(*limiterItem[K])
		// Reuse the evicted bucket's memory for the new key.
		it.key, it.lim = key, rate.NewLimiter(s.r, s.burst)
		s.order.MoveToFront(old)
		s.items[key] = old
		return it.lim
	}
	it := &limiterItem[K]{key: key, lim: rate.NewLimiter(s.r, s.burst)}
	s.items[key] = s.order.PushFront(it)
	return it.lim
}

// allow takes n tokens from key's bucket at now.
func (s *limiterSet[K]) allow(key K, now time.Time, n int) bool {
	return s.get(key).AllowN(now, n)
}

// len returns the number of tracked keys.
func (s *limiterSet[K]) len() int { return s.order.Len() }

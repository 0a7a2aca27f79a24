package session

import (
	"errors"
	"fmt"
)

// Replay protection limits (§6.7).
const (
	// WindowSize is W: the number of counters below the highest accepted one
	// that a window remembers (the spec requires W ≥ 1,024).
	WindowSize = 2048
	// MaxWindows is the number of live receive windows per state.
	MaxWindows = 8
	// MaxRetired is the size of the retired-prefix set per state.
	MaxRetired = 1024
)

const windowWords = WindowSize / 64

// noncePrefix is a 4-byte nonce prefix read as a big-endian integer.
type noncePrefix uint32

// Reasons wrapped by ErrReplay.
var (
	errTooOld  = errors.New("counter older than the window")
	errSeen    = errors.New("counter already received")
	errRetired = errors.New("prefix retired")
)

// window is the receive window of one peer prefix: the highest counter
// accepted and a ring bitmap in which the bit of counter c is c mod W.
type window struct {
	prefix noncePrefix
	max    uint64
	last   uint64 // replayTable.tick of the last accepted frame (LRU order)
	bits   [windowWords]uint64
}

func (w *window) has(c uint64) bool {
	i := c % WindowSize
	return w.bits[i/64]&(1<<(i%64)) != 0
}

func (w *window) set(c uint64) {
	i := c % WindowSize
	w.bits[i/64] |= 1 << (i % 64)
}

// check applies §6.7 to counter c without changing the window.
func (w *window) check(c uint64) error {
	switch {
	case c > w.max:
		return nil
	case w.max-c >= WindowSize:
		return fmt.Errorf("%w (prefix %08x, counter %d, highest %d)", errTooOld, uint32(w.prefix), c, w.max)
	case w.has(c):
		return fmt.Errorf("%w (prefix %08x, counter %d)", errSeen, uint32(w.prefix), c)
	}
	return nil
}

// accept records c, which check has allowed.
func (w *window) accept(c uint64) {
	if c > w.max {
		if d := c - w.max; d >= WindowSize {
			w.bits = [windowWords]uint64{}
		} else {
			w.clear(w.max+1, d)
		}
		w.max = c
	}
	w.set(c)
}

// clear clears the bits of the n < W counters from, from+1, ...
func (w *window) clear(from, n uint64) {
	for n > 0 {
		i := from % WindowSize
		bit := i % 64
		span := min(64-bit, n)
		w.bits[i/64] &^= (uint64(1)<<span - 1) << bit
		from += span
		n -= span
	}
}

// replayTable is the per-state replay protection of §6.7: up to MaxWindows
// windows keyed by the peer's prefix and a FIFO set of retired prefixes.
// The zero value is empty and ready; memory grows with use.
type replayTable struct {
	windows []window
	tick    uint64 // increases on every accepted frame
	hint    int    // index of the last window used

	retired     map[noncePrefix]struct{}
	retiredFIFO []noncePrefix // ring of the retired prefixes, oldest at retiredHead
	retiredHead int
}

func (t *replayTable) find(p noncePrefix) int {
	if t.hint < len(t.windows) && t.windows[t.hint].prefix == p {
		return t.hint
	}
	for i := range t.windows {
		if t.windows[i].prefix == p {
			t.hint = i
			return i
		}
	}
	return -1
}

// check reports whether (p, c) is a replay, without changing anything.
func (t *replayTable) check(p noncePrefix, c uint64) error {
	if i := t.find(p); i >= 0 {
		return t.windows[i].check(c)
	}
	if _, ok := t.retired[p]; ok {
		return fmt.Errorf("%w (prefix %08x)", errRetired, uint32(p))
	}
	return nil
}

// record accepts (p, c) after authentication; check must have allowed it.
// It reports whether a window was retired to make room for p.
func (t *replayTable) record(p noncePrefix, c uint64) (retired bool) {
	t.tick++
	if i := t.find(p); i >= 0 {
		w := &t.windows[i]
		w.accept(c)
		w.last = t.tick
		return false
	}
	i := len(t.windows)
	if i < MaxWindows {
		t.windows = append(t.windows, window{})
	} else {
		i = 0
		for j := range t.windows {
			if t.windows[j].last < t.windows[i].last {
				i = j
			}
		}
		t.retire(t.windows[i].prefix)
		retired = true
	}
	w := &t.windows[i]
	*w = window{prefix: p, max: c, last: t.tick}
	w.set(c)
	t.hint = i
	return retired
}

// retire adds p to the retired set, forgetting the oldest entry when full.
func (t *replayTable) retire(p noncePrefix) {
	if t.retired == nil {
		t.retired = make(map[noncePrefix]struct{})
	}
	if _, ok := t.retired[p]; ok {
		return
	}
	if len(t.retiredFIFO) < MaxRetired {
		t.retiredFIFO = append(t.retiredFIFO, p)
	} else {
		delete(t.retired, t.retiredFIFO[t.retiredHead])
		t.retiredFIFO[t.retiredHead] = p
		t.retiredHead = (t.retiredHead + 1) % MaxRetired
	}
	t.retired[p] = struct{}{}
}

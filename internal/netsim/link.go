package netsim

import (
	"fmt"
	"math"
	"net/netip"
	"time"
)

const (
	defaultReorderDelay = 10 * time.Millisecond
	defaultQueueBytes   = 64 << 10
)

// LinkConfig describes the conditions of a path in one direction. The zero
// value is a perfect link: no loss, no delay, unlimited bandwidth.
type LinkConfig struct {
	// Delay is the base one-way delay.
	Delay time.Duration
	// Jitter adds a uniform random offset in [-Jitter, +Jitter] to each
	// datagram's delay (floored at zero); it can reorder datagrams.
	Jitter time.Duration
	// Loss is the probability in [0, 1] that a datagram is dropped (DropLoss).
	Loss float64
	// Duplicate is the probability in [0, 1] that a datagram is delivered
	// twice; the copy gets its own delay.
	Duplicate float64
	// Reorder is the probability in [0, 1] that a datagram is held back by an
	// extra delay drawn uniformly from (0, ReorderDelay], letting later
	// datagrams overtake it (counted in Stats.Reordered).
	Reorder float64
	// ReorderDelay bounds the hold-back of a reordered datagram. Zero means
	// 10 ms.
	ReorderDelay time.Duration
	// Bandwidth limits the path to this many payload bytes per second; zero
	// means unlimited. Datagrams wait in a FIFO queue of at most QueueBytes
	// bytes; a datagram that does not fit is dropped (DropQueue).
	Bandwidth int64
	// QueueBytes bounds the bandwidth queue. Zero means 64 KiB.
	QueueBytes int
}

func (c LinkConfig) validate() error {
	for _, p := range []struct {
		name string
		v    float64
	}{{"Loss", c.Loss}, {"Duplicate", c.Duplicate}, {"Reorder", c.Reorder}} {
		if math.IsNaN(p.v) || p.v < 0 || p.v > 1 {
			return fmt.Errorf("%w: %s %v is not a probability in [0, 1]", ErrInvalidParam, p.name, p.v)
		}
	}
	switch {
	case c.Delay < 0:
		return fmt.Errorf("%w: Delay %v is negative", ErrInvalidParam, c.Delay)
	case c.Jitter < 0:
		return fmt.Errorf("%w: Jitter %v is negative", ErrInvalidParam, c.Jitter)
	case c.ReorderDelay < 0:
		return fmt.Errorf("%w: ReorderDelay %v is negative", ErrInvalidParam, c.ReorderDelay)
	case c.Bandwidth < 0:
		return fmt.Errorf("%w: Bandwidth %d is negative", ErrInvalidParam, c.Bandwidth)
	case c.QueueBytes < 0:
		return fmt.Errorf("%w: QueueBytes %d is negative", ErrInvalidParam, c.QueueBytes)
	}
	return nil
}

// rule overrides the default conditions for datagrams from a sender matching
// from to a destination matching to.
type rule struct {
	from, to netip.Prefix
	cfg      LinkConfig
}

// SetDefault replaces the conditions of every internet path that no rule
// matches. Datagrams already in flight keep the conditions they were sent
// with.
func (n *Network) SetDefault(cfg LinkConfig) error {
	if err := cfg.validate(); err != nil {
		return fmt.Errorf("netsim: default link: %w", err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.def = cfg
	return nil
}

// SetLink sets the conditions of internet datagrams whose sender matches from
// and whose destination matches to (one direction). The sender matches by its
// own address or its NAT's public address; the destination by the address
// written to or by the host behind a NAT that currently owns the mapping of
// the destination port. When several rules match, the one set last wins;
// setting an existing (from, to) pair replaces it and keeps its rank.
// Rules do not apply inside a NAT's LAN (see NAT.SetLAN).
func (n *Network) SetLink(from, to netip.Prefix, cfg LinkConfig) error {
	if err := cfg.validate(); err != nil {
		return fmt.Errorf("netsim: link %v -> %v: %w", from, to, err)
	}
	if !from.IsValid() || !to.IsValid() {
		return fmt.Errorf("%w: link %v -> %v", ErrInvalidAddr, from, to)
	}
	from, to = from.Masked(), to.Masked()
	n.mu.Lock()
	defer n.mu.Unlock()
	for i := range n.rules {
		if n.rules[i].from == from && n.rules[i].to == to {
			n.rules[i].cfg = cfg
			return nil
		}
	}
	n.rules = append(n.rules, rule{from: from, to: to, cfg: cfg})
	return nil
}

// ClearLink removes the rule set by SetLink for exactly (from, to).
func (n *Network) ClearLink(from, to netip.Prefix) {
	from, to = from.Masked(), to.Masked()
	n.mu.Lock()
	defer n.mu.Unlock()
	for i := range n.rules {
		if n.rules[i].from == from && n.rules[i].to == to {
			n.rules = append(n.rules[:i], n.rules[i+1:]...)
			return
		}
	}
}

// SetPath sets the conditions between addresses a and b in both directions
// (two SetLink rules with /32 prefixes).
func (n *Network) SetPath(a, b netip.Addr, cfg LinkConfig) error {
	pa, pb := netip.PrefixFrom(a.Unmap(), 32), netip.PrefixFrom(b.Unmap(), 32)
	if err := n.SetLink(pa, pb, cfg); err != nil {
		return err
	}
	return n.SetLink(pb, pa, cfg)
}

// Cut makes every datagram between a and b, in both directions, drop with
// DropDown until Heal. Addresses match like SetLink's, and cuts also apply
// between two hosts of the same LAN. Use it to force relay fallback.
func (n *Network) Cut(a, b netip.Addr) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.cuts[cutKey(a.Unmap(), b.Unmap())] = struct{}{}
}

// Heal undoes Cut(a, b).
func (n *Network) Heal(a, b netip.Addr) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.cuts, cutKey(a.Unmap(), b.Unmap()))
}

func cutKey(a, b netip.Addr) [2]netip.Addr {
	if b.Less(a) {
		a, b = b, a
	}
	return [2]netip.Addr{a, b}
}

// cutLocked reports whether a cut separates the sender (its host address or
// public address) from the destination (written address or receiving host).
func (n *Network) cutLocked(fromHost, fromPub, to, toHost netip.Addr) bool {
	if len(n.cuts) == 0 {
		return false
	}
	for _, f := range [2]netip.Addr{fromHost, fromPub} {
		for _, t := range [2]netip.Addr{to, toHost} {
			if !f.IsValid() || !t.IsValid() {
				continue
			}
			if _, ok := n.cuts[cutKey(f, t)]; ok {
				return true
			}
		}
	}
	return false
}

// linkLocked returns the conditions of an internet datagram.
func (n *Network) linkLocked(fromHost, fromPub, to, toHost netip.Addr) LinkConfig {
	for i := len(n.rules) - 1; i >= 0; i-- {
		r := &n.rules[i]
		if matches(r.from, fromHost, fromPub) && matches(r.to, to, toHost) {
			return r.cfg
		}
	}
	return n.def
}

func matches(p netip.Prefix, a, b netip.Addr) bool {
	return (a.IsValid() && p.Contains(a)) || (b.IsValid() && p.Contains(b))
}

// transmitLocked applies the conditions cfg to p and schedules its arrival.
func (n *Network) transmitLocked(p *packet, cfg LinkConfig, now time.Time) {
	if cfg.Loss > 0 && n.rng.Float64() < cfg.Loss {
		n.dropLocked(p, DropLoss)
		return
	}
	depart := now
	if cfg.Bandwidth > 0 {
		limit := cfg.QueueBytes
		if limit == 0 {
			limit = defaultQueueBytes
		}
		pa := p.path
		if pa.busyUntil.Before(now) {
			pa.busyUntil = now
		}
		backlog := float64(pa.busyUntil.Sub(now)) * float64(cfg.Bandwidth) / float64(time.Second)
		if backlog+float64(len(p.data)) > float64(limit) {
			n.dropLocked(p, DropQueue)
			return
		}
		pa.busyUntil = pa.busyUntil.Add(time.Duration(float64(len(p.data)) * float64(time.Second) / float64(cfg.Bandwidth)))
		depart = pa.busyUntil
	}
	copies := 1
	if cfg.Duplicate > 0 && n.rng.Float64() < cfg.Duplicate {
		copies = 2
		n.stats.Duplicated++
		p.path.stats.Duplicated++
	}
	for range copies {
		n.scheduleLocked(depart.Add(n.delayLocked(p, cfg)), p, now)
	}
}

// delayLocked draws the propagation delay of one copy of p.
func (n *Network) delayLocked(p *packet, cfg LinkConfig) time.Duration {
	d := cfg.Delay
	if cfg.Jitter > 0 {
		d += time.Duration(n.rng.Int64N(2*int64(cfg.Jitter)+1)) - cfg.Jitter
		d = max(d, 0)
	}
	if cfg.Reorder > 0 && n.rng.Float64() < cfg.Reorder {
		rd := cfg.ReorderDelay
		if rd == 0 {
			rd = defaultReorderDelay
		}
		d += 1 + time.Duration(n.rng.Int64N(int64(rd)))
		n.stats.Reordered++
		p.path.stats.Reordered++
	}
	return d
}

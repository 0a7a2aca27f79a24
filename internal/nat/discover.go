package nat

import (
	"context"
	"net/netip"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/wire/beaconmsg"
)

// Discover runs the start-up discovery of beacon.md §3.2: a node-0
// Discover padded to 21 bytes from the tunnel socket, waiting StartWait
// for the reply, at most StartAttempts times. It returns the observed
// endpoint. The tunnel's socket reader must be running (the reply arrives
// through Handle).
func (c *Client) Discover(ctx context.Context) (netip.AddrPort, error) {
	if !c.Enabled() {
		return netip.AddrPort{}, ErrNoBeacon
	}
	ch := make(chan netip.AddrPort, 1)
	c.mu.Lock()
	c.replyWaiter = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		if c.replyWaiter == ch {
			c.replyWaiter = nil
		}
		c.mu.Unlock()
	}()
	for range StartAttempts {
		c.sendDiscover(0)
		t := time.NewTimer(StartWait)
		select {
		case ep := <-ch:
			t.Stop()
			return ep, nil
		case <-ctx.Done():
			t.Stop()
			return netip.AddrPort{}, ctx.Err()
		case <-t.C:
		}
	}
	return netip.AddrPort{}, ErrNoReply
}

// sendDiscover sends a signed Discover when node ≠ 0 and a key is known,
// else the padded plain form.
func (c *Client) sendDiscover(node addr.NodeID) {
	now := c.now()
	d := beaconmsg.Discover{Node: node, Form: beaconmsg.DiscoverPadded}
	if node != 0 && c.cfg.Key != nil {
		if k := c.cfg.Key(); len(k) != 0 {
			d = beaconmsg.NewSignedDiscover(node, uint64(now.UnixMilli()), k)
		}
	}
	b, err := d.AppendTo(make([]byte, 0, beaconmsg.DiscoverSignedLen))
	if err != nil {
		return
	}
	c.mu.Lock()
	c.lastSent = now
	c.mu.Unlock()
	c.stats.discovers.Add(1)
	if err := c.cfg.Send(b, c.cfg.Beacon); err != nil {
		c.log.Debug("send discover", "err", err)
	}
}

// handleReply records the observed endpoint and reports a change.
func (c *Client) handleReply(ep netip.AddrPort) {
	c.stats.replies.Add(1)
	c.mu.Lock()
	old := c.observed
	c.observed = ep
	w := c.replyWaiter
	c.mu.Unlock()
	if w != nil {
		select {
		case w <- ep:
		default:
		}
	}
	if old.IsValid() && old != ep && c.cfg.OnEndpoint != nil {
		c.cfg.OnEndpoint(old, ep)
	}
}

// discoverLoop sends a signed Discover at once after SetNode and then every
// Interval ± 10 %.
func (c *Client) discoverLoop(ctx context.Context) {
	t := time.NewTimer(time.Hour)
	t.Stop()
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.wake:
		case <-t.C:
		}
		if node := addr.NodeID(c.node.Load()); node != 0 {
			c.sendDiscover(node)
			t.Reset(jitter(c.cfg.Interval))
		}
	}
}

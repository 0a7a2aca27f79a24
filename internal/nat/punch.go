package nat

import (
	"context"
	"net/netip"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/wire/beaconmsg"
	"github.com/pilot-go/pilot/internal/wire/frame"
)

// RequestPunch asks the beacon to coordinate a hole punch with target
// (beacon.md §5.2): a fresh Discover first when the last one is older than
// FreshDiscover, then 03 ‖ own ID ‖ target padded to 21 bytes. real is the
// target's registered real_addr IP (may be zero); a punch command whose IP
// matches it is attributed to target. It never blocks.
func (c *Client) RequestPunch(target addr.NodeID, real netip.Addr) error {
	if !c.Enabled() {
		return ErrNoBeacon
	}
	self := addr.NodeID(c.node.Load())
	if self == 0 || !beaconmsg.ValidNode(target) || target == self {
		return ErrInvalidRelay
	}
	now := c.now()
	c.mu.Lock()
	stale := now.Sub(c.lastSent) > FreshDiscover
	c.requests[target] = punchRecord{at: now, real: real.Unmap()}
	if len(c.requests) > 1024 {
		for id, r := range c.requests {
			if now.Sub(r.at) > PunchWindow {
				delete(c.requests, id)
			}
		}
	}
	c.mu.Unlock()
	if stale {
		c.sendDiscover(self)
	}
	b, err := beaconmsg.PunchRequest{Requester: self, Target: target, Padded: true}.AppendTo(make([]byte, 0, beaconmsg.PunchRequestPaddedLen))
	if err != nil {
		return err
	}
	c.stats.requests.Add(1)
	return c.cfg.Send(b, c.cfg.Beacon)
}

// handlePunch queues a PILP burst toward ep (at most PunchRate commands per
// second) and reports ep as a candidate for the peers we recently asked to
// punch: the one whose real_addr IP matches, or, when none matches, every
// peer requested within PunchWindow.
func (c *Client) handlePunch(ep netip.AddrPort) {
	c.stats.commands.Add(1)
	now := c.now()
	if !c.limit.AllowN(now, 1) {
		c.stats.dropped.Add(1)
		return
	}
	select {
	case c.punch <- ep:
	default:
		c.stats.dropped.Add(1)
	}
	if c.cfg.OnCandidate == nil {
		return
	}
	var matched, recent []addr.NodeID
	c.mu.Lock()
	for id, r := range c.requests {
		if now.Sub(r.at) > PunchWindow || now.Before(r.at) {
			continue
		}
		recent = append(recent, id)
		if r.real.IsValid() && r.real == ep.Addr().Unmap() {
			matched = append(matched, id)
		}
	}
	c.mu.Unlock()
	if len(matched) > 0 {
		recent = matched
	}
	for _, id := range recent {
		c.cfg.OnCandidate(id, ep)
	}
}

// punchLoop sends PunchBurst PILP frames PunchGap apart for every queued
// punch command.
func (c *Client) punchLoop(ctx context.Context) {
	pilp := frame.MagicPILP[:]
	t := time.NewTimer(time.Hour)
	t.Stop()
	defer t.Stop()
	for {
		var ep netip.AddrPort
		select {
		case <-ctx.Done():
			return
		case ep = <-c.punch:
		}
		for i := range PunchBurst {
			if i > 0 {
				t.Reset(PunchGap)
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
			}
			c.stats.pilp.Add(1)
			if err := c.cfg.Send(pilp, ep); err != nil {
				c.log.Debug("send PILP", "addr", ep, "err", err)
			}
		}
	}
}

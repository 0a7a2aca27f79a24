package handlers

import (
	"context"
	"errors"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/registry/store"
	"github.com/pilot-go/pilot/internal/wire/regmsg"
)

// The reaper/sweeper (registry.md §11): every -reap-interval it removes
// expired invites (invite.removed, reason expired, auth_via system),
// expired handshake entries, stale beacon entries and expired nonces, and
// with -node-ttl purges nodes offline longer than the TTL like deregister
// (reason purge), skipping network owners with a WARN.

// purgeBatch bounds how many stale nodes one pass reads at a time.
const purgeBatch = 100

// RunSweeper sweeps every interval until ctx ends. Errors are logged.
func (h *Handler) RunSweeper(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = time.Minute
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := h.Sweep(ctx); err != nil && ctx.Err() == nil {
				h.log.Warn("sweeper pass failed", "err", err)
			}
		}
	}
}

// auditExpiredInvite records the removal of an expired invite (§7.7), by
// the sweeper or by a new invite that replaces it before the sweeper ran.
func (c *call) auditExpiredInvite(tx store.Tx, inv store.Invite) error {
	return c.audit(tx, grant{viaSystem, 0}, regmsg.ActionInviteRemoved, aInt("network_id", inv.NetworkID),
		aInt("node_id", inv.TargetID), aInt("inviter_id", inv.InviterID), aStr("reason", "expired"))
}

// Sweep runs one sweeper pass at the handler's current time.
func (h *Handler) Sweep(ctx context.Context) error {
	now := h.now()
	c := &call{h: h, ctx: ctx, now: now, typ: "sweep"}
	err := c.update(func(tx store.Tx) error {
		invs, err := tx.SweepInvites(now)
		if err != nil {
			return err
		}
		for _, inv := range invs {
			if err := c.auditExpiredInvite(tx, inv); err != nil {
				return err
			}
		}
		if _, err := tx.SweepHandshakes(now); err != nil {
			return err
		}
		if _, err := tx.SweepBeacons(now.Add(-BeaconTTL)); err != nil {
			return err
		}
		_, err = tx.SweepNonces(now)
		return err
	})
	if err != nil {
		return err
	}
	if h.cfg.NodeTTL > 0 {
		// The purge reads last_seen from the store: write the heartbeats
		// kept in memory first (seen.go).
		if err := h.FlushSeen(ctx); err != nil {
			return err
		}
		return c.purge(now.Add(-h.cfg.NodeTTL))
	}
	return nil
}

// purge tombstones every live node last seen before cutoff, except owners.
func (c *call) purge(cutoff time.Time) error {
	var after addr.NodeID
	for {
		var batch []store.Node
		if err := c.view(func(tx store.ReadTx) error {
			var err error
			batch, err = tx.ListNodesSeenBefore(cutoff, after, purgeBatch)
			return err
		}); err != nil {
			return err
		}
		if len(batch) == 0 {
			return nil
		}
		for _, n := range batch {
			after = n.ID
			if err := c.purgeNode(n.ID, cutoff); err != nil {
				return err
			}
		}
	}
}

var errSkip = errors.New("skip")

func (c *call) purgeNode(id addr.NodeID, cutoff time.Time) error {
	var owned []addr.NetworkID
	err := c.update(func(tx store.Tx) error {
		n, err := tx.Node(id)
		if isNotFound(err) {
			return errSkip
		}
		if err != nil {
			return err
		}
		if !c.h.lastSeen(n).Before(cutoff) {
			return errSkip // seen again meanwhile
		}
		if owned, err = tx.OwnedNetworks(id); err != nil {
			return err
		}
		if len(owned) > 0 {
			return errSkip
		}
		rem, err := tx.TombstoneNode(id, c.now, "purge")
		if err != nil {
			return err
		}
		return c.afterRemoval(tx, grant{viaSystem, 0}, id, rem, "purge")
	})
	if errors.Is(err, errSkip) {
		if len(owned) > 0 {
			c.h.log.Warn("node offline longer than -node-ttl not purged: it owns networks; transfer ownership or delete them",
				"node_id", id, "networks", owned)
		}
		return nil
	}
	if err == nil {
		c.h.m.Deregistration()
	}
	return err
}

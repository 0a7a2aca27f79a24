package sqlite

import (
	"database/sql"
	"fmt"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/registry/store"
)

const inviteCols = `network_id, target_id, inviter_id, created_at, expires_at`

func (t *tx) listInvites(where string, args ...any) ([]store.Invite, error) {
	rows, err := t.q.QueryContext(t.ctx, `SELECT `+inviteCols+` FROM invites `+where, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Invite
	for rows.Next() {
		inv, err := scanInvite(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, inv)
	}
	return out, rows.Err()
}

func scanInvite(s scanner) (store.Invite, error) {
	var nw, target, inviter, created, expires int64
	if err := s.Scan(&nw, &target, &inviter, &created, &expires); err != nil {
		return store.Invite{}, err
	}
	return store.Invite{NetworkID: addr.NetworkID(nw), TargetID: addr.NodeID(target), InviterID: addr.NodeID(inviter),
		Created: time.UnixMilli(created).UTC(), Expires: time.UnixMilli(expires).UTC()}, nil
}

func (t *tx) Invite(network addr.NetworkID, target addr.NodeID) (store.Invite, error) {
	inv, err := scanInvite(t.q.QueryRowContext(t.ctx, `SELECT `+inviteCols+` FROM invites WHERE network_id = ? AND target_id = ?`,
		int64(network), int64(target)))
	if err == sql.ErrNoRows {
		return inv, notFound("invite of node %d to network %d", target, network)
	}
	return inv, err
}

func (t *tx) ListInvites(target addr.NodeID, now time.Time, after store.InviteCursor, limit int) ([]store.Invite, error) {
	if after.Created.IsZero() {
		return t.listInvites(`WHERE target_id = ? AND expires_at > ? ORDER BY created_at, network_id`+limitClause(limit),
			int64(target), now.UnixMilli())
	}
	c := after.Created.UnixMilli()
	return t.listInvites(`WHERE target_id = ? AND expires_at > ? AND (created_at > ? OR (created_at = ? AND network_id > ?))
		ORDER BY created_at, network_id`+limitClause(limit), int64(target), now.UnixMilli(), c, c, int64(after.NetworkID))
}

func (t *tx) CountInvites(target addr.NodeID, now time.Time) (int, error) {
	return t.count(`SELECT count(*) FROM invites WHERE target_id = ? AND expires_at > ?`, int64(target), now.UnixMilli())
}

func (t *tx) CreateInvite(inv store.Invite) error {
	if inv.NetworkID == store.BackboneID {
		return fmt.Errorf("network 0: %w", store.ErrBackbone)
	}
	if _, err := t.Network(inv.NetworkID); err != nil {
		return err
	}
	if _, err := t.Node(inv.TargetID); err != nil {
		return err
	}
	now := inv.Created.UnixMilli()
	old, err := t.Invite(inv.NetworkID, inv.TargetID)
	switch {
	case err == nil && old.Expires.UnixMilli() > now:
		return fmt.Errorf("node %d already has a pending invite to network %d: %w", inv.TargetID, inv.NetworkID, store.ErrAlreadyInvited)
	case err == nil:
		if _, err := t.exec(`DELETE FROM invites WHERE network_id = ? AND target_id = ?`,
			int64(inv.NetworkID), int64(inv.TargetID)); err != nil {
			return err
		}
	case !isNotFound(err):
		return err
	}
	n, err := t.CountInvites(inv.TargetID, inv.Created)
	if err != nil {
		return err
	}
	if n >= store.MaxPendingInvites {
		return fmt.Errorf("node %d has %d pending invites: %w", inv.TargetID, n, store.ErrInboxFull)
	}
	_, err = t.exec(`INSERT INTO invites(`+inviteCols+`) VALUES (?, ?, ?, ?, ?)`, int64(inv.NetworkID),
		int64(inv.TargetID), int64(inv.InviterID), now, inv.Expires.UnixMilli())
	return err
}

func (t *tx) DeleteInvite(network addr.NetworkID, target addr.NodeID) error {
	c, err := t.exec(`DELETE FROM invites WHERE network_id = ? AND target_id = ?`, int64(network), int64(target))
	if err == nil && c == 0 {
		err = notFound("invite of node %d to network %d", target, network)
	}
	return err
}

func (t *tx) SweepInvites(now time.Time) ([]store.Invite, error) {
	expired, err := t.listInvites(`WHERE expires_at <= ? ORDER BY created_at, network_id, target_id`, now.UnixMilli())
	if err != nil {
		return nil, err
	}
	_, err = t.exec(`DELETE FROM invites WHERE expires_at <= ?`, now.UnixMilli())
	return expired, err
}

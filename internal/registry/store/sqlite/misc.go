package sqlite

import (
	"database/sql"
	"strings"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/identity"
	"github.com/pilot-go/pilot/internal/registry/store"
)

func (t *tx) AuditHead() (uint64, string, error) {
	if t.w != nil {
		return t.w.cur.auditSeq, t.w.cur.auditHash, nil
	}
	var seq int64
	var hash string
	err := t.q.QueryRowContext(t.ctx, `SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1`).Scan(&seq, &hash)
	if err == sql.ErrNoRows {
		return 0, "", nil
	}
	return uint64(seq), hash, err
}

func (t *tx) AppendAudit(now time.Time, action string, actor addr.NodeID, authVia string, attrs []identity.AuditAttr) (store.AuditEntry, error) {
	e := store.AuditEntry{Time: store.FormatAuditTime(now), Action: action, ActorNodeID: actor, AuthVia: authVia, Attrs: attrs}
	text, err := store.EncodeAttrs(attrs)
	if err != nil {
		return e, err
	}
	seq, prev, err := t.AuditHead()
	if err != nil {
		return e, err
	}
	e.Seq = seq + 1
	if e.Hash, err = store.ChainNext(prev, e.Row()); err != nil {
		return e, err
	}
	var netID any
	if n, ok := store.AttrNetworkID(attrs); ok {
		netID = int64(n)
	}
	_, err = t.exec(`INSERT INTO audit(seq, time, action, actor_node_id, auth_via, attrs, hash, network_id)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, int64(e.Seq), e.Time, action, int64(actor), authVia, text, e.Hash, netID)
	if err == nil && t.w != nil {
		t.w.cur.auditSeq, t.w.cur.auditHash = e.Seq, e.Hash
	}
	return e, err
}

func (t *tx) QueryAudit(f store.AuditFilter) ([]store.AuditEntry, error) {
	var conds []string
	var args []any
	if f.HasNetwork {
		conds, args = append(conds, "network_id = ?"), append(args, int64(f.Network))
	}
	if f.Action != "" {
		conds, args = append(conds, "action = ?"), append(args, f.Action)
	}
	if f.Before > 0 {
		conds, args = append(conds, "seq < ?"), append(args, int64(f.Before))
	}
	q := `SELECT seq, time, action, actor_node_id, auth_via, attrs, hash FROM audit`
	if len(conds) > 0 {
		q += " WHERE " + strings.Join(conds, " AND ")
	}
	rows, err := t.q.QueryContext(t.ctx, q+" ORDER BY seq DESC"+limitClause(f.Limit), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.AuditEntry
	for rows.Next() {
		r, err := scanRawAudit(rows)
		if err != nil {
			return nil, err
		}
		attrs, err := store.DecodeAttrs(r.Attrs)
		if err != nil {
			return nil, err
		}
		out = append(out, store.AuditEntry{Seq: r.Seq, Time: r.Time, Action: r.Action,
			ActorNodeID: addr.NodeID(r.ActorNodeID), AuthVia: r.AuthVia, Attrs: attrs, Hash: r.Hash})
	}
	return out, rows.Err()
}

func scanRawAudit(s scanner) (store.RawAuditRow, error) {
	var r store.RawAuditRow
	var seq, actor int64
	err := s.Scan(&seq, &r.Time, &r.Action, &actor, &r.AuthVia, &r.Attrs, &r.Hash)
	r.Seq, r.ActorNodeID = uint64(seq), uint32(actor)
	return r, err
}

func (t *tx) PolicyEpoch() (uint64, error) {
	if t.view != nil {
		if e, ok := t.view.cachedEpoch(); ok {
			return e, nil
		}
	}
	if t.w != nil {
		return uint64(t.w.cur.epoch), nil
	}
	v, err := t.counter("policy_epoch")
	return uint64(v), err
}

func (t *tx) BumpPolicyEpoch() (uint64, error) {
	w, err := t.writer()
	if err != nil {
		return 0, err
	}
	w.cur.epoch++ // written back before the COMMIT (writer.go)
	return uint64(w.cur.epoch), nil
}

func (t *tx) UpsertBeacon(b store.Beacon) error {
	_, err := t.exec(`INSERT INTO beacons(id, addr, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET addr = excluded.addr, updated_at = excluded.updated_at`,
		int64(b.ID), b.Addr, b.Updated.UnixMilli())
	return err
}

func (t *tx) ListBeacons(freshSince time.Time, after uint32, limit int) ([]store.Beacon, error) {
	rows, err := t.q.QueryContext(t.ctx, `SELECT id, addr, updated_at FROM beacons WHERE updated_at >= ? AND id > ?
		ORDER BY id`+limitClause(limit), freshSince.UnixMilli(), int64(after))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Beacon
	for rows.Next() {
		var id, upd int64
		var b store.Beacon
		if err := rows.Scan(&id, &b.Addr, &upd); err != nil {
			return nil, err
		}
		b.ID, b.Updated = uint32(id), time.UnixMilli(upd).UTC()
		out = append(out, b)
	}
	return out, rows.Err()
}

func (t *tx) SweepBeacons(before time.Time) (int, error) {
	c, err := t.exec(`DELETE FROM beacons WHERE updated_at < ?`, before.UnixMilli())
	return int(c), err
}

func (t *tx) Stats(now, onlineSince time.Time) (store.Stats, error) {
	var s store.Stats
	err := t.q.QueryRowContext(t.ctx, `SELECT
		(SELECT count(*) FROM nodes WHERE last_seen >= ?),
		(SELECT count(*) FROM nodes),
		(SELECT count(*) FROM networks WHERE id <> 0),
		(SELECT count(*) FROM approvals a JOIN approvals b ON a.from_id = b.to_id AND a.to_id = b.from_id WHERE a.from_id < a.to_id),
		(SELECT count(*) FROM nodes WHERE task_exec <> 0),
		(SELECT count(*) FROM invites WHERE expires_at > ?),
		(SELECT count(*) FROM memberships WHERE role = 'owner'),
		(SELECT count(*) FROM memberships WHERE role = 'admin'),
		(SELECT count(*) FROM memberships WHERE role = 'member')`,
		onlineSince.UnixMilli(), now.UnixMilli()).Scan(&s.NodesOnline, &s.NodesTotal, &s.Networks, &s.TrustLinks,
		&s.TaskExecutors, &s.InvitesPending, &s.Owners, &s.Admins, &s.Members)
	return s, err
}

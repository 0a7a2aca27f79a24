package sqlite

import (
	"database/sql"
	"fmt"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/registry/store"
)

const nodeCols = `id, public_key, real_addr, lan_addrs, last_seen, version, capabilities, owner, hostname,
	public, tags, task_exec, polo_score, key_created_at, key_rotated_at, rotate_count, key_expires_at`

// nodeCols with the n. prefix, for joins.
const nodeColsN = `n.id, n.public_key, n.real_addr, n.lan_addrs, n.last_seen, n.version, n.capabilities, n.owner,
	n.hostname, n.public, n.tags, n.task_exec, n.polo_score, n.key_created_at, n.key_rotated_at, n.rotate_count,
	n.key_expires_at`

type scanner interface{ Scan(dest ...any) error }

func scanNode(s scanner, extra ...any) (store.Node, error) {
	var (
		n                          store.Node
		id                         int64
		key, lan, caps, tags       string
		host                       sql.NullString
		lastSeen, rot, exp         sql.NullInt64
		created, rotCount, pub, te int64
	)
	dest := []any{&id, &key, &n.RealAddr, &lan, &lastSeen, &n.Version, &caps, &n.Owner, &host,
		&pub, &tags, &te, &n.PoloScore, &created, &rot, &rotCount, &exp}
	if err := s.Scan(append(dest, extra...)...); err != nil {
		return n, err
	}
	var err error
	n.ID = addr.NodeID(id)
	if n.PublicKey, err = parseKey(key); err != nil {
		return n, err
	}
	if n.LANAddrs, err = parseList[string](lan, "lan_addrs"); err != nil {
		return n, err
	}
	if n.Capabilities, err = parseList[string](caps, "capabilities"); err != nil {
		return n, err
	}
	if n.Tags, err = parseList[string](tags, "tags"); err != nil {
		return n, err
	}
	n.Hostname = host.String
	n.LastSeen = fromMS(lastSeen)
	n.Public, n.TaskExec = pub != 0, te != 0
	n.KeyCreatedAt = time.UnixMilli(created).UTC()
	n.KeyRotatedAt = fromMS(rot)
	n.RotateCount = uint32(rotCount)
	n.KeyExpiresAt = fromMS(exp)
	return n, nil
}

func hostCol(h string) any {
	if h == "" {
		return nil
	}
	return h
}

func (t *tx) nodeWhere(what, cond string, arg any) (store.Node, error) {
	n, err := scanNode(t.q.QueryRowContext(t.ctx, `SELECT `+nodeCols+` FROM nodes WHERE `+cond, arg))
	if err == sql.ErrNoRows {
		return n, notFound("%s", what)
	}
	return n, err
}

func (t *tx) Node(id addr.NodeID) (store.Node, error) {
	if t.view != nil {
		if n, ok := t.view.cachedNode(id); ok {
			return n, nil
		}
	}
	n, err := t.nodeWhere("node", "id = ?", int64(id))
	if err != nil {
		if isNotFound(err) {
			return n, notFound("node %d", id)
		}
		return n, err
	}
	if t.view != nil {
		t.view.fillNode(n)
	}
	return n, nil
}

func (t *tx) NodeByKey(k store.PublicKey) (store.Node, error) {
	b, err := t.KeyBinding(k)
	if err == nil && b.State != store.KeyLive {
		err = notFound("node with this public key")
	}
	if err != nil {
		return store.Node{}, err
	}
	n, err := t.Node(b.NodeID)
	if isNotFound(err) {
		// The binding is newer than this View's snapshot (keydir.go).
		return n, notFound("node with this public key")
	}
	return n, err
}

func (t *tx) NodeByHostname(h string) (store.Node, error) {
	if h == "" {
		return store.Node{}, notFound("empty hostname")
	}
	return t.nodeWhere(fmt.Sprintf("hostname %q", h), "hostname = ?", h)
}

func (t *tx) KeyBinding(k store.PublicKey) (store.KeyBinding, error) {
	b := store.KeyBinding{Key: k}
	r, ok, known := t.lookupKey(k)
	if !known {
		// No directory (a read-only store, or one being reloaded): ask
		// the table, which has no index on public_key.
		var id int64
		var state string
		err := t.q.QueryRowContext(t.ctx, `SELECT node_id, state, since FROM node_keys WHERE public_key = ?`, k.String()).
			Scan(&id, &state, &r.since)
		if err == sql.ErrNoRows {
			return b, notFound("public key binding")
		}
		if err != nil {
			return b, err
		}
		if r.state, err = parseKeyState(state); err != nil {
			return b, err
		}
		r.node, ok = addr.NodeID(id), true
	}
	if !ok {
		return b, notFound("public key binding")
	}
	b.NodeID, b.State, b.Since = r.node, r.state, time.UnixMilli(r.since).UTC()
	return b, nil
}

func (t *tx) Tombstone(id addr.NodeID) (store.Tombstone, error) {
	ts := store.Tombstone{ID: id}
	var since int64
	var key sql.NullString
	// state <> 'retired' is implied by state = 'tombstone' but is spelled
	// out: it is the condition of the node_id index, which SQLite uses
	// only when the query names it (keydir.go).
	err := t.q.QueryRowContext(t.ctx, `SELECT t.since, t.reason, k.public_key FROM tombstones t
		LEFT JOIN node_keys k ON k.node_id = t.id AND k.state <> 'retired' AND k.state = 'tombstone' WHERE t.id = ?`, int64(id)).
		Scan(&since, &ts.Reason, &key)
	if err == sql.ErrNoRows {
		return ts, notFound("tombstone of node %d", id)
	}
	if err != nil {
		return ts, err
	}
	ts.Since = time.UnixMilli(since).UTC()
	if key.Valid {
		if ts.Key, err = parseKey(key.String); err != nil {
			return ts, err
		}
		ts.HasKey = true
	}
	return ts, nil
}

func (t *tx) listNodes(q string, args ...any) ([]store.Node, error) {
	rows, err := t.q.QueryContext(t.ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Node
	for rows.Next() {
		n, err := scanNode(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

func (t *tx) ListNodes(after addr.NodeID, limit int) ([]store.Node, error) {
	return t.listNodes(`SELECT `+nodeCols+` FROM nodes WHERE id > ? ORDER BY id`+limitClause(limit), int64(after))
}

func (t *tx) ListNodesSeenBefore(before time.Time, after addr.NodeID, limit int) ([]store.Node, error) {
	return t.listNodes(`SELECT `+nodeCols+` FROM nodes WHERE COALESCE(last_seen, 0) < ? AND id > ? ORDER BY id`+
		limitClause(limit), before.UnixMilli(), int64(after))
}

// checkNewKey refuses a key that is bound or retired (§6.3.6).
func (t *tx) checkNewKey(k store.PublicKey) error {
	b, err := t.KeyBinding(k)
	if err != nil {
		if isNotFound(err) {
			return nil
		}
		return err
	}
	return &store.KeyBindingError{Binding: b}
}

// checkHostname refuses a hostname held by another live node.
func (t *tx) checkHostname(h string, self addr.NodeID) error {
	if h == "" {
		return nil
	}
	var other int64
	err := t.q.QueryRowContext(t.ctx, `SELECT id FROM nodes WHERE hostname = ? AND id <> ?`, h, int64(self)).Scan(&other)
	if err == sql.ErrNoRows {
		return nil
	}
	if err != nil {
		return err
	}
	return fmt.Errorf("hostname %q belongs to node %d: %w", h, other, store.ErrHostnameTaken)
}

func (t *tx) insertNode(n store.Node) error {
	_, err := t.q.ExecContext(t.ctx, `INSERT INTO nodes(`+nodeCols+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
		int64(n.ID), n.PublicKey.String(), n.RealAddr, jsonList(n.LANAddrs), ms(n.LastSeen), n.Version,
		jsonList(n.Capabilities), n.Owner, hostCol(n.Hostname), boolInt(n.Public), jsonList(n.Tags),
		boolInt(n.TaskExec), n.PoloScore, n.KeyCreatedAt.UnixMilli(), ms(n.KeyRotatedAt), int64(n.RotateCount),
		ms(n.KeyExpiresAt))
	return err
}

// CreateNode checks, in this order, the key (§6.3.6), the hostname and
// the ID space. The common case (no hostname) runs two statements: the
// key binding insert, which finds a bound or retired key by its conflict
// (only then is the binding read, for the error), and the node insert.
func (t *tx) CreateNode(n store.Node) (store.Node, error) {
	w, err := t.writer()
	if err != nil {
		return n, err
	}
	if err := t.checkNewKey(n.PublicKey); err != nil {
		return n, err
	}
	if n.Hostname != "" {
		if err := t.checkHostname(n.Hostname, 0); err != nil {
			return n, err
		}
	}
	next := max(w.cur.nextNode, int64(store.FirstNodeID))
	if next > int64(store.LastNodeID) {
		return n, fmt.Errorf("all node IDs up to %d were issued: %w", store.LastNodeID, store.ErrIDSpaceExhausted)
	}
	if _, err := t.exec(`INSERT INTO node_keys(public_key, node_id, state, since) VALUES (?, ?, 'live', ?)`,
		n.PublicKey.String(), next, n.KeyCreatedAt.UnixMilli()); err != nil {
		return n, err
	}
	n.ID = addr.NodeID(next)
	t.keyChanged(n.PublicKey, n.ID, store.KeyLive, n.KeyCreatedAt.UnixMilli())
	w.cur.nextNode = next + 1
	if err := t.insertNode(n); err != nil {
		return n, err
	}
	t.nodeStored(n)
	return n, nil
}

func (t *tx) ReclaimNode(n store.Node) error {
	ts, err := t.Tombstone(n.ID)
	if err != nil {
		return err
	}
	if !ts.HasKey || ts.Key != n.PublicKey {
		return notFound("tombstone %d bound to this key", n.ID)
	}
	if err := t.checkHostname(n.Hostname, n.ID); err != nil {
		return err
	}
	if _, err := t.exec(`DELETE FROM tombstones WHERE id = ?`, int64(n.ID)); err != nil {
		return err
	}
	if err := t.setKeyState(n.ID, n.PublicKey, store.KeyLive, n.KeyCreatedAt.UnixMilli()); err != nil {
		return err
	}
	if err := t.insertNode(n); err != nil {
		return err
	}
	t.nodeStored(n)
	return nil
}

func (t *tx) UpdateNode(n store.Node) error {
	if err := t.checkHostname(n.Hostname, n.ID); err != nil {
		return err
	}
	c, err := t.exec(`UPDATE nodes SET real_addr = ?, lan_addrs = ?, last_seen = ?, version = ?, capabilities = ?,
		owner = ?, hostname = ?, public = ?, tags = ?, task_exec = ?, polo_score = ?, key_created_at = ?,
		key_rotated_at = ?, rotate_count = ?, key_expires_at = ? WHERE id = ?`,
		n.RealAddr, jsonList(n.LANAddrs), ms(n.LastSeen), n.Version, jsonList(n.Capabilities), n.Owner,
		hostCol(n.Hostname), boolInt(n.Public), jsonList(n.Tags), boolInt(n.TaskExec), n.PoloScore,
		n.KeyCreatedAt.UnixMilli(), ms(n.KeyRotatedAt), int64(n.RotateCount), ms(n.KeyExpiresAt), int64(n.ID))
	if err != nil {
		return err
	}
	if c == 0 {
		return notFound("node %d", n.ID)
	}
	t.nodeDropped(n.ID)
	return nil
}

func (t *tx) SetLastSeen(id addr.NodeID, at time.Time) error {
	c, err := t.exec(`UPDATE nodes SET last_seen = ? WHERE id = ?`, ms(at), int64(id))
	if err == nil && c == 0 {
		err = notFound("node %d", id)
	}
	t.nodeDropped(id)
	return err
}

func (t *tx) TouchNodes(seen []store.LastSeen) (int, error) {
	total := 0
	for _, s := range seen {
		c, err := t.exec(`UPDATE nodes SET last_seen = ? WHERE id = ? AND COALESCE(last_seen, 0) < ?`,
			s.Seen.UnixMilli(), int64(s.ID), s.Seen.UnixMilli())
		if err != nil {
			return total, err
		}
		if c > 0 {
			t.logNode(nodeChange{kind: changeSeen, id: s.ID, at: s.Seen.UnixMilli()})
		}
		total += int(c)
	}
	return total, nil
}

// rebind retires the current key of id and binds newKey in state.
func (t *tx) rebind(id addr.NodeID, newKey store.PublicKey, state store.KeyState, now time.Time) error {
	// The callers checked newKey; node_keys no longer refuses a duplicate
	// itself (keydir.go), so check again rather than ever write one.
	if _, bound, _ := t.lookupKey(newKey); bound {
		return fmt.Errorf("public key is already bound: %w", store.ErrKeyBound)
	}
	var old string
	err := t.q.QueryRowContext(t.ctx, `SELECT public_key FROM node_keys WHERE node_id = ? AND state <> 'retired'`, int64(id)).Scan(&old)
	switch {
	case err == nil:
		oldKey, err := parseKey(old)
		if err != nil {
			return err
		}
		if err := t.setKeyState(id, oldKey, store.KeyRetired, now.UnixMilli()); err != nil {
			return err
		}
	case err != sql.ErrNoRows:
		return err
	}
	if _, err := t.exec(`INSERT INTO node_keys(public_key, node_id, state, since) VALUES (?, ?, ?, ?)`,
		newKey.String(), int64(id), state.String(), now.UnixMilli()); err != nil {
		return err
	}
	t.keyChanged(newKey, id, state, now.UnixMilli())
	return nil
}

// setKeyState changes the state of k, the live or deregistered key of node
// id (found through the node_id index).
func (t *tx) setKeyState(id addr.NodeID, k store.PublicKey, state store.KeyState, since int64) error {
	c, err := t.exec(`UPDATE node_keys SET state = ?, since = ? WHERE node_id = ? AND state <> 'retired' AND public_key = ?`,
		state.String(), since, int64(id), k.String())
	if err != nil {
		return err
	}
	if c != 1 {
		return notFound("key binding of node %d", id)
	}
	t.keyChanged(k, id, state, since)
	return nil
}

func (t *tx) RotateKey(id addr.NodeID, newKey store.PublicKey, now, expires time.Time) (store.Node, error) {
	n, err := t.Node(id)
	if err != nil {
		return n, err
	}
	if err := t.checkNewKey(newKey); err != nil {
		return n, err
	}
	if err := t.rebind(id, newKey, store.KeyLive, now); err != nil {
		return n, err
	}
	n.PublicKey, n.KeyRotatedAt, n.KeyExpiresAt = newKey, now, expires
	n.RotateCount++
	t.nodeDropped(id)
	_, err = t.exec(`UPDATE nodes SET public_key = ?, key_rotated_at = ?, rotate_count = ?, key_expires_at = ? WHERE id = ?`,
		newKey.String(), ms(now), int64(n.RotateCount), ms(expires), int64(id))
	if err != nil {
		return n, err
	}
	return t.Node(id)
}

func (t *tx) ReassignKey(id addr.NodeID, newKey store.PublicKey, now time.Time) (store.Node, bool, error) {
	n, err := t.Node(id)
	live := err == nil
	if err != nil && !isNotFound(err) {
		return n, false, err
	}
	if !live {
		if _, err := t.Tombstone(id); err != nil {
			return n, false, notFound("node %d (neither registered nor deregistered)", id)
		}
	}
	b, err := t.KeyBinding(newKey)
	switch {
	case err == nil && b.State == store.KeyRetired:
		return n, false, fmt.Errorf("public key was retired on %s: %w", b.Since.Format(time.RFC3339), store.ErrKeyRetired)
	case err == nil && (b.State == store.KeyLive || b.NodeID == id):
		return n, false, fmt.Errorf("public key is registered to node %d: %w", b.NodeID, store.ErrKeyBound)
	case err == nil: // bound to another tombstone: the binding moves
		c, err := t.exec(`DELETE FROM node_keys WHERE node_id = ? AND state <> 'retired' AND public_key = ?`,
			int64(b.NodeID), newKey.String())
		if err != nil {
			return n, false, err
		}
		if c != 1 {
			return n, false, notFound("key binding of node %d", b.NodeID)
		}
		t.keyDeleted(newKey)
	case !isNotFound(err):
		return n, false, err
	}
	if !live {
		return n, false, t.rebind(id, newKey, store.KeyTombstone, now)
	}
	if err := t.rebind(id, newKey, store.KeyLive, now); err != nil {
		return n, false, err
	}
	t.nodeDropped(id)
	_, err = t.exec(`UPDATE nodes SET public_key = ?, key_rotated_at = ?, rotate_count = rotate_count + 1,
		key_expires_at = NULL WHERE id = ?`, newKey.String(), now.UnixMilli(), int64(id))
	if err != nil {
		return n, true, err
	}
	n, err = t.Node(id)
	return n, true, err
}

func (t *tx) TombstoneNode(id addr.NodeID, now time.Time, reason string) (store.NodeRemoval, error) {
	var r store.NodeRemoval
	n, err := t.Node(id)
	if err != nil {
		return r, err
	}
	owned, err := t.OwnedNetworks(id)
	if err != nil {
		return r, err
	}
	if len(owned) > 0 {
		return r, fmt.Errorf("node %d owns network %d: %w", id, owned[0], store.ErrOwner)
	}
	if r.Networks, err = t.NetworkIDsOf(id); err != nil {
		return r, err
	}
	if r.InvitesRemoved, err = t.listInvites(`WHERE target_id = ? OR inviter_id = ? ORDER BY created_at, network_id, target_id`,
		int64(id), int64(id)); err != nil {
		return r, err
	}
	if r.PairsRemoved, err = t.count(`SELECT count(*) FROM approvals a JOIN approvals b
		ON a.from_id = b.to_id AND a.to_id = b.from_id WHERE a.from_id = ?`, int64(id)); err != nil {
		return r, err
	}
	r.HostnameRemoved = n.Hostname
	t.nodeDropped(id)
	for _, q := range []string{
		`DELETE FROM invites WHERE target_id = ? OR inviter_id = ?`,
		`DELETE FROM approvals WHERE from_id = ? OR to_id = ?`,
		`DELETE FROM handshake_requests WHERE to_id = ? OR from_id = ?`,
		`DELETE FROM handshake_responses WHERE to_id = ? OR from_id = ?`,
		`DELETE FROM memberships WHERE node_id = ? OR node_id = ?`,
		`DELETE FROM nodes WHERE id = ? OR id = ?`,
	} {
		if _, err := t.exec(q, int64(id), int64(id)); err != nil {
			return r, err
		}
	}
	if err := t.setKeyState(id, n.PublicKey, store.KeyTombstone, now.UnixMilli()); err != nil {
		return r, err
	}
	_, err = t.exec(`INSERT INTO tombstones(id, since, reason) VALUES (?, ?, ?)`, int64(id), now.UnixMilli(), reason)
	return r, err
}

package sqlite

import (
	"fmt"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/registry/store"
)

func (t *tx) HasApproval(from, to addr.NodeID) (bool, error) {
	return t.exists(`SELECT 1 FROM approvals WHERE from_id = ? AND to_id = ?`, int64(from), int64(to))
}

func (t *tx) TrustPair(a, b addr.NodeID) (bool, error) {
	n, err := t.count(`SELECT count(*) FROM approvals WHERE (from_id = ? AND to_id = ?) OR (from_id = ? AND to_id = ?)`,
		int64(a), int64(b), int64(b), int64(a))
	return n == 2, err
}

func (t *tx) AddApproval(from, to addr.NodeID, now time.Time) (added, pair bool, err error) {
	if _, err := t.Node(from); err != nil {
		return false, false, err
	}
	if _, err := t.Node(to); err != nil {
		return false, false, err
	}
	c, err := t.exec(`INSERT INTO approvals(from_id, to_id, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
		int64(from), int64(to), now.UnixMilli())
	if err != nil {
		return false, false, err
	}
	pair, err = t.HasApproval(to, from)
	return c > 0, pair, err
}

func (t *tx) RevokeTrust(a, b addr.NodeID) (removed, pairRemoved bool, err error) {
	if pairRemoved, err = t.TrustPair(a, b); err != nil {
		return false, false, err
	}
	c, err := t.exec(`DELETE FROM approvals WHERE (from_id = ? AND to_id = ?) OR (from_id = ? AND to_id = ?)`,
		int64(a), int64(b), int64(b), int64(a))
	return c > 0, pairRemoved, err
}

func (t *tx) HandshakePending(from, to addr.NodeID, now time.Time) (bool, error) {
	return t.exists(`SELECT 1 FROM handshake_requests WHERE to_id = ? AND from_id = ? AND expires_at > ?`,
		int64(to), int64(from), now.UnixMilli())
}

func (t *tx) EnqueueHandshakeRequest(r store.HandshakeRequest) (bool, error) {
	if _, err := t.Node(r.FromID); err != nil {
		return false, err
	}
	if _, err := t.Node(r.ToID); err != nil {
		return false, err
	}
	now := r.Created.UnixMilli()
	if _, err := t.exec(`DELETE FROM handshake_requests WHERE to_id = ? AND expires_at <= ?`, int64(r.ToID), now); err != nil {
		return false, err
	}
	if pending, err := t.HandshakePending(r.FromID, r.ToID, r.Created); err != nil || pending {
		return false, err
	}
	n, err := t.count(`SELECT count(*) FROM handshake_requests WHERE to_id = ?`, int64(r.ToID))
	if err != nil {
		return false, err
	}
	if n >= store.MaxHandshakeQueue {
		return false, fmt.Errorf("node %d has %d pending handshake requests: %w", r.ToID, n, store.ErrInboxFull)
	}
	_, err = t.exec(`INSERT INTO handshake_requests(to_id, from_id, justification, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?)`, int64(r.ToID), int64(r.FromID), r.Justification, now, r.Expires.UnixMilli())
	return err == nil, err
}

func (t *tx) EnqueueHandshakeResponse(r store.HandshakeResponse) error {
	if _, err := t.Node(r.ToID); err != nil {
		return err
	}
	now := r.Created.UnixMilli()
	if _, err := t.exec(`DELETE FROM handshake_responses WHERE to_id = ? AND expires_at <= ?`, int64(r.ToID), now); err != nil {
		return err
	}
	if _, err := t.exec(`INSERT INTO handshake_responses(to_id, from_id, accept, created_at, expires_at) VALUES (?, ?, ?, ?, ?)`,
		int64(r.ToID), int64(r.FromID), boolInt(r.Accept), now, r.Expires.UnixMilli()); err != nil {
		return err
	}
	n, err := t.count(`SELECT count(*) FROM handshake_responses WHERE to_id = ?`, int64(r.ToID))
	if err != nil || n <= store.MaxHandshakeQueue {
		return err
	}
	_, err = t.exec(`DELETE FROM handshake_responses WHERE id IN
		(SELECT id FROM handshake_responses WHERE to_id = ? ORDER BY id LIMIT ?)`, int64(r.ToID), n-store.MaxHandshakeQueue)
	return err
}

func (t *tx) DrainHandshakes(target addr.NodeID, now time.Time, limit int) (store.HandshakeBatch, error) {
	var b store.HandshakeBatch
	nowMS := now.UnixMilli()
	fetch := limit
	if fetch > 0 {
		fetch++ // one more tells whether entries remain
	}
	rows, err := t.q.QueryContext(t.ctx, `SELECT id, from_id, justification, created_at, expires_at FROM handshake_requests
		WHERE to_id = ? AND expires_at > ? ORDER BY id`+limitClause(fetch), int64(target), nowMS)
	if err != nil {
		return b, err
	}
	var reqIDs []int64
	for rows.Next() {
		var id, from, created, expires int64
		var r store.HandshakeRequest
		if err := rows.Scan(&id, &from, &r.Justification, &created, &expires); err != nil {
			rows.Close()
			return b, err
		}
		if limit > 0 && len(reqIDs) == limit {
			b.More = true
			break
		}
		r.FromID, r.ToID = addr.NodeID(from), target
		r.Created, r.Expires = time.UnixMilli(created).UTC(), time.UnixMilli(expires).UTC()
		b.Requests = append(b.Requests, r)
		reqIDs = append(reqIDs, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return b, err
	}
	// Requests and responses share the page: at most limit items in all
	// (§4.4). With the page full of requests, one response is still
	// fetched, to tell whether any remain.
	respLimit := limit
	if limit > 0 {
		respLimit = limit - len(reqIDs)
		fetch = respLimit + 1
	}
	rows, err = t.q.QueryContext(t.ctx, `SELECT id, from_id, accept, created_at, expires_at FROM handshake_responses
		WHERE to_id = ? AND expires_at > ? ORDER BY id`+limitClause(fetch), int64(target), nowMS)
	if err != nil {
		return b, err
	}
	var respIDs []int64
	for rows.Next() {
		var id, from, accept, created, expires int64
		if err := rows.Scan(&id, &from, &accept, &created, &expires); err != nil {
			rows.Close()
			return b, err
		}
		if limit > 0 && len(respIDs) == respLimit {
			b.More = true
			break
		}
		b.Responses = append(b.Responses, store.HandshakeResponse{FromID: addr.NodeID(from), ToID: target,
			Accept: accept != 0, Created: time.UnixMilli(created).UTC(), Expires: time.UnixMilli(expires).UTC()})
		respIDs = append(respIDs, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return b, err
	}
	for _, id := range reqIDs {
		if _, err := t.exec(`DELETE FROM handshake_requests WHERE id = ?`, id); err != nil {
			return b, err
		}
	}
	for _, id := range respIDs {
		if _, err := t.exec(`DELETE FROM handshake_responses WHERE id = ?`, id); err != nil {
			return b, err
		}
	}
	for _, q := range []string{`DELETE FROM handshake_requests WHERE to_id = ? AND expires_at <= ?`,
		`DELETE FROM handshake_responses WHERE to_id = ? AND expires_at <= ?`} {
		if _, err := t.exec(q, int64(target), nowMS); err != nil {
			return b, err
		}
	}
	return b, nil
}

func (t *tx) SweepHandshakes(now time.Time) (int, error) {
	a, err := t.exec(`DELETE FROM handshake_requests WHERE expires_at <= ?`, now.UnixMilli())
	if err != nil {
		return 0, err
	}
	b, err := t.exec(`DELETE FROM handshake_responses WHERE expires_at <= ?`, now.UnixMilli())
	return int(a + b), err
}

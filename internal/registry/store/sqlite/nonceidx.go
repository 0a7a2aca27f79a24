package sqlite

import (
	"context"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/pilot-go/pilot/internal/registry/store"
)

// Mutation nonces (registry.md §5.2 step 5, §13.2 guarantee 1). Every
// signed mutation records (verifying key, nonce) in its own transaction,
// so the nonces table takes one row per mutation. Indexed by the random
// (key, nonce) pair, each row dirtied a random index page, which the
// commit then wrote to the WAL: about a quarter of the pages a
// registration wrote. So the table (schema version 2) is kept in arrival
// order, its rowid and expires_at indexes growing at their ends only, and
// the writer looks pairs up in an in-memory index of the table, built from
// the table when the writer first needs it (after open, after a restore,
// after a COMMIT whose outcome is unknown) and changed together with it.
//
// The table stays the authority: a pair is refused as a replay only if a
// committed row says so, across restarts too. The index follows the
// transaction exactly through an undo log: a member that rolls back to its
// savepoint, or a batch that rolls back, undoes its entries. Its size is
// bounded like the table's: the sweeper (SweepNonces) drops expired pairs
// from both.

// nonceKey is a (verifying key, nonce) pair.
type nonceKey [len(store.PublicKey{}) + len(store.Nonce{})]byte

// nonceRec is the table row of a pair.
type nonceRec struct {
	expires int64 // Unix ms
	rowid   int64
}

// nonceIndex maps pairs to their rows; m is nil until loaded, and the undo
// log holds the changes of the open transaction.
type nonceIndex struct {
	undoMap[nonceKey, nonceRec]
}

func mkNonceKey(k store.PublicKey, n store.Nonce) nonceKey {
	var nk nonceKey
	copy(nk[:], k[:])
	copy(nk[len(k):], n[:])
	return nk
}

// load reads the whole table into the index.
func (x *nonceIndex) load(ctx context.Context, q txQuerier) error {
	rows, err := q.QueryContext(ctx, `SELECT rowid, verifying_key, nonce, expires_at FROM nonces`)
	if err != nil {
		return fmt.Errorf("read nonces: %w", err)
	}
	defer rows.Close()
	m := make(map[nonceKey]nonceRec)
	for rows.Next() {
		var r nonceRec
		var ks, ns string
		if err := rows.Scan(&r.rowid, &ks, &ns, &r.expires); err != nil {
			return fmt.Errorf("read nonces: %w", err)
		}
		k, err := parseKey(ks)
		if err != nil {
			return err
		}
		var n store.Nonce
		if b, err := hex.DecodeString(ns); err != nil || len(b) != len(n) {
			return fmt.Errorf("%w: stored nonce %q", store.ErrCorrupt, ns)
		} else {
			copy(n[:], b)
		}
		nk := mkNonceKey(k, n)
		if old, ok := m[nk]; !ok || old.expires < r.expires {
			m[nk] = r
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read nonces: %w", err)
	}
	x.m, x.undo = m, x.undo[:0]
	return nil
}

// RecordNonce checks the pair in the writer's index and records it with
// one statement on a table that only grows at its end: a new row, or, for
// a pair whose record expired but was not swept yet, its row updated.
func (t *tx) RecordNonce(key store.PublicKey, nonce store.Nonce, now, expires time.Time) (bool, error) {
	w, err := t.writer()
	if err != nil {
		return false, err
	}
	x := &w.nonces
	nk := mkNonceKey(key, nonce)
	old, ok := x.m[nk]
	if ok && old.expires > now.UnixMilli() {
		return true, nil
	}
	if ok {
		c, err := t.exec(`UPDATE nonces SET expires_at = ? WHERE rowid = ?`, expires.UnixMilli(), old.rowid)
		if err != nil {
			return false, err
		}
		if c == 1 {
			x.set(nk, nonceRec{expires: expires.UnixMilli(), rowid: old.rowid})
			return false, nil
		}
		// The row is gone (it cannot be, the writer deletes rows only
		// with their index entries): record the pair anew.
	}
	res, err := t.q.ExecContext(t.ctx, `INSERT INTO nonces(verifying_key, nonce, expires_at) VALUES (?, ?, ?)`,
		key.String(), hex.EncodeToString(nonce[:]), expires.UnixMilli())
	if err != nil {
		return false, err
	}
	id, err := res.LastInsertId()
	if err != nil {
		return false, err
	}
	x.set(nk, nonceRec{expires: expires.UnixMilli(), rowid: id})
	return false, nil
}

func (t *tx) SweepNonces(now time.Time) (int, error) {
	w, err := t.writer()
	if err != nil {
		return 0, err
	}
	c, err := t.exec(`DELETE FROM nonces WHERE expires_at <= ?`, now.UnixMilli())
	if err != nil {
		return int(c), err
	}
	x := &w.nonces
	for k, r := range x.m {
		if r.expires <= now.UnixMilli() {
			x.del(k)
		}
	}
	return int(c), nil
}

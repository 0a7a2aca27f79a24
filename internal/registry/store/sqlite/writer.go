package sqlite

import (
	"context"
	"database/sql"
	"fmt"
)

// Writer state. Every mutation reads and advances a few single-row values:
// the audit chain head (§9.2: seq and hash of the newest row), the next
// node and network IDs (never reused, §7.1.1, §7.4.1) and policy_epoch
// (§7.6.3). Reading them with SQL cost a statement each per mutation on the
// single writer, so the writer keeps them in memory (with the nonce index,
// nonceidx.go): read from the database by the first write transaction
// after open, then advanced by the Tx methods. They stay authoritative in
// the database: the counters that changed are written back (one UPDATE
// each) in the transaction itself, just before its COMMIT, and the audit
// head is simply the newest audit row. So nothing here survives that the
// database does not have, and a PostgreSQL store shared by replicas reads
// them under its row locks instead.
//
// The copy follows the transaction exactly: a group-commit member that
// rolls back to its savepoint restores the values it found, a batch that
// rolls back restores the committed values, and a COMMIT that fails (its
// outcome is then not known for sure) drops the copy so that the next
// transaction loads it again. Only the writer touches it: the group-commit
// leader, a non-grouped Update and Restore, all under group.mu.

// wvals are the values the writer keeps.
type wvals struct {
	auditSeq    uint64
	auditHash   string
	nextNode    int64 // counters.next_node_id
	nextNetwork int64 // counters.next_network_id
	epoch       int64 // counters.policy_epoch
}

type writerState struct {
	loaded    bool
	committed wvals // as of the last durable commit
	cur       wvals // committed plus what the open transaction did
	nonces    nonceIndex
	nodeLog   []nodeChange // node rows the open transaction changed (cachelog.go)
	keys      keyOverlay   // node_keys rows the open transaction changed (keydir.go)
	dir       *keyDir      // where committed key changes go
}

// wmark is the writer state at a savepoint.
type wmark struct {
	vals  wvals
	undo  int // length of the nonce undo log
	nodes int // length of the node change log
	keys  int // length of the key undo log
}

func (w *writerState) mark() wmark {
	return wmark{vals: w.cur, undo: len(w.nonces.undo), nodes: len(w.nodeLog), keys: len(w.keys.undo)}
}

// restore returns to m (ROLLBACK TO the savepoint).
func (w *writerState) restore(m wmark) {
	w.cur = m.vals
	w.nonces.rollbackTo(m.undo)
	clear(w.nodeLog[m.nodes:])
	w.nodeLog = w.nodeLog[:m.nodes]
	w.keys.rollbackTo(m.keys)
}

// takeNodeLog returns the node changes of the transaction and starts a new
// log (after its commit, or when it is dropped).
func (w *writerState) takeNodeLog() []nodeChange {
	l := w.nodeLog
	w.nodeLog = nil
	return l
}

// epochOf is the committed policy epoch, when the writer knows it.
func (w *writerState) epochOf() (int64, bool) { return w.committed.epoch, w.loaded }

// begin makes the values available to a transaction that has just begun
// on q, loading them when they are not known.
func (w *writerState) begin(ctx context.Context, q txQuerier) error {
	if w.loaded {
		w.cur = w.committed
		return nil
	}
	var v wvals
	var seq int64
	err := q.QueryRowContext(ctx, `SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1`).Scan(&seq, &v.auditHash)
	switch {
	case err == sql.ErrNoRows:
		v.auditHash = ""
	case err != nil:
		return fmt.Errorf("read audit head: %w", err)
	default:
		v.auditSeq = uint64(seq)
	}
	for _, c := range []struct {
		name string
		dst  *int64
	}{{"next_node_id", &v.nextNode}, {"next_network_id", &v.nextNetwork}, {"policy_epoch", &v.epoch}} {
		if err := q.QueryRowContext(ctx, `SELECT value FROM counters WHERE name = ?`, c.name).Scan(c.dst); err != nil {
			return fmt.Errorf("read counter %s: %w", c.name, err)
		}
	}
	if err := w.nonces.load(ctx, q); err != nil {
		return err
	}
	if !w.dir.loaded() {
		if err := w.dir.load(ctx, q); err != nil {
			return err
		}
	}
	w.committed, w.cur, w.loaded = v, v, true
	return nil
}

// flush writes the counters the transaction changed; it runs just before
// COMMIT, inside the transaction.
func (w *writerState) flush(ctx context.Context, q txQuerier) error {
	for _, c := range []struct {
		name     string
		old, new int64
	}{
		{"next_node_id", w.committed.nextNode, w.cur.nextNode},
		{"next_network_id", w.committed.nextNetwork, w.cur.nextNetwork},
		{"policy_epoch", w.committed.epoch, w.cur.epoch},
	} {
		if c.old == c.new {
			continue
		}
		if _, err := q.ExecContext(ctx, `UPDATE counters SET value = ? WHERE name = ?`, c.new, c.name); err != nil {
			return fmt.Errorf("write counter %s: %w", c.name, err)
		}
	}
	return nil
}

// committedOK records a durable commit.
func (w *writerState) committedOK() {
	w.committed = w.cur
	w.nonces.undo = w.nonces.undo[:0]
	w.dir.apply(w.keys.take())
}

// rolledBack records a rollback of the whole transaction.
func (w *writerState) rolledBack() {
	w.nodeLog = nil
	w.keys.take()
	if !w.loaded {
		return
	}
	w.cur = w.committed
	w.nonces.rollbackTo(0)
}

// invalidate drops the values (a COMMIT with an unknown outcome, a
// restored file): the next transaction loads them again.
func (w *writerState) invalidate() {
	w.nodeLog = nil
	w.keys.take()
	w.dir.drop()
	w.loaded, w.cur, w.committed = false, wvals{}, wvals{}
	w.nonces = nonceIndex{}
}

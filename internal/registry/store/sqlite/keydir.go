package sqlite

import (
	"context"
	"fmt"
	"sync"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/registry/store"
)

// Key directory. node_keys binds every public key ever registered to its
// node (§6.3.6: live, tombstone or retired, never reused). Stored in the
// order of the random keys (schema version 2), each registration inserted
// into a random leaf of that b-tree: a commit of 27 registrations wrote
// about 42 pages to the WAL, 37 of them for node_keys alone, and the
// inserts read leaves back from the WAL once the tree outgrew the page
// cache. So the table (schema version 3) is kept in insertion order, with
// only its node_id index (which grows at its end), and keys are looked up
// in an in-memory directory of the whole table, shared by the writer and
// the readers, built when the store opens and changed by every commit that
// changes the table.
//
// The table stays the authority, as for nonces (nonceidx.go): the
// directory holds exactly the committed rows. The writer sees its open
// transaction's own changes through an overlay with an undo log (a member
// that rolls back to its savepoint undoes its entries, a batch that rolls
// back drops the overlay) and publishes the overlay after a successful
// COMMIT. After a COMMIT whose outcome is unknown the directory is dropped
// and read again by the next write transaction; until then, and in a store
// opened read-only, lookups fall back to SQL (a scan of the table).
//
// Readers see the directory as of the latest commit, which may be newer
// than the snapshot of their View: a key binding read in a View is the
// binding at the time of the read. No handler combines it with other reads
// of the same View in a way that newer values could mislead.

// keyRec is the node_keys row of a key.
type keyRec struct {
	node  addr.NodeID
	state store.KeyState
	since int64 // Unix ms
}

// keyDir is the committed content of node_keys.
type keyDir struct {
	mu sync.RWMutex
	m  map[store.PublicKey]keyRec // nil: not loaded
}

// get looks k up; known is false when the directory is not loaded.
func (d *keyDir) get(k store.PublicKey) (r keyRec, ok, known bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.m == nil {
		return r, false, false
	}
	r, ok = d.m[k]
	return r, ok, true
}

func (d *keyDir) loaded() bool {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.m != nil
}

// drop forgets the content (a COMMIT with an unknown outcome, a restore).
func (d *keyDir) drop() {
	d.mu.Lock()
	d.m = nil
	d.mu.Unlock()
}

// load reads the whole table. A key stored twice is corruption: the
// directory (and no constraint of the table any more) keeps keys unique.
func (d *keyDir) load(ctx context.Context, q txQuerier) error {
	rows, err := q.QueryContext(ctx, `SELECT public_key, node_id, state, since FROM node_keys`)
	if err != nil {
		return fmt.Errorf("read node_keys: %w", err)
	}
	defer rows.Close()
	m := make(map[store.PublicKey]keyRec)
	for rows.Next() {
		var ks, state string
		var node int64
		var r keyRec
		if err := rows.Scan(&ks, &node, &state, &r.since); err != nil {
			return fmt.Errorf("read node_keys: %w", err)
		}
		k, err := parseKey(ks)
		if err != nil {
			return err
		}
		if r.state, err = parseKeyState(state); err != nil {
			return err
		}
		r.node = addr.NodeID(node)
		if _, dup := m[k]; dup {
			return fmt.Errorf("%w: public key %s is bound twice in node_keys", store.ErrCorrupt, ks)
		}
		m[k] = r
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read node_keys: %w", err)
	}
	d.mu.Lock()
	d.m = m
	d.mu.Unlock()
	return nil
}

// apply publishes a committed transaction's changes.
func (d *keyDir) apply(changes map[store.PublicKey]keyChange) {
	if len(changes) == 0 {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.m == nil {
		return
	}
	for k, c := range changes {
		if c.gone {
			delete(d.m, k)
		} else {
			d.m[k] = c.rec
		}
	}
}

func parseKeyState(s string) (store.KeyState, error) {
	switch s {
	case "live":
		return store.KeyLive, nil
	case "tombstone":
		return store.KeyTombstone, nil
	case "retired":
		return store.KeyRetired, nil
	}
	return 0, fmt.Errorf("%w: key state %q", store.ErrCorrupt, s)
}

// keyChange is what the open transaction did to a key's row.
type keyChange struct {
	rec  keyRec
	gone bool // the row was deleted
}

// keyOverlay is the writer's record of the open transaction's changes.
type keyOverlay struct {
	undoMap[store.PublicKey, keyChange]
}

// take returns the changes and starts an empty overlay.
func (o *keyOverlay) take() map[store.PublicKey]keyChange {
	m := o.m
	o.m = nil
	clear(o.undo)
	o.undo = o.undo[:0]
	return m
}

// lookupKey finds k's row as this transaction sees it. known is false when
// only SQL can tell (the directory is not loaded).
func (t *tx) lookupKey(k store.PublicKey) (r keyRec, ok, known bool) {
	if t.w != nil {
		if c, in := t.w.keys.m[k]; in {
			return c.rec, !c.gone, true
		}
	}
	if t.dir == nil {
		return r, false, false
	}
	return t.dir.get(k)
}

// keyChanged records a row change of the open write transaction.
func (t *tx) keyChanged(k store.PublicKey, node addr.NodeID, state store.KeyState, since int64) {
	if t.w != nil {
		t.w.keys.set(k, keyChange{rec: keyRec{node: node, state: state, since: since}})
	}
}

// keyDeleted records a row deletion of the open write transaction.
func (t *tx) keyDeleted(k store.PublicKey) {
	if t.w != nil {
		t.w.keys.set(k, keyChange{gone: true})
	}
}

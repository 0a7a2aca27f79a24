package sqlite

import (
	"database/sql"
	"fmt"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/registry/store"
)

// Node changes for the read cache. A commit used to empty the whole cache,
// so a registry under load served nearly every signer lookup from SQL:
// the last_seen flush alone commits every few seconds. Instead the writer
// logs what each transaction did to node rows, and the commit applies the
// log: a new row is cached as stored (write-through: a node's first
// heartbeat after registering finds it), raised last_seen values are
// applied to cached rows (what the flush does), and every other change
// drops the row, to be read again. The log follows the transaction like
// the writer's other values (writer.go): a member that rolls back to its
// savepoint truncates it, a rolled-back batch discards it, and a commit
// whose outcome is unknown empties the cache.

type nodeChangeKind uint8

const (
	changeDrop nodeChangeKind = iota // the row changed: forget it
	changePut                        // the row as stored (a new node)
	changeSeen                       // last_seen raised to at, if lower
)

type nodeChange struct {
	kind nodeChangeKind
	id   addr.NodeID
	node store.Node // changePut
	at   int64      // changeSeen: Unix ms
}

// logNode records a change of the open write transaction (no-op in a read
// transaction, which cannot write).
func (t *tx) logNode(c nodeChange) {
	if t.w != nil {
		t.w.nodeLog = append(t.w.nodeLog, c)
	}
}

func (t *tx) nodeDropped(id addr.NodeID) { t.logNode(nodeChange{kind: changeDrop, id: id}) }

// nodeStored caches n as a read of its row would return it.
func (t *tx) nodeStored(n store.Node) {
	s, err := asStored(n)
	if err != nil {
		t.nodeDropped(n.ID)
		return
	}
	t.logNode(nodeChange{kind: changePut, id: n.ID, node: s})
}

// asStored is n after a write and a read of its row: the column values
// insertNode writes, scanned back by scanNode (times to the millisecond in
// UTC, lists through their JSON form), so a cached row equals a read one.
func asStored(n store.Node) (store.Node, error) {
	cols := []any{int64(n.ID), n.PublicKey.String(), n.RealAddr, jsonList(n.LANAddrs), ms(n.LastSeen), n.Version,
		jsonList(n.Capabilities), n.Owner, hostCol(n.Hostname), boolInt(n.Public), jsonList(n.Tags),
		boolInt(n.TaskExec), n.PoloScore, n.KeyCreatedAt.UnixMilli(), ms(n.KeyRotatedAt), int64(n.RotateCount),
		ms(n.KeyExpiresAt)}
	return scanNode(rowValues(cols))
}

// rowValues scans column values the way database/sql does for the types
// scanNode asks for.
type rowValues []any

func (r rowValues) Scan(dest ...any) error {
	if len(dest) != len(r) {
		return fmt.Errorf("rowValues: %d columns, %d destinations", len(r), len(dest))
	}
	for i, d := range dest {
		v := r[i]
		switch p := d.(type) {
		case *int64:
			x, ok := v.(int64)
			if !ok {
				return fmt.Errorf("rowValues: column %d: %T into int64", i, v)
			}
			*p = x
		case *string:
			x, ok := v.(string)
			if !ok {
				return fmt.Errorf("rowValues: column %d: %T into string", i, v)
			}
			*p = x
		case *sql.NullString:
			x, ok := v.(string)
			*p = sql.NullString{String: x, Valid: ok}
		case *sql.NullInt64:
			x, ok := v.(int64)
			*p = sql.NullInt64{Int64: x, Valid: ok}
		default:
			return fmt.Errorf("rowValues: column %d: unsupported destination %T", i, d)
		}
	}
	return nil
}

// applyNodeLog applies a committed transaction's node changes; the caller
// holds c.mu with the commit's generation odd.
func (c *readCache) applyNodeLogLocked(log []nodeChange) {
	for _, ch := range log {
		switch ch.kind {
		case changeDrop:
			delete(c.nodes, ch.id)
		case changePut:
			c.putLocked(ch.node)
		case changeSeen: // as TouchNodes: only when COALESCE(last_seen, 0) < at
			n, ok := c.nodes[ch.id]
			cur := int64(0)
			if ok && !n.LastSeen.IsZero() {
				cur = n.LastSeen.UnixMilli()
			}
			if ok && cur < ch.at {
				n.LastSeen = time.UnixMilli(ch.at).UTC()
				c.nodes[ch.id] = n
			}
		}
	}
}

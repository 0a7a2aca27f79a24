package sqlite

import (
	"context"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/pilot-go/pilot/internal/identity"
	"github.com/pilot-go/pilot/internal/registry/store"
	"github.com/pilot-go/pilot/internal/registry/store/storetest"
)

// registerMany runs the store work of n registrations of new nodes (as
// registerLike) in one transaction, like a group-commit batch.
func registerMany(t *testing.T, d *DB, from, n int) {
	t.Helper()
	err := d.Update(context.Background(), func(tx store.Tx) error {
		now := time.Now()
		for i := from; i < from+n; i++ {
			k := storetest.Key(fmt.Sprint("p", i))
			var nc store.Nonce
			binary.BigEndian.PutUint64(nc[:], uint64(i))
			if _, err := tx.RecordNonce(k, nc, now, now.Add(2*time.Minute)); err != nil {
				return err
			}
			nd, err := tx.CreateNode(storetest.NewNode(fmt.Sprint("p", i), now))
			if err != nil {
				return err
			}
			if _, err := tx.AppendAudit(now, "node.registered", nd.ID, "self",
				[]identity.AuditAttr{{Key: "node_id", Value: int64(nd.ID)}, {Key: "mode", Value: "new_node"}}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestRegistration_DirtiesFewPages pins the schema choices of version 2:
// every page a commit dirties is a WAL frame written (two pwrites) and
// fsynced, and a registration used to dirty three pages at random places
// (the key indexes of nodes, node_keys and nonces) where it now dirties
// one (node_keys). 64 registrations in one commit on a store of 4,000
// nodes write about 90 frames; schema version 1 wrote about 220.
func TestRegistration_DirtiesFewPages(t *testing.T) {
	d := openT(t, t.TempDir(), Options{})
	defer d.Close()
	const batch = 64
	for i := 0; i < 4000; i += 200 {
		registerMany(t, d, i, 200)
	}
	var busy, frames, done int
	if err := d.w.QueryRow(`PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &frames, &done); err != nil || busy != 0 {
		t.Fatalf("checkpoint: busy %d, %v", busy, err)
	}
	registerMany(t, d, 4000, batch)
	if err := d.w.QueryRow(`PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames, &done); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d registrations in one commit: %d WAL frames", batch, frames)
	if frames > batch*3/2 {
		t.Errorf("%d registrations wrote %d WAL frames, want at most %d", batch, frames, batch*3/2)
	}
}

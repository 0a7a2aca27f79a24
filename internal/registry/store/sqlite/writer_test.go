package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/identity"
	"github.com/pilot-go/pilot/internal/registry/store"
	"github.com/pilot-go/pilot/internal/registry/store/storetest"
)

// TestWriterState_FailedMembersUndoTheirValues: members that fail after
// taking a node ID, an audit seq, a policy epoch and a nonce give them
// back: the members that commit get consecutive IDs and seqs, and the
// failed members' nonces are not replays afterwards.
func TestWriterState_FailedMembersUndoTheirValues(t *testing.T) {
	d := openT(t, t.TempDir(), Options{})
	defer d.Close()
	boom := errors.New("member failed")
	var wg sync.WaitGroup
	const n = 24
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			errs[i] = d.Update(context.Background(), func(tx store.Tx) error {
				if seen, err := tx.RecordNonce(storetest.Key("signer"), store.Nonce{byte(i)}, storetest.T0, storetest.T0.Add(time.Minute)); err != nil || seen {
					return fmt.Errorf("nonce %d: %v %v", i, seen, err)
				}
				nd, err := tx.CreateNode(storetest.NewNode(fmt.Sprint("w", i), storetest.T0))
				if err != nil {
					return err
				}
				if _, err := tx.AppendAudit(storetest.T0, "node.registered", nd.ID, "self",
					[]identity.AuditAttr{{Key: "node_id", Value: int64(nd.ID)}}); err != nil {
					return err
				}
				if _, err := tx.BumpPolicyEpoch(); err != nil {
					return err
				}
				if i%3 == 0 {
					return boom
				}
				return nil
			})
		})
	}
	wg.Wait()
	ok := 0
	for i, err := range errs {
		if i%3 == 0 != errors.Is(err, boom) || (i%3 != 0 && err != nil) {
			t.Errorf("member %d: %v", i, err)
		}
		if err == nil {
			ok++
		}
	}
	if entries, _, err := d.VerifyAudit(context.Background()); err != nil || entries != ok {
		t.Errorf("audit chain: %d entries, %v; want %d", entries, err, ok)
	}
	d.View(context.Background(), func(tx store.ReadTx) error {
		nodes, err := tx.ListNodes(0, 0)
		if err != nil || len(nodes) != ok {
			t.Fatalf("ListNodes = %d nodes, %v; want %d", len(nodes), err, ok)
		}
		for i, nd := range nodes {
			if want := store.FirstNodeID + addr.NodeID(i); nd.ID != want {
				t.Errorf("node %d has ID %d, want %d (IDs of failed members reused)", i, nd.ID, want)
			}
		}
		if e, _ := tx.PolicyEpoch(); e != uint64(ok) {
			t.Errorf("policy epoch %d, want %d", e, ok)
		}
		return nil
	})
	if err := d.Update(context.Background(), func(tx store.Tx) error {
		for i := range n {
			seen, err := tx.RecordNonce(storetest.Key("signer"), store.Nonce{byte(i)}, storetest.T0, storetest.T0.Add(time.Minute))
			if err != nil {
				return err
			}
			if seen != (i%3 != 0) {
				t.Errorf("nonce of member %d: seen = %v", i, seen)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// TestWriterState_Reload: values dropped after a COMMIT of unknown outcome
// are read back from the database, with the same result.
func TestWriterState_Reload(t *testing.T) {
	for _, opts := range []Options{{}, {DisableGroupCommit: true}} {
		d := openT(t, t.TempDir(), opts)
		storetest.Populate(t, d)
		var before wvals
		d.Update(context.Background(), func(store.Tx) error { before = d.wr.cur; return nil })
		d.group.mu.Lock()
		d.wr.invalidate()
		d.group.mu.Unlock()
		d.Update(context.Background(), func(store.Tx) error {
			if d.wr.cur != before {
				t.Errorf("reloaded %+v, had %+v", d.wr.cur, before)
			}
			return nil
		})
		d.Close()
	}
}

// TestMigration2_KeepsData opens a store written with schema version 1:
// the migration keeps every row, the foreign keys and the replay record.
func TestMigration2_KeepsData(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "registry.db")
	db, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	ctx := context.Background()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := applyMigration(ctx, tx, migrations[0], 0); err != nil {
		t.Fatal(err)
	}
	key := storetest.Key("old")
	exp := time.Now().Add(time.Hour).UnixMilli()
	for _, s := range []string{
		fmt.Sprintf(`INSERT INTO nodes(id, public_key, hostname, key_created_at) VALUES (4, '%s', 'old-host', 1)`, key),
		fmt.Sprintf(`INSERT INTO node_keys(public_key, node_id, state, since) VALUES ('%s', 4, 'live', 1)`, key),
		`INSERT INTO networks(id, name, join_rule, created_at) VALUES (1, 'net', 'open', 1)`,
		`INSERT INTO memberships(network_id, node_id, role, joined_at) VALUES (1, 4, 'owner', 1)`,
		fmt.Sprintf(`INSERT INTO nonces(verifying_key, nonce, expires_at) VALUES ('%s', '%032x', %d)`, key, 7, exp),
		`UPDATE counters SET value = 5 WHERE name = 'next_node_id'`,
	} {
		if _, err := tx.ExecContext(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	db.Close()

	d := openT(t, dir, Options{Integrity: IntegrityFull})
	defer d.Close()
	if info, err := d.Schema(ctx); err != nil || info.Current != SupportedSchema() {
		t.Fatalf("Schema = %+v, %v", info, err)
	}
	var keyIndexes int
	d.r.QueryRow(`SELECT count(*) FROM pragma_index_list('nodes') i, pragma_index_info(i.name) c WHERE c.name = 'public_key'`).Scan(&keyIndexes)
	if keyIndexes != 0 {
		t.Errorf("nodes still has %d index(es) on public_key", keyIndexes)
	}
	d.View(ctx, func(tx store.ReadTx) error {
		n, err := tx.NodeByKey(key)
		if err != nil || n.ID != 4 || n.Hostname != "old-host" {
			t.Errorf("NodeByKey = %+v, %v", n, err)
		}
		if r, err := tx.Role(1, 4); err != nil || r != store.RoleOwner {
			t.Errorf("Role = %v, %v", r, err)
		}
		return nil
	})
	err = d.Update(ctx, func(tx store.Tx) error {
		if seen, err := tx.RecordNonce(key, store.Nonce{15: 7}, time.Now(), time.Now().Add(time.Minute)); err != nil || !seen {
			t.Errorf("nonce recorded under schema 1: seen %v, %v", seen, err)
		}
		n, err := tx.CreateNode(storetest.NewNode("new", storetest.T0))
		if err != nil || n.ID != 5 {
			t.Errorf("CreateNode = %d, %v; want node 5", n.ID, err)
		}
		if _, err := tx.CreateNode(storetest.NewNode("old", storetest.T0)); !errors.Is(err, store.ErrKeyBound) {
			t.Errorf("CreateNode with the bound key = %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Foreign keys are enforced again, against the rebuilt nodes table.
	_, err = d.w.Exec(`INSERT INTO memberships(network_id, node_id, role, joined_at) VALUES (1, 99, 'member', 1)`)
	if err == nil || !strings.Contains(err.Error(), "FOREIGN KEY") {
		t.Errorf("membership of a missing node: %v", err)
	}
}

// TestRestore_Schema1Backup: a backup written under schema version 1 (the
// same tables and row fields) is restored through migration 2, foreign
// keys and replay records included.
func TestRestore_Schema1Backup(t *testing.T) {
	src := openT(t, t.TempDir(), Options{})
	defer src.Close()
	storetest.Populate(t, src)
	k, nonce := storetest.Key("replayed"), store.Nonce{3}
	now := time.Now()
	if err := src.Update(context.Background(), func(tx store.Tx) error {
		_, err := tx.RecordNonce(k, nonce, now, now.Add(time.Hour))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	lines := storetest.BackupLines(t, src)
	hdr := fmt.Sprintf(`"schema_version":%d,`, SupportedSchema())
	if !strings.Contains(lines[0], hdr) {
		t.Fatalf("header %s", lines[0])
	}
	lines[0] = strings.Replace(lines[0], hdr, `"schema_version":1,`, 1)
	file := storetest.Reseal(lines)

	dst := openT(t, t.TempDir(), Options{})
	defer dst.Close()
	sum, err := dst.Restore(context.Background(), file, store.RestoreOptions{})
	if err != nil || sum.SchemaVersion != 1 {
		t.Fatalf("Restore = %+v, %v", sum, err)
	}
	if got, want := storetest.BackupRows(t, dst), storetest.BackupRows(t, src); got != want {
		t.Fatal("restored contents differ")
	}
	if info, err := dst.Schema(context.Background()); err != nil || info.Current != SupportedSchema() {
		t.Fatalf("Schema = %+v, %v", info, err)
	}
	if err := dst.Update(context.Background(), func(tx store.Tx) error {
		if seen, err := tx.RecordNonce(k, nonce, now, now.Add(time.Hour)); err != nil || !seen {
			t.Errorf("restored nonce: seen %v, %v", seen, err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

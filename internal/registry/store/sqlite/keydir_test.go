package sqlite

import (
	"context"
	"errors"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/registry/store"
	"github.com/pilot-go/pilot/internal/registry/store/storetest"
)

// dirMatchesTable checks that the key directory holds exactly the rows of
// node_keys.
func dirMatchesTable(t *testing.T, d *DB) {
	t.Helper()
	var fromTable keyDir
	if err := fromTable.load(context.Background(), plainTx{d.r}); err != nil {
		t.Fatal(err)
	}
	d.keys.mu.RLock()
	defer d.keys.mu.RUnlock()
	if d.keys.m == nil {
		t.Fatal("key directory not loaded")
	}
	if !maps.Equal(d.keys.m, fromTable.m) {
		t.Fatalf("key directory differs from node_keys:\n dir   %v\n table %v", d.keys.m, fromTable.m)
	}
}

func bindingOf(t *testing.T, d *DB, k store.PublicKey) (store.KeyBinding, error) {
	t.Helper()
	var b store.KeyBinding
	err := d.View(context.Background(), func(tx store.ReadTx) error {
		var err error
		b, err = tx.KeyBinding(k)
		return err
	})
	return b, err
}

// TestKeyDir_FollowsEveryKeyChange drives every operation that changes
// node_keys (register, rotate, deregister, register again, re-key a
// deregistered node, move a key from one tombstone to a live node) and
// checks after each that the directory equals the table, and that reads
// answer from it what the table says.
func TestKeyDir_FollowsEveryKeyChange(t *testing.T) {
	d := openT(t, t.TempDir(), Options{})
	defer d.Close()
	ctx := context.Background()
	now := storetest.T0
	var a, b addr.NodeID
	steps := []struct {
		name string
		fn   func(tx store.Tx) error
	}{
		{"create a and b", func(tx store.Tx) error {
			na, err := tx.CreateNode(storetest.NewNode("a", now))
			if err != nil {
				return err
			}
			nb, err := tx.CreateNode(storetest.NewNode("b", now))
			a, b = na.ID, nb.ID
			return err
		}},
		{"rotate a to a2", func(tx store.Tx) error {
			_, err := tx.RotateKey(a, storetest.Key("a2"), now.Add(time.Minute), time.Time{})
			return err
		}},
		{"deregister a", func(tx store.Tx) error {
			_, err := tx.TombstoneNode(a, now.Add(2*time.Minute), "deregistered")
			return err
		}},
		{"re-key tombstone a to a3", func(tx store.Tx) error {
			_, _, err := tx.ReassignKey(a, storetest.Key("a3"), now.Add(3*time.Minute))
			return err
		}},
		{"move a3 from tombstone a to b", func(tx store.Tx) error {
			_, _, err := tx.ReassignKey(b, storetest.Key("a3"), now.Add(4*time.Minute))
			return err
		}},
		{"deregister b, reclaim it", func(tx store.Tx) error {
			if _, err := tx.TombstoneNode(b, now.Add(5*time.Minute), "deregistered"); err != nil {
				return err
			}
			n, err := tx.Node(b)
			if !errors.Is(err, store.ErrNotFound) {
				return errors.New("node b still readable after its tombstone")
			}
			n = storetest.NewNode("unused", now.Add(6*time.Minute))
			n.ID, n.PublicKey = b, storetest.Key("a3")
			return tx.ReclaimNode(n)
		}},
	}
	for _, s := range steps {
		if err := d.Update(ctx, s.fn); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		dirMatchesTable(t, d)
	}
	want := map[string]store.KeyBinding{
		"a":  {NodeID: a, State: store.KeyRetired},
		"a2": {NodeID: a, State: store.KeyRetired},
		"b":  {NodeID: b, State: store.KeyRetired},
		"a3": {NodeID: b, State: store.KeyLive},
	}
	for label, w := range want {
		got, err := bindingOf(t, d, storetest.Key(label))
		if err != nil || got.NodeID != w.NodeID || got.State != w.State {
			t.Errorf("binding of %s = %+v, %v; want node %d, %v", label, got, err, w.NodeID, w.State)
		}
	}
	// The same answers after a reopen, from a directory loaded from disk.
	dir := d.opts.DataDir
	d.Close()
	d = openT(t, dir, Options{})
	defer d.Close()
	dirMatchesTable(t, d)
	if err := d.View(ctx, func(tx store.ReadTx) error {
		n, err := tx.NodeByKey(storetest.Key("a3"))
		if err != nil || n.ID != b {
			t.Errorf("NodeByKey(a3) = %d, %v; want node %d", n.ID, err, b)
		}
		if _, err := tx.NodeByKey(storetest.Key("a")); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("NodeByKey of a retired key = %v", err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// TestKeyDir_RolledBackChangesVanish: a mutation that fails after binding a
// key undoes the binding in the directory too (its savepoint under group
// commit, the whole transaction without), and the transaction saw its own
// binding while it ran.
func TestKeyDir_RolledBackChangesVanish(t *testing.T) {
	for _, opts := range []Options{{}, {DisableGroupCommit: true}} {
		d := openT(t, t.TempDir(), opts)
		boom := errors.New("fails after binding")
		err := d.Update(context.Background(), func(tx store.Tx) error {
			n, err := tx.CreateNode(storetest.NewNode("x", storetest.T0))
			if err != nil {
				return err
			}
			if b, err := tx.KeyBinding(storetest.Key("x")); err != nil || b.NodeID != n.ID || b.State != store.KeyLive {
				t.Errorf("own binding inside the transaction = %+v, %v", b, err)
			}
			if _, err := tx.CreateNode(storetest.NewNode("x", storetest.T0)); !errors.Is(err, store.ErrKeyBound) {
				t.Errorf("second CreateNode with the same key = %v", err)
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("Update = %v", err)
		}
		if _, err := bindingOf(t, d, storetest.Key("x")); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("group commit %v: binding of a rolled-back key = %v", !opts.DisableGroupCommit, err)
		}
		dirMatchesTable(t, d)
		// The key is free for a later mutation.
		if err := d.Update(context.Background(), func(tx store.Tx) error {
			_, err := tx.CreateNode(storetest.NewNode("x", storetest.T0))
			return err
		}); err != nil {
			t.Fatal(err)
		}
		dirMatchesTable(t, d)
		d.Close()
	}
}

// TestKeyDir_DroppedDirectoryFallsBackToSQL: after a COMMIT whose outcome
// is unknown the directory is dropped; reads still answer (from the
// table) and the next write transaction loads it again.
func TestKeyDir_DroppedDirectoryFallsBackToSQL(t *testing.T) {
	d := openT(t, t.TempDir(), Options{})
	defer d.Close()
	ctx := context.Background()
	if err := d.Update(ctx, func(tx store.Tx) error {
		_, err := tx.CreateNode(storetest.NewNode("k", storetest.T0))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	d.group.mu.Lock()
	d.wr.invalidate()
	d.group.mu.Unlock()
	if d.keys.loaded() {
		t.Fatal("directory still loaded after invalidate")
	}
	if b, err := bindingOf(t, d, storetest.Key("k")); err != nil || b.State != store.KeyLive {
		t.Fatalf("binding from SQL = %+v, %v", b, err)
	}
	if _, err := bindingOf(t, d, storetest.Key("nobody")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown key from SQL = %v", err)
	}
	if err := d.Update(ctx, func(tx store.Tx) error {
		_, err := tx.CreateNode(storetest.NewNode("k", storetest.T0))
		if !errors.Is(err, store.ErrKeyBound) {
			t.Errorf("CreateNode with a bound key after a reload = %v", err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	dirMatchesTable(t, d)
}

// TestKeyDir_DuplicateKeyIsCorruption: node_keys has no unique constraint
// on public_key any more, so a key bound twice (written by hand, or by a
// broken tool) stops the store at open like a failed integrity check.
func TestKeyDir_DuplicateKeyIsCorruption(t *testing.T) {
	dir := t.TempDir()
	d := openT(t, dir, Options{})
	if err := d.Update(context.Background(), func(tx store.Tx) error {
		_, err := tx.CreateNode(storetest.NewNode("dup", storetest.T0))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.w.Exec(`INSERT INTO node_keys(public_key, node_id, state, since) SELECT public_key, 99, 'retired', since FROM node_keys`); err != nil {
		t.Fatal(err)
	}
	d.Close()
	_, err := Open(context.Background(), Options{DataDir: dir})
	if !errors.Is(err, store.ErrCorrupt) || !strings.Contains(err.Error(), "bound twice") || !strings.Contains(err.Error(), restoreHint) {
		t.Fatalf("Open of a store binding a key twice = %v", err)
	}
}

// TestKeyDir_NoRandomKeyIndex: since schema version 3 no index of
// node_keys is ordered by public_key, and lookups of a node's key rows use
// the node_id index.
func TestKeyDir_NoRandomKeyIndex(t *testing.T) {
	d := openT(t, t.TempDir(), Options{})
	defer d.Close()
	var n int
	if err := d.r.QueryRow(`SELECT count(*) FROM pragma_index_list('node_keys') i, pragma_index_info(i.name) c
		WHERE c.name = 'public_key'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("node_keys has %d index(es) on public_key", n)
	}
	for _, q := range []string{
		`UPDATE node_keys SET state = 'live', since = 1 WHERE node_id = 1 AND state <> 'retired' AND public_key = 'x'`,
		`SELECT public_key FROM node_keys WHERE node_id = 1 AND state <> 'retired'`,
		`DELETE FROM node_keys WHERE node_id = 1 AND state <> 'retired' AND public_key = 'x'`,
		`SELECT t.since, t.reason, k.public_key FROM tombstones t
			LEFT JOIN node_keys k ON k.node_id = t.id AND k.state <> 'retired' AND k.state = 'tombstone' WHERE t.id = 1`,
	} {
		rows, err := d.w.Query(`EXPLAIN QUERY PLAN ` + q)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, notused int
			var detail string
			if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		all := strings.Join(plan, "; ")
		if strings.Contains(all, "SCAN k") || strings.Contains(all, "SCAN node_keys") {
			t.Errorf("%s\n  scans node_keys: %s", q, all)
		}
	}
}

// TestKeyDir_RestoreRefusesDuplicateKey: a backup whose node_keys binds a
// key twice is refused as corrupt and the target keeps its contents.
func TestKeyDir_RestoreRefusesDuplicateKey(t *testing.T) {
	ctx := context.Background()
	src := openT(t, t.TempDir(), Options{})
	defer src.Close()
	storetest.Populate(t, src)
	lines := storetest.BackupLines(t, src)
	dup := -1
	for i, l := range lines {
		if strings.Contains(l, `"table":"node_keys"`) && strings.Contains(l, `"state":"live"`) {
			dup = i
			break
		}
	}
	if dup < 0 {
		t.Fatal("no live node_keys row in the backup")
	}
	retired := strings.Replace(lines[dup], `"state":"live"`, `"state":"retired"`, 1)
	lines = append(lines[:dup+1], append([]string{retired}, lines[dup+1:]...)...)
	file := storetest.Reseal(lines)

	dst := openT(t, t.TempDir(), Options{})
	defer dst.Close()
	if err := dst.Update(ctx, func(tx store.Tx) error {
		_, err := tx.CreateNode(storetest.NewNode("kept", storetest.T0))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	before := storetest.BackupRows(t, dst)
	_, err := dst.Restore(ctx, file, store.RestoreOptions{Force: true})
	if !errors.Is(err, store.ErrCorrupt) || !strings.Contains(err.Error(), "twice") {
		t.Fatalf("Restore of a backup binding a key twice = %v", err)
	}
	if storetest.BackupRows(t, dst) != before {
		t.Fatal("a refused restore changed the target")
	}
	dirMatchesTable(t, dst)
}

// TestKeyDir_RowMissingUnderDirectory: should node_keys lose a row the
// directory still has (a hand edit of the file), the mutations that change
// that row fail with not found and change nothing, instead of updating no
// row and reporting success.
func TestKeyDir_RowMissingUnderDirectory(t *testing.T) {
	d := openT(t, t.TempDir(), Options{})
	defer d.Close()
	ctx := context.Background()
	var id addr.NodeID
	if err := d.Update(ctx, func(tx store.Tx) error {
		n, err := tx.CreateNode(storetest.NewNode("gone", storetest.T0))
		id = n.ID
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.w.Exec(`DELETE FROM node_keys WHERE node_id = ?`, int64(id)); err != nil {
		t.Fatal(err)
	}
	err := d.Update(ctx, func(tx store.Tx) error {
		_, err := tx.TombstoneNode(id, storetest.T0.Add(time.Minute), "deregistered")
		return err
	})
	if !errors.Is(err, store.ErrNotFound) || !strings.Contains(err.Error(), "key binding of node") {
		t.Fatalf("TombstoneNode over a missing key row = %v", err)
	}
	if err := d.View(ctx, func(tx store.ReadTx) error {
		_, err := tx.Node(id)
		return err
	}); err != nil {
		t.Fatalf("the failed TombstoneNode changed the node: %v", err)
	}
}

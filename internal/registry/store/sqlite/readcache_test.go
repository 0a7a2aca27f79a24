package sqlite

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/registry/store"
)

func cacheNode(t *testing.T, d *DB) addr.NodeID {
	t.Helper()
	var id addr.NodeID
	err := d.Update(context.Background(), func(tx store.Tx) error {
		n, err := tx.CreateNode(store.Node{PublicKey: store.PublicKey{1, 2, 3}, Hostname: "before",
			KeyCreatedAt: time.UnixMilli(1000).UTC()})
		id = n.ID
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func viewNode(t *testing.T, d *DB, id addr.NodeID) store.Node {
	t.Helper()
	var n store.Node
	if err := d.View(context.Background(), func(tx store.ReadTx) error {
		var err error
		n, err = tx.Node(id)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

func setHostname(t *testing.T, d *DB, id addr.NodeID, h string) {
	t.Helper()
	if err := d.Update(context.Background(), func(tx store.Tx) error {
		n, err := tx.Node(id)
		if err != nil {
			return err
		}
		n.Hostname = h
		return tx.UpdateNode(n)
	}); err != nil {
		t.Fatal(err)
	}
}

// Every commit drops the cached records: a read after an acknowledged
// mutation sees it.
func TestReadCache_InvalidatedByCommit(t *testing.T) {
	d := openT(t, t.TempDir(), Options{})
	id := cacheNode(t, d)
	viewNode(t, d, id) // fills the cache
	if _, ok := d.cache.node(id, d.cache.gen.Load()); !ok {
		t.Fatal("a read did not fill the cache")
	}
	setHostname(t, d, id, "after")
	if n := viewNode(t, d, id); n.Hostname != "after" {
		t.Fatalf("read after commit: hostname %q, want \"after\"", n.Hostname)
	}
	// A failed Update changes nothing, cached or stored.
	boom := errors.New("boom")
	if err := d.Update(context.Background(), func(tx store.Tx) error {
		n, _ := tx.Node(id)
		n.Hostname = "rolled-back"
		if err := tx.UpdateNode(n); err != nil {
			return err
		}
		return boom
	}); !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if n := viewNode(t, d, id); n.Hostname != "after" {
		t.Fatalf("hostname %q after a rolled-back update", n.Hostname)
	}
	// Callers may modify what they get without touching the cache.
	n := viewNode(t, d, id)
	n.Tags = append(n.Tags, "x")
	if got := viewNode(t, d, id); len(got.Tags) != 0 {
		t.Fatalf("cached record shares memory with a caller: %v", got.Tags)
	}
}

// A View that served a cached record and then needs the database after a
// commit ran meanwhile runs again without the cache: it never mixes an old
// cached record with a newer snapshot.
func TestReadCache_ViewStaysOneSnapshot(t *testing.T) {
	d := openT(t, t.TempDir(), Options{})
	id := cacheNode(t, d)
	viewNode(t, d, id)
	runs := 0
	var hosts []string
	var listed []store.Node
	err := d.View(context.Background(), func(tx store.ReadTx) error {
		runs++
		n, err := tx.Node(id)
		if err != nil {
			return err
		}
		hosts = append(hosts, n.Hostname)
		if runs == 1 {
			setHostname(t, d, id, "after") // a commit between two reads
		}
		listed, err = tx.ListNodes(0, 0)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if runs != 2 || hosts[0] != "before" || hosts[1] != "after" {
		t.Fatalf("runs %d, hostnames seen %v; want a second run seeing \"after\"", runs, hosts)
	}
	if len(listed) != 1 || listed[0].Hostname != "after" {
		t.Fatalf("listed %+v", listed)
	}
}

// A View served wholly from the cache opens no database transaction, and
// one that only reads the database runs once.
func TestReadCache_PolicyEpoch(t *testing.T) {
	d := openT(t, t.TempDir(), Options{})
	read := func() uint64 {
		var e uint64
		if err := d.View(context.Background(), func(tx store.ReadTx) error {
			var err error
			e, err = tx.PolicyEpoch()
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return e
	}
	e0 := read()
	read()
	if err := d.Update(context.Background(), func(tx store.Tx) error {
		_, err := tx.BumpPolicyEpoch()
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if e := read(); e != e0+1 {
		t.Fatalf("epoch after bump = %d, want %d", e, e0+1)
	}
}

// A read-only handle (backup, audit verify of a running store) does not
// hold the lock, so another process may write: it never caches.
func TestReadCache_ReadOnlyHandleDoesNotCache(t *testing.T) {
	dir := t.TempDir()
	d := openT(t, dir, Options{})
	id := cacheNode(t, d)
	ro, err := Open(context.Background(), Options{DataDir: dir, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	viewNode(t, ro, id)
	setHostname(t, d, id, "after")
	if n := viewNode(t, ro, id); n.Hostname != "after" {
		t.Fatalf("read-only handle served %q after another handle committed", n.Hostname)
	}
}

package sqlite

import (
	"context"
	"errors"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/registry/store"
)

// sqlNode reads node id straight from the database, never from the cache.
func sqlNode(t *testing.T, d *DB, id addr.NodeID) (store.Node, bool) {
	t.Helper()
	n, err := scanNode(d.r.QueryRowContext(context.Background(), `SELECT `+nodeCols+` FROM nodes WHERE id = ?`, int64(id)))
	if err != nil {
		return n, false
	}
	return n, true
}

// checkCache fails when a cached record differs from its row, or a node
// without a row is cached.
func checkCache(t *testing.T, d *DB, ids []addr.NodeID, step string) {
	t.Helper()
	for _, id := range ids {
		cached, inCache := d.cache.node(id, d.cache.gen.Load())
		if !inCache {
			continue
		}
		stored, ok := sqlNode(t, d, id)
		if !ok {
			t.Fatalf("%s: node %d is cached but has no row", step, id)
		}
		if !reflect.DeepEqual(cached, stored) {
			t.Fatalf("%s: node %d cached %+v, stored %+v", step, id, cached, stored)
		}
	}
}

// A commit updates the cache with what it changed instead of emptying it:
// a new node is cached as stored, raised last_seen values reach cached
// rows, other changes drop only their row, a failed mutation leaves the
// cache alone, and the policy epoch stays cached at its committed value.
func TestReadCache_CommitAppliesItsChanges(t *testing.T) {
	d := openT(t, t.TempDir(), Options{})
	ctx := context.Background()
	var a, b store.Node
	err := d.Update(ctx, func(tx store.Tx) error {
		var err error
		if a, err = tx.CreateNode(store.Node{PublicKey: store.PublicKey{1}, LANAddrs: []string{"10.0.0.1:1"},
			KeyCreatedAt: time.Now(), LastSeen: time.Now()}); err != nil {
			return err
		}
		b, err = tx.CreateNode(store.Node{PublicKey: store.PublicKey{2}, Hostname: "b", KeyCreatedAt: time.Now()})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	ids := []addr.NodeID{a.ID, b.ID}
	for _, id := range ids {
		if _, ok := d.cache.node(id, d.cache.gen.Load()); !ok {
			t.Fatalf("new node %d not cached by its commit", id)
		}
	}
	checkCache(t, d, ids, "create")

	seen := time.Now().Add(time.Minute)
	if err := d.Update(ctx, func(tx store.Tx) error {
		_, err := tx.TouchNodes([]store.LastSeen{{ID: a.ID, Seen: seen}})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if n, ok := d.cache.node(a.ID, d.cache.gen.Load()); !ok || n.LastSeen.UnixMilli() != seen.UnixMilli() {
		t.Fatalf("after TouchNodes: cached %v %v, want last_seen %v", ok, n.LastSeen, seen)
	}
	checkCache(t, d, ids, "touch")

	setHostname(t, d, b.ID, "b2")
	if _, ok := d.cache.node(b.ID, d.cache.gen.Load()); ok {
		t.Fatal("an updated node stays cached")
	}
	if _, ok := d.cache.node(a.ID, d.cache.gen.Load()); !ok {
		t.Fatal("a commit that did not touch node a dropped it")
	}
	boom := errors.New("boom")
	if err := d.Update(ctx, func(tx store.Tx) error {
		if _, err := tx.RotateKey(a.ID, store.PublicKey{9}, time.Now(), time.Time{}); err != nil {
			return err
		}
		return boom
	}); !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if n, ok := d.cache.node(a.ID, d.cache.gen.Load()); !ok || n.PublicKey != (store.PublicKey{1}) {
		t.Fatal("a rolled-back rotation changed the cached node")
	}
	if err := d.Update(ctx, func(tx store.Tx) error {
		_, err := tx.RotateKey(a.ID, store.PublicKey{9}, time.Now(), time.Time{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if n := viewNode(t, d, a.ID); n.PublicKey != (store.PublicKey{9}) {
		t.Fatalf("read after rotation: key %v", n.PublicKey)
	}
	if _, ok := d.cache.policyEpoch(d.cache.gen.Load()); !ok {
		t.Fatal("the committed policy epoch is not cached")
	}
}

// Random mutations under group commit, some failing inside their
// savepoint: after every round, every cached record equals its row.
func TestReadCache_RandomMutationsStayConsistent(t *testing.T) {
	d := openT(t, t.TempDir(), Options{})
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(7, 11))
	var ids []addr.NodeID
	key := byte(1)
	newKey := func() store.PublicKey { key++; return store.PublicKey{key, 0xAA} }
	boom := errors.New("boom")
	for round := range 60 {
		done := make(chan error, 8)
		for range 8 { // concurrent members of one or more shared commits
			op, pick, fail := rng.IntN(7), rng.IntN(1<<30), rng.IntN(5) == 0
			k, host := newKey(), ""
			if rng.IntN(3) == 0 {
				host = "h" + string(rune('a'+rng.IntN(20)))
			}
			known := append([]addr.NodeID(nil), ids...)
			go func() {
				done <- d.Update(ctx, func(tx store.Tx) error {
					var id addr.NodeID
					if len(known) > 0 {
						id = known[pick%len(known)]
					}
					var err error
					switch {
					case op == 0 || id == 0:
						_, err = tx.CreateNode(store.Node{PublicKey: k, Hostname: host, KeyCreatedAt: time.Now(), LastSeen: time.Now()})
					case op == 1:
						_, err = tx.TouchNodes([]store.LastSeen{{ID: id, Seen: time.Now()}})
					case op == 2:
						var n store.Node
						if n, err = tx.Node(id); err == nil {
							n.Hostname, n.Tags = host, []string{"t"}
							err = tx.UpdateNode(n)
						}
					case op == 3:
						_, err = tx.RotateKey(id, k, time.Now(), time.Now().Add(time.Hour))
					case op == 4:
						_, _, err = tx.ReassignKey(id, k, time.Now())
					case op == 5:
						_, err = tx.TombstoneNode(id, time.Now(), "test")
					default:
						err = tx.SetLastSeen(id, time.Now())
					}
					if err == nil && fail {
						err = boom
					}
					return err
				})
			}()
		}
		for range 8 {
			<-done // errors (taken hostnames, removed nodes, boom) are part of the mix
		}
		ids = ids[:0]
		rows, err := d.r.QueryContext(ctx, `SELECT id FROM nodes`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id int64
			rows.Scan(&id)
			ids = append(ids, addr.NodeID(id))
		}
		rows.Close()
		for _, id := range ids { // reads fill the cache too
			if rng.IntN(2) == 0 {
				viewNode(t, d, id)
			}
		}
		checkCache(t, d, append(ids, addr.NodeID(round+1000)), "round")
	}
	if len(ids) == 0 {
		t.Fatal("the random run left no node: it tested nothing")
	}
}

package storetest

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/registry/store"
)

func testNodes(t *testing.T, b Backend) {
	s := open(t, b)
	a, bID := mustCreate(t, s, "a"), mustCreate(t, s, "b")
	if a != 4 || bID != 5 {
		t.Fatalf("IDs = %d, %d; want 4, 5 (§7.1.1)", a, bID)
	}
	full := store.Node{ID: a, PublicKey: Key("a"), RealAddr: "203.0.113.9:5000", LANAddrs: []string{"10.0.0.2:4000"},
		LastSeen: T0.Add(time.Minute), Version: "1.5.0", Capabilities: []string{"auth-v2", "secure-v2"}, Owner: "ops@example.com",
		Hostname: "alpha", Public: true, Tags: []string{"gpu", "eu"}, TaskExec: true, PoloScore: -42,
		KeyCreatedAt: T0, KeyRotatedAt: T0.Add(time.Hour), RotateCount: 2, KeyExpiresAt: T0.Add(48 * time.Hour)}
	update(t, s, func(tx store.Tx) error { return tx.UpdateNode(full) })
	view(t, s, func(tx store.ReadTx) error {
		for name, get := range map[string]func() (store.Node, error){
			"Node":           func() (store.Node, error) { return tx.Node(a) },
			"NodeByKey":      func() (store.Node, error) { return tx.NodeByKey(Key("a")) },
			"NodeByHostname": func() (store.Node, error) { return tx.NodeByHostname("alpha") },
		} {
			got, err := get()
			if err != nil || !reflect.DeepEqual(got, full) {
				t.Errorf("%s = %+v, %v; want %+v", name, got, err, full)
			}
		}
		kb, err := tx.KeyBinding(Key("a"))
		if err != nil || kb.NodeID != a || kb.State != store.KeyLive {
			t.Errorf("KeyBinding = %+v, %v", kb, err)
		}
		_, err = tx.Node(99)
		wantErr(t, err, store.ErrNotFound)
		_, err = tx.NodeByHostname("nobody")
		wantErr(t, err, store.ErrNotFound)
		_, err = tx.KeyBinding(Key("zzz"))
		wantErr(t, err, store.ErrNotFound)
		return nil
	})
	// Hostname unique among live nodes; key bound at most once (§6.3.6).
	err := s.Update(ctx(), func(tx store.Tx) error {
		n, _ := tx.Node(bID)
		n.Hostname = "alpha"
		return tx.UpdateNode(n)
	})
	wantErr(t, err, store.ErrHostnameTaken)
	err = s.Update(ctx(), func(tx store.Tx) error {
		n := NewNode("c", T0)
		n.Hostname = "alpha"
		_, err := tx.CreateNode(n)
		return err
	})
	wantErr(t, err, store.ErrHostnameTaken)
	err = s.Update(ctx(), func(tx store.Tx) error { _, err := tx.CreateNode(NewNode("a", T0)); return err })
	wantErr(t, err, store.ErrKeyBound)
	testRefusedCreateNode(t, s, a, bID+1)
	err = s.Update(ctx(), func(tx store.Tx) error { return tx.UpdateNode(store.Node{ID: 77}) })
	wantErr(t, err, store.ErrNotFound)
	// Clearing the hostname frees it.
	update(t, s, func(tx store.Tx) error {
		full.Hostname = ""
		if err := tx.UpdateNode(full); err != nil {
			return err
		}
		n, _ := tx.Node(bID)
		n.Hostname = "alpha"
		return tx.UpdateNode(n)
	})
	update(t, s, func(tx store.Tx) error { return tx.SetLastSeen(a, T0.Add(time.Hour)) })
	view(t, s, func(tx store.ReadTx) error {
		n, _ := tx.Node(a)
		if !n.LastSeen.Equal(T0.Add(time.Hour)) {
			t.Errorf("LastSeen = %v", n.LastSeen)
		}
		return nil
	})
	wantErr(t, s.Update(ctx(), func(tx store.Tx) error { return tx.SetLastSeen(99, T0) }), store.ErrNotFound)
	// Batched heartbeats: unknown nodes skipped, never moved backwards.
	update(t, s, func(tx store.Tx) error {
		n, err := tx.TouchNodes([]store.LastSeen{{ID: a, Seen: T0}, {ID: bID, Seen: T0.Add(2 * time.Hour)}, {ID: 99, Seen: T0}})
		if n != 1 {
			t.Errorf("TouchNodes updated %d, want 1", n)
		}
		return err
	})
	view(t, s, func(tx store.ReadTx) error {
		na, _ := tx.Node(a)
		nb, _ := tx.Node(bID)
		if !na.LastSeen.Equal(T0.Add(time.Hour)) || !nb.LastSeen.Equal(T0.Add(2*time.Hour)) {
			t.Errorf("after TouchNodes: %v, %v", na.LastSeen, nb.LastSeen)
		}
		return nil
	})
}

func testNodeLists(t *testing.T, b Backend) {
	s := open(t, b)
	var ids []addr.NodeID
	for _, l := range []string{"a", "b", "c", "d", "e"} {
		ids = append(ids, mustCreate(t, s, l))
	}
	update(t, s, func(tx store.Tx) error { return tx.SetLastSeen(ids[1], T0.Add(time.Hour)) })
	view(t, s, func(tx store.ReadTx) error {
		var got []addr.NodeID
		var after addr.NodeID
		for {
			page, err := tx.ListNodes(after, 2)
			if err != nil {
				return err
			}
			if len(page) == 0 {
				break
			}
			for _, n := range page {
				got = append(got, n.ID)
			}
			after = page[len(page)-1].ID
		}
		if !reflect.DeepEqual(got, ids) {
			t.Errorf("ListNodes pages = %v, want %v", got, ids)
		}
		stale, err := tx.ListNodesSeenBefore(T0.Add(time.Minute), 0, 0)
		if err != nil || len(stale) != 4 {
			t.Errorf("ListNodesSeenBefore = %d nodes, %v; want 4", len(stale), err)
		}
		if n, _ := tx.CountMembers(0); n != 5 {
			t.Errorf("CountMembers(0) = %d, want 5", n)
		}
		return nil
	})
}

// testRefusedCreateNode: CreateNode refuses the live key of node a with a
// *KeyBindingError carrying the binding (register decides from it,
// §7.1.1) and changes nothing: in the same transaction the next new node
// gets the next ID, next.
func testRefusedCreateNode(t *testing.T, s store.Store, a, next addr.NodeID) {
	t.Helper()
	var created addr.NodeID
	update(t, s, func(tx store.Tx) error {
		_, err := tx.CreateNode(NewNode("a", T0))
		var kbe *store.KeyBindingError
		if !errors.As(err, &kbe) || kbe.Binding.NodeID != a || kbe.Binding.State != store.KeyLive || kbe.Binding.Key != Key("a") {
			t.Errorf("CreateNode with a live key = %v (%#v)", err, kbe)
		}
		n, err := tx.CreateNode(NewNode("refused-then-new", T0))
		created = n.ID
		return err
	})
	if created != next {
		t.Errorf("node created after a refused CreateNode has ID %d, want %d", created, next)
	}
	update(t, s, func(tx store.Tx) error { _, err := tx.TombstoneNode(created, T0, "request"); return err })
}

func testRotateKey(t *testing.T, b Backend) {
	s := open(t, b)
	a := mustCreate(t, s, "a")
	now := T0.Add(time.Hour)
	exp := T0.Add(24 * time.Hour)
	update(t, s, func(tx store.Tx) error {
		n, err := tx.RotateKey(a, Key("a2"), now, exp)
		if err != nil {
			return err
		}
		if n.PublicKey != Key("a2") || n.RotateCount != 1 || !n.KeyRotatedAt.Equal(now) || !n.KeyExpiresAt.Equal(exp) ||
			!n.KeyCreatedAt.Equal(T0) {
			t.Errorf("after rotate: %+v", n)
		}
		return nil
	})
	view(t, s, func(tx store.ReadTx) error {
		kb, _ := tx.KeyBinding(Key("a"))
		if kb.State != store.KeyRetired || kb.NodeID != a || !kb.Since.Equal(now) {
			t.Errorf("old key binding = %+v", kb)
		}
		if _, err := tx.NodeByKey(Key("a")); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("NodeByKey(old) = %v", err)
		}
		return nil
	})
	// A retired key is never accepted again, anywhere (§6.3.6).
	err := s.Update(ctx(), func(tx store.Tx) error { _, err := tx.CreateNode(NewNode("a", T0)); return err })
	var kbe *store.KeyBindingError
	if wantErr(t, err, store.ErrKeyRetired); !errors.As(err, &kbe) || kbe.Binding.State != store.KeyRetired || !kbe.Binding.Since.Equal(now) {
		t.Errorf("CreateNode with a retired key = %v", err)
	}
	wantErr(t, s.Update(ctx(), func(tx store.Tx) error { _, err := tx.RotateKey(a, Key("a"), now, time.Time{}); return err }), store.ErrKeyRetired)
	b2 := mustCreate(t, s, "b")
	wantErr(t, s.Update(ctx(), func(tx store.Tx) error { _, err := tx.RotateKey(a, Key("b"), now, time.Time{}); return err }), store.ErrKeyBound)
	wantErr(t, s.Update(ctx(), func(tx store.Tx) error { _, err := tx.RotateKey(99, Key("x"), now, time.Time{}); return err }), store.ErrNotFound)
	// Rotating again with no expiry clears it.
	update(t, s, func(tx store.Tx) error {
		n, err := tx.RotateKey(a, Key("a3"), now.Add(time.Hour), time.Time{})
		if err == nil && (n.RotateCount != 2 || !n.KeyExpiresAt.IsZero()) {
			t.Errorf("second rotate: %+v", n)
		}
		return err
	})
	_ = b2
}

func testReassignKey(t *testing.T, b Backend) {
	s := open(t, b)
	a, gone := mustCreate(t, s, "a"), mustCreate(t, s, "gone")
	update(t, s, func(tx store.Tx) error { _, err := tx.TombstoneNode(gone, T0, "request"); return err })
	now := T0.Add(time.Hour)
	// The new key is bound to tombstone `gone`: the binding moves to a.
	update(t, s, func(tx store.Tx) error {
		n, live, err := tx.ReassignKey(a, Key("gone"), now)
		if err != nil {
			return err
		}
		if !live || n.PublicKey != Key("gone") || n.RotateCount != 1 || !n.KeyRotatedAt.Equal(now) || !n.KeyExpiresAt.IsZero() {
			t.Errorf("reassigned node = %+v live=%v", n, live)
		}
		return nil
	})
	view(t, s, func(tx store.ReadTx) error {
		ts, err := tx.Tombstone(gone)
		if err != nil || ts.HasKey {
			t.Errorf("tombstone after its key moved = %+v, %v", ts, err)
		}
		if kb, _ := tx.KeyBinding(Key("a")); kb.State != store.KeyRetired {
			t.Errorf("a's old key = %+v", kb)
		}
		return nil
	})
	// The tombstone ID stays unusable: no key reclaims it and new IDs skip it.
	if id := mustCreate(t, s, "new"); id != 6 {
		t.Errorf("next ID = %d, want 6", id)
	}
	// Reassign to a tombstone binds the key to the tombstone (§7.1.10).
	update(t, s, func(tx store.Tx) error {
		_, live, err := tx.ReassignKey(gone, Key("g2"), now)
		if live {
			t.Error("tombstone reported live")
		}
		return err
	})
	update(t, s, func(tx store.Tx) error {
		n := NewNode("g2", now)
		n.ID = gone
		return tx.ReclaimNode(n)
	})
	bad := []struct {
		id   addr.NodeID
		key  string
		want error
	}{
		{a, "new", store.ErrKeyBound},  // bound to a live node
		{a, "a", store.ErrKeyRetired},  // retired
		{99, "z", store.ErrNotFound},   // neither node nor tombstone
		{a, "gone", store.ErrKeyBound}, // a's own current key
	}
	for _, c := range bad {
		err := s.Update(ctx(), func(tx store.Tx) error { _, _, err := tx.ReassignKey(c.id, Key(c.key), now); return err })
		wantErr(t, err, c.want)
	}
}

func testTombstoneCascade(t *testing.T, b Backend) {
	s := open(t, b)
	x, y, owner := mustCreate(t, s, "x"), mustCreate(t, s, "y"), mustCreate(t, s, "owner")
	n1 := mustNetwork(t, s, "n1", store.JoinInvite, owner)
	n2 := mustNetwork(t, s, "n2", store.JoinOpen, owner)
	update(t, s, func(tx store.Tx) error {
		n, _ := tx.Node(x)
		n.Hostname = "xhost"
		must(t, tx.UpdateNode(n))
		must(t, tx.AddMember(n2, x, store.RoleAdmin, T0))
		must(t, tx.AddMember(n2, y, store.RoleMember, T0))
		must(t, tx.CreateInvite(store.Invite{NetworkID: n1, TargetID: x, InviterID: owner, Created: T0, Expires: T0.Add(time.Hour)}))
		must(t, tx.CreateInvite(store.Invite{NetworkID: n1, TargetID: y, InviterID: x, Created: T0, Expires: T0.Add(time.Hour)}))
		_, _, err := tx.AddApproval(x, y, T0)
		must(t, err)
		_, _, err = tx.AddApproval(y, x, T0)
		must(t, err)
		_, err = tx.EnqueueHandshakeRequest(store.HandshakeRequest{FromID: y, ToID: x, Created: T0, Expires: T0.Add(time.Hour)})
		must(t, err)
		_, err = tx.EnqueueHandshakeRequest(store.HandshakeRequest{FromID: x, ToID: y, Created: T0, Expires: T0.Add(time.Hour)})
		return err
	})
	wantErr(t, s.Update(ctx(), func(tx store.Tx) error { _, err := tx.TombstoneNode(owner, T0, "request"); return err }), store.ErrOwner)
	update(t, s, func(tx store.Tx) error {
		r, err := tx.TombstoneNode(x, T0.Add(time.Minute), "request")
		if err != nil {
			return err
		}
		if !reflect.DeepEqual(r.Networks, []addr.NetworkID{n2}) || len(r.InvitesRemoved) != 2 || r.PairsRemoved != 1 ||
			r.HostnameRemoved != "xhost" {
			t.Errorf("removal = %+v", r)
		}
		return nil
	})
	view(t, s, func(tx store.ReadTx) error {
		_, err := tx.Node(x)
		wantErr(t, err, store.ErrNotFound)
		ts, err := tx.Tombstone(x)
		if err != nil || !ts.HasKey || ts.Key != Key("x") || ts.Reason != "request" {
			t.Errorf("tombstone = %+v, %v", ts, err)
		}
		kb, _ := tx.KeyBinding(Key("x"))
		if kb.State != store.KeyTombstone || kb.NodeID != x {
			t.Errorf("binding = %+v", kb)
		}
		if r, _ := tx.Role(n2, x); r != store.RoleNone {
			t.Errorf("role survived: %v", r)
		}
		if n, _ := tx.CountInvites(y, T0); n != 0 {
			t.Errorf("invite from x survived")
		}
		if ok, _ := tx.HasApproval(y, x); ok {
			t.Errorf("approval survived")
		}
		if p, _ := tx.HandshakePending(x, y, T0); p {
			t.Errorf("handshake from x survived")
		}
		if _, err := tx.NodeByHostname("xhost"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("hostname not released")
		}
		return nil
	})
	wantErr(t, s.Update(ctx(), func(tx store.Tx) error { _, err := tx.TombstoneNode(x, T0, "request"); return err }), store.ErrNotFound)
	// The key reclaims the same ID with a fresh record (§7.1.1 step 3).
	update(t, s, func(tx store.Tx) error {
		n := NewNode("x", T0.Add(time.Hour))
		n.ID = x
		return tx.ReclaimNode(n)
	})
	view(t, s, func(tx store.ReadTx) error {
		n, err := tx.NodeByKey(Key("x"))
		if err != nil || n.ID != x {
			t.Errorf("reclaimed = %+v, %v", n, err)
		}
		if _, err := tx.Tombstone(x); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("tombstone kept after reclaim")
		}
		return nil
	})
	err := s.Update(ctx(), func(tx store.Tx) error { n := NewNode("other", T0); n.ID = y; return tx.ReclaimNode(n) })
	wantErr(t, err, store.ErrNotFound)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

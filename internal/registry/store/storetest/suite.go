// Package storetest is the backend-neutral conformance suite of the
// registry store (registry.md §6.3, §7, §9.2, §13). Every backend (SQLite
// now, PostgreSQL later) runs it from its own tests:
//
//	storetest.Run(t, storetest.Backend{New: …, Reopen: …})
//
// The suite talks to the store only through store.Store, so it checks
// exactly what the message handlers rely on.
package storetest

import (
	"context"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/registry/store"
)

// Backend opens stores for the suite.
type Backend struct {
	// New returns a fresh, empty store. The suite closes it.
	New func(t *testing.T) store.Store
	// Reopen closes s and opens the same store again (restart).
	Reopen func(t *testing.T, s store.Store) store.Store
}

// T0 is the suite's reference time.
var T0 = time.Date(2026, 3, 27, 10, 0, 0, 0, time.UTC)

// Run runs every conformance test against b.
func Run(t *testing.T, b Backend) {
	tests := []struct {
		name string
		fn   func(t *testing.T, b Backend)
	}{
		{"FreshStore", testFreshStore},
		{"UpdateRollsBack", testUpdateRollsBack},
		{"Nodes", testNodes},
		{"NodeLists", testNodeLists},
		{"RotateKey", testRotateKey},
		{"ReassignKey", testReassignKey},
		{"TombstoneCascade", testTombstoneCascade},
		{"Networks", testNetworks},
		{"Members", testMembers},
		{"Invites", testInvites},
		{"Trust", testTrust},
		{"Handshakes", testHandshakes},
		{"Audit", testAudit},
		{"Nonces", testNonces},
		{"NoncesSurviveReopen", testNoncesSurviveReopen},
		{"EpochBeaconsStats", testEpochBeaconsStats},
		{"Invariants_Item33", testInvariantsRandom},
		{"BackupRestore_Item72", testBackupRestore},
		{"RestoreCorrupt_Item73", testRestoreCorrupt},
		{"RestoreRefusals", testRestoreRefusals},
		{"NoCleartextSecrets_Item74", testNoCleartextSecrets},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, b) })
	}
}

// open returns a fresh store closed at the end of the test.
func open(t *testing.T, b Backend) store.Store {
	t.Helper()
	s := b.New(t)
	t.Cleanup(func() { s.Close() })
	return s
}

func ctx() context.Context { return context.Background() }

// update runs fn and fails the test on error.
func update(t *testing.T, s store.Store, fn func(tx store.Tx) error) {
	t.Helper()
	if err := s.Update(ctx(), fn); err != nil {
		t.Fatalf("Update: %v", err)
	}
}

// view runs fn and fails the test on error.
func view(t *testing.T, s store.Store, fn func(tx store.ReadTx) error) {
	t.Helper()
	if err := s.View(ctx(), fn); err != nil {
		t.Fatalf("View: %v", err)
	}
}

// wantErr fails unless err matches target.
func wantErr(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error = %v, want %v", err, target)
	}
}

// Key derives a distinct public key from a label.
func Key(label string) store.PublicKey { return sha256.Sum256([]byte("key:" + label)) }

// NewNode returns a fresh node record as register builds it (§7.1.1).
func NewNode(label string, now time.Time) store.Node {
	return store.Node{PublicKey: Key(label), RealAddr: "198.51.100.7:4000", LastSeen: now, KeyCreatedAt: now,
		Capabilities: []string{"auth-v2"}}
}

// mustCreate registers a node and returns its ID.
func mustCreate(t *testing.T, s store.Store, label string) addr.NodeID {
	t.Helper()
	var id addr.NodeID
	update(t, s, func(tx store.Tx) error {
		n, err := tx.CreateNode(NewNode(label, T0))
		id = n.ID
		return err
	})
	return id
}

// mustNetwork creates a network owned by owner.
func mustNetwork(t *testing.T, s store.Store, name string, rule store.JoinRule, owner addr.NodeID) addr.NetworkID {
	t.Helper()
	var id addr.NetworkID
	update(t, s, func(tx store.Tx) error {
		nw, err := tx.CreateNetwork(store.Network{Name: name, JoinRule: rule}, owner, T0)
		id = nw.ID
		return err
	})
	return id
}

func testFreshStore(t *testing.T, b Backend) {
	s := open(t, b)
	view(t, s, func(tx store.ReadTx) error {
		nw, err := tx.Network(0)
		if err != nil {
			return err
		}
		if nw.Name != "backbone" || nw.JoinRule != store.JoinOpen || !nw.TokenDigest.IsZero() ||
			!nw.AdminTokenDigest.IsZero() || nw.MaxMembers != 0 || len(nw.AllowedPorts) != 0 {
			t.Errorf("backbone = %+v", nw)
		}
		if e, err := tx.PolicyEpoch(); err != nil || e != 0 {
			t.Errorf("PolicyEpoch = %d, %v", e, err)
		}
		if seq, h, err := tx.AuditHead(); err != nil || seq != 0 || h != "" {
			t.Errorf("AuditHead = %d %q %v", seq, h, err)
		}
		return nil
	})
	if err := s.Ping(ctx()); err != nil {
		t.Fatal(err)
	}
	info, err := s.Schema(ctx())
	if err != nil || info.Current != info.Supported || len(info.Pending) != 0 {
		t.Fatalf("Schema = %+v, %v", info, err)
	}
	if n, head, err := s.VerifyAudit(ctx()); err != nil || n != 0 || head != "" {
		t.Fatalf("VerifyAudit on empty = %d %q %v", n, head, err)
	}
}

func testUpdateRollsBack(t *testing.T, b Backend) {
	s := open(t, b)
	boom := errors.New("boom")
	err := s.Update(ctx(), func(tx store.Tx) error {
		if _, err := tx.CreateNode(NewNode("a", T0)); err != nil {
			return err
		}
		if _, err := tx.AppendAudit(T0, "node.registered", 4, "self", nil); err != nil {
			return err
		}
		if _, err := tx.BumpPolicyEpoch(); err != nil {
			return err
		}
		return boom
	})
	wantErr(t, err, boom)
	view(t, s, func(tx store.ReadTx) error {
		if _, err := tx.Node(4); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("node survived rollback: %v", err)
		}
		if seq, _, _ := tx.AuditHead(); seq != 0 {
			t.Errorf("audit survived rollback: seq %d", seq)
		}
		if e, _ := tx.PolicyEpoch(); e != 0 {
			t.Errorf("epoch survived rollback: %d", e)
		}
		return nil
	})
	// A panic rolls back too and is passed on.
	func() {
		defer func() {
			if recover() == nil {
				t.Error("panic was swallowed")
			}
		}()
		s.Update(ctx(), func(tx store.Tx) error {
			tx.CreateNode(NewNode("p", T0))
			panic("handler bug")
		})
	}()
	// The rolled-back ID is not burned into a gap visible to clients: the
	// next node still gets 4 (IDs are never reused once committed).
	if id := mustCreate(t, s, "b"); id != 4 {
		t.Fatalf("first committed node ID = %d, want 4", id)
	}
}

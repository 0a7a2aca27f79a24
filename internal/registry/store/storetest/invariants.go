package storetest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/registry/store"
)

func nodeID(v uint32) addr.NodeID { return addr.NodeID(v) }

// CheckInvariants checks the invariants of registry.md §6.3 through the
// read API, with invites counted as pending at now.
func CheckInvariants(t *testing.T, s store.Store, now time.Time) {
	t.Helper()
	view(t, s, func(tx store.ReadTx) error {
		bb, err := tx.Network(0) // 5: the backbone
		if err != nil || bb.Name != store.BackboneName || bb.JoinRule != store.JoinOpen || !bb.TokenDigest.IsZero() ||
			!bb.AdminTokenDigest.IsZero() || bb.MaxMembers != 0 || len(bb.AllowedPorts) != 0 || bb.Description != "" {
			t.Errorf("invariant 5: backbone = %+v, %v", bb, err)
		}
		nets, err := tx.ListNetworks(0, 0)
		if err != nil {
			return err
		}
		for _, nr := range nets[1:] {
			nw := nr.Network
			members, err := tx.ListMembers(nw.ID, 0, 0)
			if err != nil {
				return err
			}
			owners := 0
			for _, m := range members {
				if m.Role == store.RoleOwner {
					owners++
				}
				if r, _ := tx.Role(nw.ID, m.Node.ID); r != m.Role { // 2
					t.Errorf("invariant 2: node %d in network %d: Role %v, listed %v", m.Node.ID, nw.ID, r, m.Role)
				}
			}
			if owners != 1 { // 1
				t.Errorf("invariant 1: network %d has %d owners", nw.ID, owners)
			}
			if nw.MaxMembers > 0 && len(members) > int(nw.MaxMembers) { // 3
				t.Errorf("invariant 3: network %d has %d members, max %d", nw.ID, len(members), nw.MaxMembers)
			}
			if nr.Members != len(members) {
				t.Errorf("network %d: ListNetworks counts %d members, ListMembers %d", nw.ID, nr.Members, len(members))
			}
		}
		nodes, err := tx.ListNodes(0, 0)
		if err != nil {
			return err
		}
		for _, n := range nodes {
			if c, _ := tx.CountInvites(n.ID, now); c > store.MaxPendingInvites { // 4
				t.Errorf("invariant 4: node %d has %d pending invites", n.ID, c)
			}
			kb, err := tx.KeyBinding(n.PublicKey) // 6
			if err != nil || kb.State != store.KeyLive || kb.NodeID != n.ID {
				t.Errorf("invariant 6: node %d key binding %+v, %v", n.ID, kb, err)
			}
			if r, _ := tx.Role(0, n.ID); r != store.RoleNone {
				t.Errorf("invariant 5: node %d has role %v in network 0", n.ID, r)
			}
		}
		if c, _ := tx.CountMembers(0); c != len(nodes) {
			t.Errorf("invariant 5: backbone counts %d members, %d nodes live", c, len(nodes))
		}
		return nil
	})
}

// expected are the refusals a random operation may legitimately get.
var expected = []error{store.ErrNotFound, store.ErrHostnameTaken, store.ErrNameTaken, store.ErrKeyBound, store.ErrKeyRetired,
	store.ErrAlreadyMember, store.ErrNetworkFull, store.ErrOwner, store.ErrBackbone, store.ErrAlreadyInvited,
	store.ErrInboxFull, store.ErrInvalid}

// testInvariantsRandom runs random operations, with restarts, and checks
// §6.3 after each batch (item 33).
func testInvariantsRandom(t *testing.T, b Backend) {
	s := b.New(t)
	defer func() { s.Close() }()
	rng := rand.New(rand.NewPCG(33, 1))
	node := func() addr.NodeID { return addr.NodeID(4 + rng.IntN(14)) }
	network := func() addr.NetworkID { return addr.NetworkID(rng.IntN(6)) }
	now := T0
	keyN := 0
	ops := []func(tx store.Tx) error{
		func(tx store.Tx) error {
			keyN++
			n := NewNode(fmt.Sprint("r", keyN), now)
			if rng.IntN(3) == 0 {
				n.Hostname = fmt.Sprint("h", rng.IntN(4))
			}
			_, err := tx.CreateNode(n)
			return err
		},
		func(tx store.Tx) error { _, err := tx.TombstoneNode(node(), now, "request"); return err },
		func(tx store.Tx) error {
			_, err := tx.CreateNetwork(store.Network{Name: fmt.Sprint("n", rng.IntN(8)), MaxMembers: uint32(rng.IntN(4))}, node(), now)
			return err
		},
		func(tx store.Tx) error {
			return tx.AddMember(network(), node(), store.Role(1+rng.IntN(2)), now)
		},
		func(tx store.Tx) error { _, err := tx.RemoveMember(network(), node()); return err },
		func(tx store.Tx) error { _, _, err := tx.TransferOwnership(network(), node()); return err },
		func(tx store.Tx) error { return tx.SetRole(network(), node(), store.Role(1+rng.IntN(2))) },
		func(tx store.Tx) error { _, err := tx.DeleteNetwork(network()); return err },
		func(tx store.Tx) error {
			return tx.UpdateNetwork(store.Network{ID: network(), Name: fmt.Sprint("n", rng.IntN(8)), MaxMembers: uint32(rng.IntN(4))})
		},
		func(tx store.Tx) error {
			return tx.CreateInvite(store.Invite{NetworkID: network(), TargetID: node(), Created: now, Expires: now.Add(time.Hour)})
		},
		func(tx store.Tx) error { _, _, err := tx.AddApproval(node(), node(), now); return err },
		func(tx store.Tx) error {
			_, err := tx.RotateKey(node(), Key(fmt.Sprint("rot", rng.IntN(40))), now, time.Time{})
			return err
		},
		func(tx store.Tx) error {
			_, _, err := tx.ReassignKey(node(), Key(fmt.Sprint("r", rng.IntN(keyN+1))), now)
			return err
		},
		func(tx store.Tx) error {
			n := NewNode(fmt.Sprint("r", rng.IntN(keyN+1)), now)
			n.ID = node()
			return tx.ReclaimNode(n)
		},
	}
	for round := range 4 {
		for range 150 {
			now = now.Add(time.Second)
			op := ops[rng.IntN(len(ops))]
			err := s.Update(ctx(), op)
			if err != nil && !isExpected(err) {
				t.Fatalf("round %d: unexpected error %v", round, err)
			}
		}
		CheckInvariants(t, s, now)
		before := BackupRows(t, s)
		s = b.Reopen(t, s)
		if BackupRows(t, s) != before {
			t.Fatalf("round %d: contents changed across a restart", round)
		}
		CheckInvariants(t, s, now)
	}
}

func isExpected(err error) bool {
	for _, e := range expected {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/registry/store"
)

func testNetworks(t *testing.T, b Backend) {
	s := open(t, b)
	o := mustCreate(t, s, "o")
	var n1 store.Network
	update(t, s, func(tx store.Tx) error {
		var err error
		n1, err = tx.CreateNetwork(store.Network{Name: "prod", JoinRule: store.JoinToken, TokenDigest: store.DigestOf("join"),
			AdminTokenDigest: store.DigestOf("admin-token-16bytes"), MaxMembers: 5, AllowedPorts: []uint16{443, 80, 80},
			Description: "Prod <eu>"}, o, T0)
		return err
	})
	if n1.ID != 1 || !reflect.DeepEqual(n1.AllowedPorts, []uint16{80, 443}) || n1.TokenDigest != store.DigestOf("join") ||
		!n1.Created.Equal(T0) || n1.JoinRule != store.JoinToken {
		t.Fatalf("created = %+v", n1)
	}
	n2 := mustNetwork(t, s, "dev", store.JoinOpen, o)
	wantErr(t, s.Update(ctx(), func(tx store.Tx) error {
		_, err := tx.CreateNetwork(store.Network{Name: "prod"}, o, T0)
		return err
	}), store.ErrNameTaken)
	wantErr(t, s.Update(ctx(), func(tx store.Tx) error {
		_, err := tx.CreateNetwork(store.Network{Name: "x"}, 99, T0)
		return err
	}), store.ErrNotFound)
	view(t, s, func(tx store.ReadTx) error {
		if got, err := tx.NetworkByName("prod"); err != nil || !reflect.DeepEqual(got, n1) {
			t.Errorf("NetworkByName = %+v, %v", got, err)
		}
		if owner, err := tx.Owner(n1.ID); err != nil || owner != o {
			t.Errorf("Owner = %d, %v", owner, err)
		}
		all, err := tx.ListNetworks(0, 0)
		if err != nil || len(all) != 3 || all[0].Network.ID != 0 || all[0].Members != 1 || all[1].Members != 1 {
			t.Errorf("ListNetworks = %+v, %v", all, err)
		}
		page, _ := tx.ListNetworks(2, 10)
		if len(page) != 1 || page[0].Network.ID != n2 {
			t.Errorf("ListNetworks(from 2) = %+v", page)
		}
		mine, err := tx.ListNetworksOf(o, 0, 1)
		if err != nil || len(mine) != 1 || mine[0].Network.ID != 1 || mine[0].Role != store.RoleOwner {
			t.Errorf("ListNetworksOf = %+v, %v", mine, err)
		}
		if owned, _ := tx.OwnedNetworks(o); !reflect.DeepEqual(owned, []addr.NetworkID{1, 2}) {
			t.Errorf("OwnedNetworks = %v", owned)
		}
		return nil
	})
	// Rename and policy: name uniqueness, backbone untouchable (§6.3.5).
	update(t, s, func(tx store.Tx) error {
		n1.Name, n1.MaxMembers, n1.AllowedPorts, n1.Description = "production", 0, nil, ""
		return tx.UpdateNetwork(n1)
	})
	wantErr(t, s.Update(ctx(), func(tx store.Tx) error {
		return tx.UpdateNetwork(store.Network{ID: n2, Name: "production"})
	}), store.ErrNameTaken)
	wantErr(t, s.Update(ctx(), func(tx store.Tx) error { return tx.UpdateNetwork(store.Network{ID: 0, Name: "x"}) }), store.ErrBackbone)
	wantErr(t, s.Update(ctx(), func(tx store.Tx) error { _, err := tx.DeleteNetwork(0); return err }), store.ErrBackbone)
	wantErr(t, s.Update(ctx(), func(tx store.Tx) error { return tx.UpdateNetwork(store.Network{ID: 9, Name: "x"}) }), store.ErrNotFound)
	// Delete removes members and invites; the ID is never reused (item 47).
	x := mustCreate(t, s, "x")
	update(t, s, func(tx store.Tx) error {
		return tx.CreateInvite(store.Invite{NetworkID: n2, TargetID: x, InviterID: o, Created: T0, Expires: T0.Add(time.Hour)})
	})
	update(t, s, func(tx store.Tx) error {
		r, err := tx.DeleteNetwork(n2)
		if err == nil && (r.Members != 1 || len(r.InvitesRemoved) != 1 || r.Network.Name != "dev") {
			t.Errorf("removal = %+v", r)
		}
		return err
	})
	view(t, s, func(tx store.ReadTx) error {
		if _, err := tx.Network(n2); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("deleted network still there")
		}
		if n, _ := tx.CountInvites(x, T0); n != 0 {
			t.Errorf("invites of deleted network survived")
		}
		if owned, _ := tx.OwnedNetworks(o); !reflect.DeepEqual(owned, []addr.NetworkID{1}) {
			t.Errorf("OwnedNetworks = %v", owned)
		}
		return nil
	})
	wantErr(t, s.Update(ctx(), func(tx store.Tx) error { _, err := tx.DeleteNetwork(n2); return err }), store.ErrNotFound)
	if id := mustNetwork(t, s, "dev", store.JoinOpen, o); id != 3 {
		t.Fatalf("network after delete got ID %d, want 3", id)
	}
}

func testMembers(t *testing.T, b Backend) {
	s := open(t, b)
	o, a, m, z := mustCreate(t, s, "o"), mustCreate(t, s, "a"), mustCreate(t, s, "m"), mustCreate(t, s, "z")
	n := mustNetwork(t, s, "team", store.JoinInvite, o)
	other := mustNetwork(t, s, "other", store.JoinOpen, z)
	update(t, s, func(tx store.Tx) error {
		must(t, tx.AddMember(n, a, store.RoleAdmin, T0))
		must(t, tx.AddMember(n, m, store.RoleMember, T0))
		must(t, tx.AddMember(other, m, store.RoleMember, T0))
		return tx.UpdateNetwork(store.Network{ID: n, Name: "team", MaxMembers: 3})
	})
	cases := []struct {
		name string
		fn   func(tx store.Tx) error
		want error
	}{
		{"join twice", func(tx store.Tx) error { return tx.AddMember(n, a, store.RoleMember, T0) }, store.ErrAlreadyMember},
		{"full (§6.3.3)", func(tx store.Tx) error { return tx.AddMember(n, z, store.RoleMember, T0) }, store.ErrNetworkFull},
		{"backbone", func(tx store.Tx) error { return tx.AddMember(0, z, store.RoleMember, T0) }, store.ErrBackbone},
		{"owner role", func(tx store.Tx) error { return tx.AddMember(other, a, store.RoleOwner, T0) }, store.ErrInvalid},
		{"unknown node", func(tx store.Tx) error { return tx.AddMember(other, 99, store.RoleMember, T0) }, store.ErrNotFound},
		{"unknown network", func(tx store.Tx) error { return tx.AddMember(77, z, store.RoleMember, T0) }, store.ErrNotFound},
		{"policy below count", func(tx store.Tx) error {
			return tx.UpdateNetwork(store.Network{ID: n, Name: "team", MaxMembers: 2})
		}, store.ErrNetworkFull},
		{"demote owner", func(tx store.Tx) error { return tx.SetRole(n, o, store.RoleMember) }, store.ErrOwner},
		{"role of non-member", func(tx store.Tx) error { return tx.SetRole(n, z, store.RoleAdmin) }, store.ErrNotFound},
		{"remove owner", func(tx store.Tx) error { _, err := tx.RemoveMember(n, o); return err }, store.ErrOwner},
		{"remove non-member", func(tx store.Tx) error { _, err := tx.RemoveMember(n, z); return err }, store.ErrNotFound},
		{"leave backbone", func(tx store.Tx) error { _, err := tx.RemoveMember(0, z); return err }, store.ErrBackbone},
		{"transfer to non-member", func(tx store.Tx) error { _, _, err := tx.TransferOwnership(n, z); return err }, store.ErrNotFound},
		{"transfer to owner", func(tx store.Tx) error { _, _, err := tx.TransferOwnership(n, o); return err }, store.ErrOwner},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { wantErr(t, s.Update(ctx(), c.fn), c.want) })
	}
	view(t, s, func(tx store.ReadTx) error {
		members, err := tx.ListMembers(n, 0, 0)
		if err != nil {
			return err
		}
		got := fmt.Sprint(memberRoles(members))
		if want := fmt.Sprintf("[%d:owner %d:admin %d:member]", o, a, m); got != want {
			t.Errorf("ListMembers = %s, want %s", got, want)
		}
		page, _ := tx.ListMembers(n, a, 5)
		if len(page) != 1 || page[0].Node.ID != m {
			t.Errorf("ListMembers after %d = %v", a, memberRoles(page))
		}
		if r, _ := tx.Role(n, z); r != store.RoleNone {
			t.Errorf("Role(non-member) = %v", r)
		}
		if r, _ := tx.Role(0, a); r != store.RoleNone {
			t.Errorf("Role(backbone) = %v (network 0 has no roles)", r)
		}
		if sh, _ := tx.SharedNetworks(m, z); !reflect.DeepEqual(sh, []addr.NetworkID{other}) {
			t.Errorf("SharedNetworks = %v", sh)
		}
		if ids, _ := tx.NetworkIDsOf(m); !reflect.DeepEqual(ids, []addr.NetworkID{n, other}) {
			t.Errorf("NetworkIDsOf = %v", ids)
		}
		return nil
	})
	update(t, s, func(tx store.Tx) error {
		must(t, tx.SetRole(n, m, store.RoleAdmin))
		old, oldRole, err := tx.TransferOwnership(n, m)
		if old != o || oldRole != store.RoleAdmin {
			t.Errorf("TransferOwnership = %d, %v", old, oldRole)
		}
		return err
	})
	view(t, s, func(tx store.ReadTx) error {
		if r, _ := tx.Role(n, o); r != store.RoleAdmin {
			t.Errorf("old owner role = %v, want admin", r)
		}
		if ow, _ := tx.Owner(n); ow != m {
			t.Errorf("owner = %d", ow)
		}
		return nil
	})
	// Leave removes the leaver's invites to the network and the ones it sent.
	update(t, s, func(tx store.Tx) error {
		return tx.CreateInvite(store.Invite{NetworkID: n, TargetID: z, InviterID: a, Created: T0, Expires: T0.Add(time.Hour)})
	})
	update(t, s, func(tx store.Tx) error {
		inv, err := tx.RemoveMember(n, a)
		if len(inv) != 1 || inv[0].TargetID != z || inv[0].InviterID != a {
			t.Errorf("RemoveMember invites = %+v", inv)
		}
		return err
	})
	view(t, s, func(tx store.ReadTx) error {
		if c, _ := tx.CountMembers(n); c != 2 {
			t.Errorf("CountMembers = %d", c)
		}
		return nil
	})
}

func memberRoles(ms []store.Member) []string {
	var out []string
	for _, m := range ms {
		out = append(out, fmt.Sprintf("%d:%s", m.Node.ID, m.Role))
	}
	return out
}

func testInvites(t *testing.T, b Backend) {
	s := open(t, b)
	o, tgt := mustCreate(t, s, "o"), mustCreate(t, s, "t")
	var nets []addr.NetworkID
	for i := range 102 {
		nets = append(nets, mustNetwork(t, s, fmt.Sprintf("n%d", i), store.JoinInvite, o))
	}
	ttl := time.Hour
	inv := func(i int, created time.Time) store.Invite {
		return store.Invite{NetworkID: nets[i], TargetID: tgt, InviterID: o, Created: created, Expires: created.Add(ttl)}
	}
	update(t, s, func(tx store.Tx) error {
		for i := range 100 {
			if err := tx.CreateInvite(inv(i, T0.Add(time.Duration(i%50)*time.Second))); err != nil {
				return err
			}
		}
		return nil
	})
	wantErr(t, s.Update(ctx(), func(tx store.Tx) error { return tx.CreateInvite(inv(0, T0)) }), store.ErrAlreadyInvited)
	wantErr(t, s.Update(ctx(), func(tx store.Tx) error { return tx.CreateInvite(inv(100, T0)) }), store.ErrInboxFull) // item 44
	wantErr(t, s.Update(ctx(), func(tx store.Tx) error {
		return tx.CreateInvite(store.Invite{NetworkID: nets[0], TargetID: 99, Created: T0, Expires: T0.Add(ttl)})
	}), store.ErrNotFound)
	view(t, s, func(tx store.ReadTx) error {
		// Oldest first by (created, network); pages of 30 see all 100 once.
		var got []store.Invite
		var cur store.InviteCursor
		for {
			page, err := tx.ListInvites(tgt, T0, cur, 30)
			if err != nil {
				return err
			}
			if len(page) == 0 {
				break
			}
			got = append(got, page...)
			last := page[len(page)-1]
			cur = store.InviteCursor{Created: last.Created, NetworkID: last.NetworkID}
		}
		if len(got) != 100 {
			t.Fatalf("paged %d invites, want 100", len(got))
		}
		for i := 1; i < len(got); i++ {
			p, c := got[i-1], got[i]
			if c.Created.Before(p.Created) || c.Created.Equal(p.Created) && c.NetworkID <= p.NetworkID {
				t.Fatalf("invites out of order at %d: %+v then %+v", i, p, c)
			}
		}
		one, err := tx.Invite(nets[5], tgt)
		if err != nil || one.InviterID != o || !one.Expires.Equal(one.Created.Add(ttl)) {
			t.Errorf("Invite = %+v, %v", one, err)
		}
		// Expiry: invites created at T0 expire at T0+1h (item 45).
		if n, _ := tx.CountInvites(tgt, T0.Add(ttl)); n != 98 {
			t.Errorf("CountInvites after the first expiry = %d, want 98", n)
		}
		return nil
	})
	// An expired invite no longer counts and may be replaced.
	later := T0.Add(ttl + 50*time.Second)
	update(t, s, func(tx store.Tx) error { return tx.CreateInvite(inv(0, later)) })
	update(t, s, func(tx store.Tx) error {
		swept, err := tx.SweepInvites(later)
		if err == nil && len(swept) != 99 {
			t.Errorf("swept %d, want 99", len(swept))
		}
		return err
	})
	update(t, s, func(tx store.Tx) error { return tx.DeleteInvite(nets[0], tgt) })
	wantErr(t, s.Update(ctx(), func(tx store.Tx) error { return tx.DeleteInvite(nets[0], tgt) }), store.ErrNotFound)
}

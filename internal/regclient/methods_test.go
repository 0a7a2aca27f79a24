package regclient

import (
	"bytes"
	"context"
	"testing"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/wire/regmsg"
)

// TestTypedMethods: every typed method sends the message of §7 with the
// client's node in the signer field, signed when it has a signer, and
// decodes the reply of the right type.
func TestTypedMethods(t *testing.T) {
	f := newFake(t, nil, nil)
	c, _ := newTestClient(t, f, nil)
	ctx := ctxT(t)
	newID := testIdentity(t, 2)
	nid := addr.NetworkID(3)
	mm := uint32(50)
	desc := "prod"
	type tc struct {
		name string
		call func(context.Context) error
		want regmsg.Request
	}
	e := func(_ any, err error) error { return err }
	cases := []tc{
		{"heartbeat", func(ctx context.Context) error { return e(c.Heartbeat(ctx)) }, &regmsg.Heartbeat{NodeID: 7}},
		{"deregister", func(ctx context.Context) error { return c.Deregister(ctx) }, &regmsg.Deregister{NodeID: 7}},
		{"lookup", func(ctx context.Context) error { return e(c.Lookup(ctx, 9)) }, &regmsg.Lookup{NodeID: 9, RequesterID: 7}},
		{"resolve", func(ctx context.Context) error { return e(c.Resolve(ctx, 9)) }, &regmsg.Resolve{NodeID: 9, RequesterID: 7}},
		{"punch", func(ctx context.Context) error { return e(c.Punch(ctx, 7, 9)) }, &regmsg.Punch{RequesterID: 7, NodeA: 7, NodeB: 9}},
		{"set_key_expiry", func(ctx context.Context) error { return e(c.SetKeyExpiry(ctx, "never")) }, &regmsg.SetKeyExpiry{NodeID: 7, ExpiresAt: "never"}},
		{"get_key_info", func(ctx context.Context) error { return e(c.GetKeyInfo(ctx, 9)) }, &regmsg.GetKeyInfo{NodeID: 9}},
		{"reassign_key", func(ctx context.Context) error { return e(c.ReassignKey(ctx, 9, SignWith(newID))) },
			&regmsg.ReassignKey{NodeID: 9, NewPublicKey: newID.PublicKeyBase64()}},
		{"set_visibility", func(ctx context.Context) error { return e(c.SetVisibility(ctx, true)) }, &regmsg.SetVisibility{NodeID: 7, Public: true}},
		{"set_hostname", func(ctx context.Context) error { return e(c.SetHostname(ctx, "alpha")) }, &regmsg.SetHostname{NodeID: 7, Hostname: "alpha"}},
		{"set_tags", func(ctx context.Context) error { return e(c.SetTags(ctx, nil)) }, &regmsg.SetTags{NodeID: 7, Tags: []string{}}},
		{"set_task_exec", func(ctx context.Context) error { return e(c.SetTaskExec(ctx, true)) }, &regmsg.SetTaskExec{NodeID: 7, Enabled: true}},
		{"resolve_hostname", func(ctx context.Context) error { return e(c.ResolveHostname(ctx, "beta")) }, &regmsg.ResolveHostname{Hostname: "beta", RequesterID: 7}},
		{"report_trust", func(ctx context.Context) error { return e(c.ReportTrust(ctx, 9)) }, &regmsg.ReportTrust{TrustPair: regmsg.TrustPair{NodeID: 7, PeerID: 9}}},
		{"revoke_trust", func(ctx context.Context) error { return e(c.RevokeTrust(ctx, 9)) }, &regmsg.RevokeTrust{TrustPair: regmsg.TrustPair{NodeID: 7, PeerID: 9}}},
		{"check_trust", func(ctx context.Context) error { return e(c.CheckTrust(ctx, 9)) }, &regmsg.CheckTrust{TrustPair: regmsg.TrustPair{NodeID: 7, PeerID: 9}}},
		{"request_handshake", func(ctx context.Context) error { return e(c.RequestHandshake(ctx, 9, "hi\nthere")) },
			&regmsg.RequestHandshake{FromNodeID: 7, ToNodeID: 9, Justification: "hi\nthere"}},
		{"poll_handshakes", func(ctx context.Context) error { return e(c.PollHandshakes(ctx, regmsg.Page{Limit: 10})) },
			&regmsg.PollHandshakes{NodeID: 7, Page: regmsg.Page{Limit: 10}}},
		{"respond_handshake", func(ctx context.Context) error { return e(c.RespondHandshake(ctx, 9, false)) }, &regmsg.RespondHandshake{NodeID: 7, PeerID: 9}},
		{"create_network", func(ctx context.Context) error {
			return e(c.CreateNetwork(ctx, &regmsg.CreateNetwork{Name: "fleet", JoinRule: "token", Token: "t"}))
		}, &regmsg.CreateNetwork{NodeID: 7, Name: "fleet", JoinRule: "token", Token: "t"}},
		{"join_network", func(ctx context.Context) error { return e(c.JoinNetwork(ctx, nid, "t")) }, &regmsg.JoinNetwork{NodeID: 7, NetworkID: nid, Token: "t"}},
		{"leave_network", func(ctx context.Context) error { return e(c.LeaveNetwork(ctx, nid)) },
			&regmsg.LeaveNetwork{NetworkRef: regmsg.NetworkRef{NodeID: 7, NetworkID: nid}}},
		{"delete_network", func(ctx context.Context) error { return e(c.DeleteNetwork(ctx, nid)) },
			&regmsg.DeleteNetwork{NetworkRef: regmsg.NetworkRef{NodeID: 7, NetworkID: nid}}},
		{"rename_network", func(ctx context.Context) error { return e(c.RenameNetwork(ctx, nid, "n2")) },
			&regmsg.RenameNetwork{NodeID: 7, NetworkID: nid, Name: "n2"}},
		{"list_networks", func(ctx context.Context) error { return e(c.ListNetworks(ctx, true, regmsg.Page{Cursor: "x"})) },
			&regmsg.ListNetworks{NodeID: 7, All: true, Page: regmsg.Page{Cursor: "x"}}},
		{"list_nodes", func(ctx context.Context) error { return e(c.ListNodes(ctx, nid, regmsg.Page{})) }, &regmsg.ListNodes{NodeID: 7, NetworkID: nid}},
		{"kick_member", func(ctx context.Context) error { return e(c.KickMember(ctx, nid, 9)) },
			&regmsg.KickMember{MemberTarget: regmsg.MemberTarget{NodeID: 7, NetworkID: nid, TargetNodeID: 9}}},
		{"promote_member", func(ctx context.Context) error { return e(c.PromoteMember(ctx, nid, 9)) },
			&regmsg.PromoteMember{MemberTarget: regmsg.MemberTarget{NodeID: 7, NetworkID: nid, TargetNodeID: 9}}},
		{"demote_member", func(ctx context.Context) error { return e(c.DemoteMember(ctx, nid, 9)) },
			&regmsg.DemoteMember{MemberTarget: regmsg.MemberTarget{NodeID: 7, NetworkID: nid, TargetNodeID: 9}}},
		{"get_member_role", func(ctx context.Context) error { return e(c.GetMemberRole(ctx, nid, 9)) },
			&regmsg.GetMemberRole{MemberTarget: regmsg.MemberTarget{NodeID: 7, NetworkID: nid, TargetNodeID: 9}}},
		{"transfer_ownership", func(ctx context.Context) error { return e(c.TransferOwnership(ctx, nid, 9)) },
			&regmsg.TransferOwnership{NodeID: 7, NetworkID: nid, NewOwnerID: 9}},
		{"set_network_policy", func(ctx context.Context) error {
			return e(c.SetNetworkPolicy(ctx, &regmsg.SetNetworkPolicy{NetworkID: nid, MaxMembers: &mm, AllowedPorts: []addr.Port{}, Description: &desc}))
		}, &regmsg.SetNetworkPolicy{NodeID: 7, NetworkID: nid, MaxMembers: &mm, AllowedPorts: []addr.Port{}, Description: &desc}},
		{"get_network_policy", func(ctx context.Context) error { return e(c.GetNetworkPolicy(ctx, nid)) },
			&regmsg.GetNetworkPolicy{NetworkRef: regmsg.NetworkRef{NodeID: 7, NetworkID: nid}}},
		{"invite_to_network", func(ctx context.Context) error { return e(c.InviteToNetwork(ctx, nid, 9)) },
			&regmsg.InviteToNetwork{InviterID: 7, NetworkID: nid, TargetNodeID: 9}},
		{"poll_invites", func(ctx context.Context) error { return e(c.PollInvites(ctx, regmsg.Page{})) }, &regmsg.PollInvites{NodeID: 7}},
		{"respond_invite", func(ctx context.Context) error { return e(c.RespondInvite(ctx, nid, true)) }, &regmsg.RespondInvite{NodeID: 7, NetworkID: nid, Accept: true}},
		{"get_audit_log", func(ctx context.Context) error {
			return e(c.GetAuditLog(ctx, &regmsg.GetAuditLog{NetworkID: &nid, Action: "network.joined"}))
		}, &regmsg.GetAuditLog{NodeID: 7, NetworkID: &nid, Action: "network.joined"}},
		{"get_polo_score", func(ctx context.Context) error { return e(c.GetPoloScore(ctx, 9)) }, &regmsg.GetPoloScore{NodeID: 9}},
		{"update_polo_score", func(ctx context.Context) error { return e(c.UpdatePoloScore(ctx, 9, -5)) }, &regmsg.UpdatePoloScore{NodeID: 9, Delta: -5}},
		{"set_polo_score", func(ctx context.Context) error { return e(c.SetPoloScore(ctx, 9, 12)) }, &regmsg.SetPoloScore{NodeID: 9, PoloScore: 12}},
		{"beacon_register", func(ctx context.Context) error { return e(c.BeaconRegister(ctx, 1, "b.example:9001", "bt")) },
			&regmsg.BeaconRegister{BeaconID: 1, Addr: "b.example:9001", Token: "bt"}},
		{"beacon_list", func(ctx context.Context) error { return e(c.BeaconList(ctx, regmsg.Page{Limit: 5})) }, &regmsg.BeaconList{Page: regmsg.Page{Limit: 5}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(ctx); err != nil {
				t.Fatal(err)
			}
			got := f.last()
			if got.Type() != tc.name || tc.want.Type() != tc.name {
				t.Fatalf("sent %s, want %s", got.Type(), tc.name)
			}
			signer := pubOf(c.Identity())
			if _, ok := got.(*regmsg.ReassignKey); ok {
				signer = pubOf(newID)
			}
			if got.Signer() != 0 || got.Type() == regmsg.TypeReassignKey {
				verifyV2(t, got, signer)
			} else if regmsg.AuthVersion(got) != regmsg.AuthUnsigned {
				t.Fatalf("%s without signer is signed", got.Type())
			}
			a := got.AuthFields()
			a.TS, a.Nonce, a.Signature = nil, nil, nil
			gb, _ := regmsg.MarshalRequest(got)
			wb, _ := regmsg.MarshalRequest(tc.want)
			if !bytes.Equal(gb, wb) {
				t.Fatalf("request\n got %s\nwant %s", gb, wb)
			}
		})
	}
}

// TestRegistry_3_ListAllFollowsCursor (§4.4): the helpers follow
// next_cursor, ask only for what they still need and stop at max; a
// registry whose cursor does not advance is a protocol error.
func TestRegistry_3_ListAllFollowsCursor(t *testing.T) {
	const total = 7
	page := func(cursor string, limit int) *regmsg.ListNodesOK {
		start := 0
		if cursor != "" {
			start = int(cursor[0] - 'a')
		}
		if limit == 0 || limit > 2 {
			limit = 2
		}
		out := &regmsg.ListNodesOK{}
		for i := start; i < min(start+limit, total); i++ {
			out.Nodes = append(out.Nodes, regmsg.NodeEntry{NodeID: addr.NodeID(10 + i)})
		}
		if start+limit < total {
			out.NextCursor = string(rune('a' + start + limit))
		}
		return out
	}
	f := newFake(t, nil, func(_ int, req regmsg.Request) response {
		ln := req.(*regmsg.ListNodes)
		return replyWith(t, page(ln.Cursor, ln.Limit))
	})
	c, _ := newTestClient(t, f, nil)
	all, err := c.ListNodesAll(ctxT(t), 3, 0)
	if err != nil || len(all) != total || all[total-1].NodeID != 10+total-1 {
		t.Fatalf("all: %d entries, %v", len(all), err)
	}
	before := len(f.requests())
	five, err := c.ListNodesAll(ctxT(t), 3, 5)
	if err != nil || len(five) != 5 || five[4].NodeID != 14 {
		t.Fatalf("max 5: %+v, %v", five, err)
	}
	var limits []int
	for _, r := range f.requests()[before:] {
		limits = append(limits, r.req.(*regmsg.ListNodes).Limit)
	}
	if len(limits) != 3 || limits[0] != 5 || limits[1] != 3 || limits[2] != 1 {
		t.Fatalf("page limits %v, want [5 3 1]", limits)
	}

	stuck := newFake(t, nil, func(int, regmsg.Request) response {
		return replyWith(t, &regmsg.ListNetworksOK{Networks: []regmsg.NetworkEntry{{ID: 1}}, NextCursor: "same"})
	})
	c2, _ := newTestClient(t, stuck, nil)
	if _, err := c2.ListNetworksAll(ctxT(t), false, 0); err == nil {
		t.Fatal("a repeating cursor was followed")
	}
	if n := len(stuck.requests()); n != 2 {
		t.Fatalf("%d requests before giving up, want 2", n)
	}
}

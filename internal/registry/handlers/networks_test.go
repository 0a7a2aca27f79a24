package handlers

import (
	"strings"
	"testing"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/wire/regmsg"
)

func TestRegistry_C26_PromoteByAdminAndOwner(t *testing.T) {
	m := newMatrix(t, matrixTemplate(t))
	e := m.env
	r := e.signed(&regmsg.PromoteMember{MemberTarget: mt(m, m.A.ID, m.M)}, m.A.id)
	e.fail(r, regmsg.CodePermissionDenied)
	if !strings.Contains(r.err.Message, "only the owner of network") || !strings.Contains(r.err.Message, "is admin") {
		t.Fatalf("message %q", r.err.Message)
	}
	r = e.signed(&regmsg.PromoteMember{MemberTarget: mt(m, m.O.ID, m.M)}, m.O.id)
	e.ok(r, "promote_member")
	ev := e.lastAudit()
	if ev.Action != regmsg.ActionMemberPromoted || ev.ActorNodeID != m.O.ID || ev.AuthVia != "role" {
		t.Fatalf("audit %+v", ev)
	}
	e.fail(e.signed(&regmsg.PromoteMember{MemberTarget: mt(m, m.O.ID, m.M)}, m.O.id), regmsg.CodeAlreadyExists)
}

func TestRegistry_C27_ClaimedOwnerNeverSucceeds(t *testing.T) {
	for _, legacy := range []bool{false, true} {
		var opts []option
		if legacy {
			opts = append(opts, withLegacy)
		}
		e := newEnv(t, opts...)
		o, n := e.register(), e.register()
		nw := e.network(o, "claimed", "open")
		e.join(n, nw)
		for _, req := range []regmsg.Request{
			&regmsg.PromoteMember{MemberTarget: regmsg.MemberTarget{NodeID: o.ID, NetworkID: nw, TargetNodeID: n.ID}},
			&regmsg.KickMember{MemberTarget: regmsg.MemberTarget{NodeID: o.ID, NetworkID: nw, TargetNodeID: n.ID}},
			&regmsg.DeleteNetwork{NetworkRef: regmsg.NetworkRef{NodeID: o.ID, NetworkID: nw}},
			&regmsg.RenameNetwork{NodeID: o.ID, NetworkID: nw, Name: "stolen"},
			&regmsg.TransferOwnership{NodeID: o.ID, NetworkID: nw, NewOwnerID: n.ID},
		} {
			if r := e.send(req); r.err == nil {
				t.Fatalf("legacy=%v %s: unsigned claim succeeded", legacy, req.Type())
			}
			// A v1-style signature is not accepted for role management either.
			sig := n.id.SignBase64([]byte("anything"))
			req.AuthFields().Signature = &sig
			if r := e.send(req); r.err == nil {
				t.Fatalf("legacy=%v %s: v1 signature succeeded", legacy, req.Type())
			}
		}
	}
}

func TestRegistry_C28_KickRules(t *testing.T) {
	tm := matrixTemplate(t)
	m := newMatrix(t, tm)
	e := m.env
	e.fail(e.signed(&regmsg.KickMember{MemberTarget: mt(m, m.A.ID, m.A2)}, m.A.id), regmsg.CodePermissionDenied)
	e.fail(e.signed(&regmsg.KickMember{MemberTarget: mt(m, m.A.ID, m.O)}, m.A.id), regmsg.CodePermissionDenied)
	e.fail(e.signed(&regmsg.KickMember{MemberTarget: mt(m, m.M.ID, m.O)}, m.M.id), regmsg.CodePermissionDenied)
	e.fail(e.signed(&regmsg.KickMember{MemberTarget: mt(m, m.X.ID, m.O)}, m.X.id), regmsg.CodePermissionDenied)
	e.fail(e.send(tok(&regmsg.KickMember{MemberTarget: mt(m, 0, m.O)}, globalToken)), regmsg.CodeFailedPrecondition)
	e.fail(e.send(tok(&regmsg.KickMember{MemberTarget: mt(m, 0, m.O)}, netToken)), regmsg.CodeFailedPrecondition)
	e.fail(e.send(tok(&regmsg.DemoteMember{MemberTarget: mt(m, 0, m.O)}, globalToken)), regmsg.CodeFailedPrecondition)
	e.fail(e.signed(&regmsg.DemoteMember{MemberTarget: mt(m, m.O.ID, m.O)}, m.O.id), regmsg.CodeFailedPrecondition)
	e.fail(e.signed(&regmsg.DemoteMember{MemberTarget: mt(m, m.A.ID, m.O)}, m.A.id), regmsg.CodePermissionDenied)
	head := e.head()
	e.ok(e.signed(&regmsg.KickMember{MemberTarget: mt(m, m.A.ID, m.M)}, m.A.id), "kick_member")
	ev := e.auditSince(head)
	if len(ev) != 1 || ev[0].Action != regmsg.ActionMemberKicked || Details(ev[0].Attrs) != "target_node_id="+itoa(m.M.ID)+", network_id="+itoa(m.N)+", role=member" {
		t.Fatalf("audit %+v", ev)
	}
	e.fail(e.signed(&regmsg.KickMember{MemberTarget: mt(m, m.A.ID, m.M)}, m.A.id), regmsg.CodeNotFound)
}

func TestRegistry_C29_SelfKickAndOwnerLeave(t *testing.T) {
	m := newMatrix(t, matrixTemplate(t))
	e := m.env
	for _, n := range []*node{m.O, m.A, m.M} {
		r := e.signed(&regmsg.KickMember{MemberTarget: mt(m, n.ID, n)}, n.id)
		e.fail(r, regmsg.CodeFailedPrecondition)
		if !strings.Contains(r.err.Message, "use leave") {
			t.Fatalf("message %q", r.err.Message)
		}
	}
	r := e.signed(&regmsg.LeaveNetwork{NetworkRef: regmsg.NetworkRef{NodeID: m.O.ID, NetworkID: m.N}}, m.O.id)
	e.fail(r, regmsg.CodeFailedPrecondition)
	if !strings.Contains(r.err.Message, "transfer ownership first") {
		t.Fatalf("message %q", r.err.Message)
	}
	e.ok(e.signed(&regmsg.LeaveNetwork{NetworkRef: regmsg.NetworkRef{NodeID: m.M.ID, NetworkID: m.N}}, m.M.id), "leave_network")
	e.fail(e.signed(&regmsg.LeaveNetwork{NetworkRef: regmsg.NetworkRef{NodeID: m.M.ID, NetworkID: m.N}}, m.M.id), regmsg.CodeNotFound)
	// The network token does not authorize leave; the global token does.
	e.fail(e.send(tok(&regmsg.LeaveNetwork{NetworkRef: regmsg.NetworkRef{NodeID: m.M2.ID, NetworkID: m.N}}, netToken)), regmsg.CodePermissionDenied)
	e.ok(e.send(tok(&regmsg.LeaveNetwork{NetworkRef: regmsg.NetworkRef{NodeID: m.M2.ID, NetworkID: m.N}}, globalToken)), "leave_network")
}

func TestRegistry_C30_TransferOwnership(t *testing.T) {
	m := newMatrix(t, matrixTemplate(t))
	e := m.env
	e.fail(e.signed(&regmsg.TransferOwnership{NodeID: m.O.ID, NetworkID: m.N, NewOwnerID: m.X.ID}, m.O.id), regmsg.CodeNotFound)
	r := e.signed(&regmsg.TransferOwnership{NodeID: m.O.ID, NetworkID: m.N, NewOwnerID: m.M.ID}, m.O.id)
	e.ok(r, "transfer_ownership")
	if r.int(t, "old_owner") != int64(m.O.ID) || r.int(t, "new_owner") != int64(m.M.ID) {
		t.Fatalf("reply %s", r.body)
	}
	role := func(n *node) string {
		r := e.send(tok(&regmsg.GetMemberRole{MemberTarget: mt(m, 0, n)}, globalToken))
		e.ok(r, "get_member_role")
		var s string
		r.get(t, "role", &s)
		return s
	}
	if role(m.M) != "owner" || role(m.O) != "admin" {
		t.Fatal("roles after transfer")
	}
}

func TestRegistry_C31_NetworkTokenScope(t *testing.T) {
	e := newEnv(t)
	o, o2, n := e.register(), e.register(), e.register()
	n1 := e.network(o, "scoped-one", "open", func(r *regmsg.CreateNetwork) { r.NetworkAdminToken = netToken })
	n2 := e.network(o2, "scoped-two", "open", func(r *regmsg.CreateNetwork) { r.NetworkAdminToken = "other-network-token-xyz" })
	e.join(n, n1)
	e.join(n, n2)
	e.ok(e.send(tok(&regmsg.PromoteMember{MemberTarget: regmsg.MemberTarget{NetworkID: n1, TargetNodeID: n.ID}}, netToken)), "promote_member")
	e.ok(e.send(tok(&regmsg.RenameNetwork{NetworkID: n1, Name: "scoped-renamed"}, netToken)), "rename_network")
	mm := uint32(10)
	e.ok(e.send(tok(&regmsg.SetNetworkPolicy{NetworkID: n1, MaxMembers: &mm}, netToken)), "set_network_policy")
	ev := e.lastAudit()
	if ev.AuthVia != "network_token" || ev.ActorNodeID != 0 {
		t.Fatalf("audit %+v", ev)
	}
	// Not on another network, not for create_network.
	e.fail(e.send(tok(&regmsg.PromoteMember{MemberTarget: regmsg.MemberTarget{NetworkID: n2, TargetNodeID: n.ID}}, netToken)), regmsg.CodeUnauthenticated)
	e.fail(e.signed(tok(&regmsg.RenameNetwork{NodeID: n.ID, NetworkID: n2, Name: "nope"}, netToken), n.id), regmsg.CodePermissionDenied)
	e.fail(e.send(tok(&regmsg.CreateNetwork{NodeID: o.ID, Name: "via-net-token"}, netToken)), regmsg.CodeUnauthenticated)
	e.ok(e.send(tok(&regmsg.KickMember{MemberTarget: regmsg.MemberTarget{NetworkID: n1, TargetNodeID: n.ID}}, netToken)), "kick_member")
	e.ok(e.send(tok(&regmsg.DeleteNetwork{NetworkRef: regmsg.NetworkRef{NetworkID: n1}}, netToken)), "delete_network")
}

func TestRegistry_C32_Attribution(t *testing.T) {
	e := newEnv(t)
	a := e.register()
	ev := e.lastAudit()
	if ev.Action != regmsg.ActionNodeRegistered || ev.ActorNodeID != a.ID || ev.AuthVia != "self" {
		t.Fatalf("register audit %+v", ev)
	}
	o := e.register()
	nw := e.network(o, "attrib", "token")
	// Signed self-service with a token: self.
	e.ok(e.signed(tok(&regmsg.JoinNetwork{NodeID: a.ID, NetworkID: nw, Token: "join-secret"}, globalToken), a.id), "join_network")
	ev = e.lastAudit()
	if ev.Action != regmsg.ActionNetworkJoined || ev.ActorNodeID != a.ID || ev.AuthVia != "self" {
		t.Fatalf("join audit %+v", ev)
	}
	ev = e.auditSince(0)[2]
	if ev.Action != regmsg.ActionNetworkCreated || ev.ActorNodeID != o.ID || ev.AuthVia != "global_token" {
		t.Fatalf("create audit %+v", ev)
	}
}

func TestRegistry_C34_CreateNetwork(t *testing.T) {
	e := newEnv(t)
	o, other := e.register(), e.register()
	nw := e.network(other, "has-token", "open", func(r *regmsg.CreateNetwork) { r.NetworkAdminToken = netToken })
	_ = nw
	e.fail(e.signed(&regmsg.CreateNetwork{NodeID: o.ID, Name: "n1"}, o.id), regmsg.CodePermissionDenied)
	e.fail(e.send(&regmsg.CreateNetwork{NodeID: o.ID, Name: "n1"}), regmsg.CodeUnauthenticated)
	e.fail(e.send(tok(&regmsg.CreateNetwork{NodeID: o.ID, Name: "n1"}, "wrong-token-wrong")), regmsg.CodeUnauthenticated)
	e.fail(e.send(tok(&regmsg.CreateNetwork{NodeID: o.ID, Name: "n1"}, netToken)), regmsg.CodeUnauthenticated)
	e.fail(e.signed(tok(&regmsg.CreateNetwork{NodeID: o.ID, Name: "n1"}, globalToken), other.id), regmsg.CodeUnauthenticated)
	e.fail(e.sendRaw([]byte(`{"type":"create_network","node_id":4,"name":"n1","join_rule":"closed","admin_token":"`+globalToken+`"}`)), regmsg.CodeInvalidArgument)
	e.fail(e.sendRaw([]byte(`{"type":"create_network","node_id":4,"name":"n1","join_rule":"token","admin_token":"`+globalToken+`"}`)), regmsg.CodeInvalidArgument)
	r := e.send(tok(&regmsg.CreateNetwork{NodeID: o.ID, Name: "n1"}, globalToken))
	e.ok(r, "create_network")
	if r.int(t, "owner_node_id") != int64(o.ID) {
		t.Fatalf("reply %s", r.body)
	}
	if ev := e.lastAudit(); ev.ActorNodeID != 0 {
		t.Fatalf("token-only create has actor %d", ev.ActorNodeID)
	}
	e.fail(e.send(tok(&regmsg.CreateNetwork{NodeID: o.ID, Name: "n1"}, globalToken)), regmsg.CodeAlreadyExists)
	e.fail(e.send(tok(&regmsg.CreateNetwork{NodeID: 999, Name: "n2"}, globalToken)), regmsg.CodeNotFound)
	e.fail(e.send(tok(&regmsg.CreateNetwork{Name: "n3"}, globalToken)), regmsg.CodeNotFound)
}

func TestRegistry_C35_C36_C37_Join(t *testing.T) {
	e := newEnv(t)
	o, a := e.register(), e.register()
	inv := e.network(o, "invite-only", "invite")
	tk := e.network(o, "token-net", "token", func(r *regmsg.CreateNetwork) { r.NetworkAdminToken = netToken })
	r := e.signed(tok(&regmsg.JoinNetwork{NodeID: a.ID, NetworkID: inv}, globalToken), a.id)
	e.fail(r, regmsg.CodeFailedPrecondition)
	if !strings.Contains(r.err.Message, "pilotctl network accept") {
		t.Fatalf("message %q", r.err.Message)
	}
	e.fail(e.send(tok(&regmsg.JoinNetwork{NodeID: a.ID, NetworkID: inv}, globalToken)), regmsg.CodeFailedPrecondition)
	e.fail(e.signed(&regmsg.JoinNetwork{NodeID: a.ID, NetworkID: tk, Token: "wrong"}, a.id), regmsg.CodePermissionDenied)
	e.fail(e.signed(&regmsg.JoinNetwork{NodeID: a.ID, NetworkID: tk}, a.id), regmsg.CodePermissionDenied)
	e.ok(e.signed(tok(&regmsg.JoinNetwork{NodeID: a.ID, NetworkID: tk}, netToken), a.id), "join_network")
	r = e.signed(&regmsg.JoinNetwork{NodeID: a.ID, NetworkID: tk, Token: "join-secret"}, a.id)
	e.fail(r, regmsg.CodeAlreadyExists)
	e.fail(e.signed(&regmsg.JoinNetwork{NodeID: a.ID, NetworkID: 0}, a.id), regmsg.CodeFailedPrecondition)
	e.fail(e.signed(&regmsg.JoinNetwork{NodeID: a.ID, NetworkID: 77}, a.id), regmsg.CodeNotFound)
	// Unsigned join with only a network token: not authorized.
	b := e.register()
	e.fail(e.send(tok(&regmsg.JoinNetwork{NodeID: b.ID, NetworkID: tk}, netToken)), regmsg.CodePermissionDenied)
	e.ok(e.send(tok(&regmsg.JoinNetwork{NodeID: b.ID, NetworkID: tk}, globalToken)), "join_network")
}

func TestRegistry_C38_MaxMembers(t *testing.T) {
	e := newEnv(t)
	o, a, b, c := e.register(), e.register(), e.register(), e.register()
	open := e.network(o, "capped", "open")
	e.join(a, open)
	two := uint32(2)
	e.ok(e.signed(&regmsg.SetNetworkPolicy{NodeID: o.ID, NetworkID: open, MaxMembers: &two}, o.id), "set_network_policy")
	r := e.signed(&regmsg.JoinNetwork{NodeID: b.ID, NetworkID: open}, b.id)
	e.fail(r, regmsg.CodeResourceExhausted)
	if !strings.Contains(r.err.Message, "is full: 2 of 2 members") {
		t.Fatalf("message %q", r.err.Message)
	}
	inv := e.network(o, "capped-inv", "invite")
	e.invite(inv, a)
	e.ok(e.send(tok(&regmsg.InviteToNetwork{NetworkID: inv, TargetNodeID: b.ID}, globalToken)), "invite_to_network")
	e.ok(e.signed(&regmsg.SetNetworkPolicy{NodeID: o.ID, NetworkID: inv, MaxMembers: &two}, o.id), "set_network_policy")
	e.fail(e.send(tok(&regmsg.InviteToNetwork{NetworkID: inv, TargetNodeID: c.ID}, globalToken)), regmsg.CodeResourceExhausted)
	e.fail(e.signed(&regmsg.RespondInvite{NodeID: b.ID, NetworkID: inv, Accept: true}, b.id), regmsg.CodeResourceExhausted)
	// C46: the failed accept keeps the invite.
	r = e.signed(&regmsg.PollInvites{NodeID: b.ID}, b.id)
	e.ok(r, "poll_invites")
	var invites []regmsg.InviteEntry
	r.get(t, "invites", &invites)
	if len(invites) != 1 || invites[0].NetworkID != inv || invites[0].NetworkName != "capped-inv" {
		t.Fatalf("invites %s", r.body)
	}
	// A cap below the member count is refused.
	one := uint32(1)
	e.fail(e.signed(&regmsg.SetNetworkPolicy{NodeID: o.ID, NetworkID: open, MaxMembers: &one}, o.id), regmsg.CodeFailedPrecondition)
}

func TestRegistry_C39_C40_C41_PolicyMerge(t *testing.T) {
	e := newEnv(t)
	o := e.register()
	nw := e.network(o, "policy", "open")
	r := e.signed(&regmsg.SetNetworkPolicy{NodeID: o.ID, NetworkID: nw, AllowedPorts: []addr.Port{443, 80, 80}}, o.id)
	e.ok(r, "set_network_policy")
	if string(r.fields["allowed_ports"]) != "[80,443]" {
		t.Fatalf("ports %s", r.body)
	}
	fifty := uint32(50)
	r = e.signed(&regmsg.SetNetworkPolicy{NodeID: o.ID, NetworkID: nw, MaxMembers: &fifty}, o.id)
	e.ok(r, "set_network_policy")
	if string(r.fields["allowed_ports"]) != "[80,443]" || r.int(t, "max_members") != 50 {
		t.Fatalf("merge %s", r.body)
	}
	r = e.signed(&regmsg.SetNetworkPolicy{NodeID: o.ID, NetworkID: nw, AllowedPorts: []addr.Port{}}, o.id)
	e.ok(r, "set_network_policy")
	if string(r.fields["allowed_ports"]) != "[]" || r.int(t, "max_members") != 50 {
		t.Fatalf("clear %s", r.body)
	}
	r = e.signed(&regmsg.GetNetworkPolicy{NetworkRef: regmsg.NetworkRef{NodeID: o.ID, NetworkID: nw}}, o.id)
	e.ok(r, "get_network_policy")
	if string(r.fields["allowed_ports"]) != "[]" {
		t.Fatalf("get %s", r.body)
	}
	// Removing allowed_ports from a signed request breaks its signature.
	req := e.sign(&regmsg.SetNetworkPolicy{NodeID: o.ID, NetworkID: nw, MaxMembers: &fifty, AllowedPorts: []addr.Port{22}}, o.id).(*regmsg.SetNetworkPolicy)
	req.AllowedPorts = nil
	e.fail(e.send(req), regmsg.CodeUnauthenticated)
	ports := make([]string, 257)
	for i := range ports {
		ports[i] = fmtUint(uint64(i + 1))
	}
	e.fail(e.sendRaw([]byte(`{"type":"set_network_policy","network_id":1,"allowed_ports":[`+strings.Join(ports, ",")+`]}`)), regmsg.CodeInvalidArgument)
	e.fail(e.sendRaw([]byte(`{"type":"set_network_policy","network_id":1,"allowed_ports":[0]}`)), regmsg.CodeInvalidArgument)
	// Backbone policy reads are the empty policy.
	r = e.signed(&regmsg.GetNetworkPolicy{NetworkRef: regmsg.NetworkRef{NodeID: o.ID, NetworkID: 0}}, o.id)
	e.ok(r, "get_network_policy")
	if string(r.fields["allowed_ports"]) != "[]" {
		t.Fatalf("backbone policy %s", r.body)
	}
	e.fail(e.send(&regmsg.GetNetworkPolicy{NetworkRef: regmsg.NetworkRef{NetworkID: 0}}), regmsg.CodeUnauthenticated)
}

func TestRegistry_C42_PolicyEpoch(t *testing.T) {
	e := newEnv(t)
	o, a, b := e.register(), e.register(), e.register()
	nw := e.network(o, "epoch", "open")
	inv := e.network(o, "epoch-inv", "invite")
	hb := func() int64 {
		r := e.signed(&regmsg.Heartbeat{NodeID: o.ID}, o.id)
		e.ok(r, "heartbeat")
		return r.int(t, "policy_epoch")
	}
	steps := []func(){
		func() { e.join(a, nw) },
		func() {
			mm := uint32(9)
			e.ok(e.signed(&regmsg.SetNetworkPolicy{NodeID: o.ID, NetworkID: nw, MaxMembers: &mm}, o.id), "set_network_policy")
		},
		func() {
			e.ok(e.signed(&regmsg.LeaveNetwork{NetworkRef: regmsg.NetworkRef{NodeID: a.ID, NetworkID: nw}}, a.id), "leave_network")
		},
		func() { e.join(b, nw) },
		func() {
			e.ok(e.signed(&regmsg.KickMember{MemberTarget: regmsg.MemberTarget{NodeID: o.ID, NetworkID: nw, TargetNodeID: b.ID}}, o.id), "kick_member")
		},
		func() { e.invite(inv, a) },
		func() {
			e.ok(e.signed(&regmsg.ReportTrust{TrustPair: regmsg.TrustPair{NodeID: a.ID, PeerID: b.ID}}, a.id), "report_trust")
			e.ok(e.signed(&regmsg.ReportTrust{TrustPair: regmsg.TrustPair{NodeID: b.ID, PeerID: a.ID}}, b.id), "report_trust")
		},
		func() {
			e.ok(e.signed(&regmsg.RevokeTrust{TrustPair: regmsg.TrustPair{NodeID: b.ID, PeerID: a.ID}}, b.id), "revoke_trust")
		},
		func() {
			e.ok(e.signed(&regmsg.DeleteNetwork{NetworkRef: regmsg.NetworkRef{NodeID: o.ID, NetworkID: nw}}, o.id), "delete_network")
		},
	}
	prev := hb()
	for i, s := range steps {
		s()
		if got := hb(); got <= prev {
			t.Fatalf("step %d: policy_epoch %d not above %d", i, got, prev)
		} else {
			prev = got
		}
	}
}

func TestRegistry_C43_C44_Invites(t *testing.T) {
	e := newEnv(t)
	o := e.register()
	target := e.register()
	var nets []addr.NetworkID
	for i := 0; i < 101; i++ {
		nets = append(nets, e.network(o, "inv-"+fmtUint(uint64(i)), "invite"))
	}
	r := e.signed(&regmsg.InviteToNetwork{InviterID: o.ID, NetworkID: nets[0], TargetNodeID: target.ID}, o.id)
	e.ok(r, "invite_to_network")
	head := e.head()
	r = e.signed(&regmsg.InviteToNetwork{InviterID: o.ID, NetworkID: nets[0], TargetNodeID: target.ID}, o.id)
	e.ok(r, "invite_to_network")
	var status string
	r.get(t, "status", &status)
	if status != "already_invited" || e.head() != head {
		t.Fatalf("second invite: %s (audit %d→%d)", r.body, head, e.head())
	}
	for _, nw := range nets[1:100] {
		e.ok(e.send(tok(&regmsg.InviteToNetwork{NetworkID: nw, TargetNodeID: target.ID}, globalToken)), "invite_to_network")
	}
	e.fail(e.send(tok(&regmsg.InviteToNetwork{NetworkID: nets[100], TargetNodeID: target.ID}, globalToken)), regmsg.CodeResourceExhausted)
	// Open networks refuse invites; self-invites are invalid.
	open := e.network(o, "not-invite", "open")
	e.fail(e.send(tok(&regmsg.InviteToNetwork{NetworkID: open, TargetNodeID: target.ID}, globalToken)), regmsg.CodeFailedPrecondition)
	e.fail(e.signed(&regmsg.InviteToNetwork{InviterID: o.ID, NetworkID: nets[0], TargetNodeID: o.ID}, o.id), regmsg.CodeInvalidArgument)
	// poll_invites pages.
	r = e.signed(&regmsg.PollInvites{NodeID: target.ID}, target.id)
	e.ok(r, "poll_invites")
	var invs []regmsg.InviteEntry
	r.get(t, "invites", &invs)
	if len(invs) != 100 || r.has("next_cursor") {
		t.Fatalf("poll: %d invites", len(invs))
	}
	r = e.signed(&regmsg.PollInvites{NodeID: target.ID, Page: regmsg.Page{Limit: 60}}, target.id)
	var cursor string
	r.get(t, "next_cursor", &cursor)
	r = e.signed(&regmsg.PollInvites{NodeID: target.ID, Page: regmsg.Page{Limit: 60, Cursor: cursor}}, target.id)
	r.get(t, "invites", &invs)
	if len(invs) != 40 {
		t.Fatalf("second page: %d", len(invs))
	}
}

func TestRegistry_C45_InviteExpiry(t *testing.T) {
	e := newEnv(t)
	e.cfg.InviteTTL = time.Hour
	e.reopen()
	o, a := e.register(), e.register()
	nw := e.network(o, "expiring", "invite")
	e.ok(e.send(tok(&regmsg.InviteToNetwork{NetworkID: nw, TargetNodeID: a.ID}, globalToken)), "invite_to_network")
	e.reopen()
	r := e.signed(&regmsg.PollInvites{NodeID: a.ID}, a.id)
	var invs []regmsg.InviteEntry
	r.get(t, "invites", &invs)
	if len(invs) != 1 {
		t.Fatal("invite lost across restart")
	}
	e.clk.Add(time.Hour + time.Second)
	r = e.signed(&regmsg.PollInvites{NodeID: a.ID}, a.id)
	r.get(t, "invites", &invs)
	if len(invs) != 0 {
		t.Fatal("expired invite returned")
	}
	e.fail(e.signed(&regmsg.RespondInvite{NodeID: a.ID, NetworkID: nw, Accept: true}, a.id), regmsg.CodeNotFound)
	head := e.head()
	if err := e.h.Sweep(t.Context()); err != nil {
		t.Fatal(err)
	}
	ev := e.auditSince(head)
	if len(ev) != 1 || ev[0].Action != regmsg.ActionInviteRemoved || ev[0].AuthVia != "system" ||
		Details(ev[0].Attrs) != "network_id="+itoa(nw)+", node_id="+itoa(a.ID)+", inviter_id=0, reason=expired" {
		t.Fatalf("sweep audit %+v", ev)
	}
	if !strings.Contains(e.audit.String(), `"reason":"expired"`) {
		t.Fatal("no audit log record for the sweep")
	}
}

// §7.7 / §9: inviting again after an invite expired, before the sweeper
// removed it, records the expired invite's removal first, then the new
// invite; the sweeper then has nothing left to remove.
func TestRegistry_C45_ReinviteBeforeTheSweep(t *testing.T) {
	e := newEnv(t)
	e.cfg.InviteTTL = time.Hour
	e.reopen()
	o, a := e.register(), e.register()
	nw := e.network(o, "reinvite", "invite")
	invite := func() {
		t.Helper()
		r := e.signed(&regmsg.InviteToNetwork{InviterID: o.ID, NetworkID: nw, TargetNodeID: a.ID}, o.id)
		e.ok(r, "invite_to_network")
		var status string
		if r.get(t, "status", &status); status != string(regmsg.InviteInvited) {
			t.Fatalf("status %s", r.body)
		}
	}
	invite()
	e.clk.Add(2 * time.Hour)
	head := e.head()
	invite()
	ev := e.auditSince(head)
	if len(ev) != 2 || ev[0].Action != regmsg.ActionInviteRemoved || ev[0].AuthVia != "system" ||
		Details(ev[0].Attrs) != "network_id="+itoa(nw)+", node_id="+itoa(a.ID)+", inviter_id="+itoa(o.ID)+", reason=expired" ||
		ev[1].Action != regmsg.ActionInviteCreated {
		t.Fatalf("audit %+v", ev)
	}
	head = e.head()
	if err := e.h.Sweep(t.Context()); err != nil {
		t.Fatal(err)
	}
	if ev := e.auditSince(head); len(ev) != 0 {
		t.Fatalf("the sweep removed %+v", ev)
	}
	var invs []regmsg.InviteEntry
	e.signed(&regmsg.PollInvites{NodeID: a.ID}, a.id).get(t, "invites", &invs)
	if len(invs) != 1 {
		t.Fatalf("%d pending invites, want the new one", len(invs))
	}
}

func TestRegistry_C47_DeleteRemovesInvites(t *testing.T) {
	e := newEnv(t)
	o, a := e.register(), e.register()
	nw := e.network(o, "doomed", "invite")
	e.ok(e.send(tok(&regmsg.InviteToNetwork{NetworkID: nw, TargetNodeID: a.ID}, globalToken)), "invite_to_network")
	e.ok(e.send(tok(&regmsg.DeleteNetwork{NetworkRef: regmsg.NetworkRef{NetworkID: nw}}, globalToken)), "delete_network")
	ev := e.lastAudit()
	if Details(ev.Attrs) != "network_id="+itoa(nw)+", name=doomed, members=1, invites_removed=1" {
		t.Fatalf("details %q", Details(ev.Attrs))
	}
	e.fail(e.signed(&regmsg.RespondInvite{NodeID: a.ID, NetworkID: nw, Accept: true}, a.id), regmsg.CodeNotFound)
	e.fail(e.send(tok(&regmsg.DeleteNetwork{NetworkRef: regmsg.NetworkRef{NetworkID: nw}}, globalToken)), regmsg.CodeNotFound)
	if next := e.network(o, "doomed", "open"); next == nw {
		t.Fatal("network ID reused")
	}
}

func TestRegistry_C48_RespondInvite(t *testing.T) {
	e := newEnv(t)
	o, a, b := e.register(), e.register(), e.register()
	nw := e.network(o, "welcome", "invite")
	e.ok(e.signed(&regmsg.InviteToNetwork{InviterID: o.ID, NetworkID: nw, TargetNodeID: a.ID}, o.id), "invite_to_network")
	e.ok(e.signed(&regmsg.InviteToNetwork{InviterID: o.ID, NetworkID: nw, TargetNodeID: b.ID}, o.id), "invite_to_network")
	for i := 0; i < 2; i++ {
		r := e.signed(&regmsg.PollInvites{NodeID: a.ID}, a.id)
		var invs []regmsg.InviteEntry
		r.get(t, "invites", &invs)
		if len(invs) != 1 || invs[0].InviterID != o.ID {
			t.Fatalf("poll %d: %s", i, r.body)
		}
	}
	head := e.head()
	r := e.signed(&regmsg.RespondInvite{NodeID: a.ID, NetworkID: nw, Accept: true}, a.id)
	e.ok(r, "respond_invite")
	var role string
	r.get(t, "role", &role)
	if role != "member" || !r.has("address") {
		t.Fatalf("reply %s", r.body)
	}
	ev := e.auditSince(head)
	if len(ev) != 2 || ev[0].Action != regmsg.ActionInviteResponded || ev[1].Action != regmsg.ActionNetworkJoined ||
		Details(ev[1].Attrs) != "node_id="+itoa(a.ID)+", network_id="+itoa(nw)+", join_rule=invite" {
		t.Fatalf("audit %+v", ev)
	}
	r = e.signed(&regmsg.RespondInvite{NodeID: b.ID, NetworkID: nw, Accept: false}, b.id)
	e.ok(r, "respond_invite")
	e.fail(e.signed(&regmsg.RespondInvite{NodeID: b.ID, NetworkID: nw, Accept: true}, b.id), regmsg.CodeNotFound)
}

func TestRegistry_C49_BackboneImmutable(t *testing.T) {
	e := newEnv(t)
	n := e.register()
	for _, req := range []regmsg.Request{
		&regmsg.RenameNetwork{NetworkID: 0, Name: "other"},
		&regmsg.DeleteNetwork{NetworkRef: regmsg.NetworkRef{NetworkID: 0}},
		&regmsg.JoinNetwork{NodeID: n.ID, NetworkID: 0},
		&regmsg.LeaveNetwork{NetworkRef: regmsg.NetworkRef{NodeID: n.ID, NetworkID: 0}},
		&regmsg.KickMember{MemberTarget: regmsg.MemberTarget{NetworkID: 0, TargetNodeID: n.ID}},
		&regmsg.SetNetworkPolicy{NetworkID: 0, Description: new(string)},
		&regmsg.PromoteMember{MemberTarget: regmsg.MemberTarget{NetworkID: 0, TargetNodeID: n.ID}},
		&regmsg.InviteToNetwork{NetworkID: 0, TargetNodeID: n.ID},
	} {
		e.fail(e.send(tok(req, globalToken)), regmsg.CodeFailedPrecondition)
	}
}

func TestRegistry_C50_ListNetworks(t *testing.T) {
	e := newEnv(t)
	o, a := e.register(), e.register()
	n1 := e.network(o, "mine-one", "open")
	e.network(o, "mine-two", "open")
	e.join(a, n1)
	r := e.signed(&regmsg.ListNetworks{NodeID: a.ID}, a.id)
	e.ok(r, "list_networks")
	var nets []regmsg.NetworkEntry
	r.get(t, "networks", &nets)
	if len(nets) != 1 || nets[0].ID != n1 || nets[0].Role != "member" || nets[0].Members != 2 {
		t.Fatalf("list %s", r.body)
	}
	e.fail(e.signed(&regmsg.ListNetworks{NodeID: a.ID, All: true}, a.id), regmsg.CodePermissionDenied)
	e.fail(e.send(&regmsg.ListNetworks{}), regmsg.CodeUnauthenticated)
	r = e.send(tok(&regmsg.ListNetworks{}, globalToken))
	r.get(t, "networks", &nets)
	if len(nets) != 3 || nets[0].ID != 0 || nets[0].Enterprise || !nets[1].Enterprise {
		t.Fatalf("all %s", r.body)
	}
	r = e.send(tok(&regmsg.ListNetworks{Page: regmsg.Page{Limit: 2}}, globalToken))
	var cursor string
	r.get(t, "next_cursor", &cursor)
	r = e.send(tok(&regmsg.ListNetworks{Page: regmsg.Page{Limit: 2, Cursor: cursor}}, globalToken))
	r.get(t, "networks", &nets)
	if len(nets) != 1 || r.has("next_cursor") {
		t.Fatalf("page 2 %s", r.body)
	}
	e.fail(e.send(tok(&regmsg.ListNetworks{Page: regmsg.Page{Cursor: "zz"}}, globalToken)), regmsg.CodeInvalidArgument)
}

func TestRegistry_C51_ListNodes(t *testing.T) {
	e := newEnv(t)
	o, a, x := e.register(), e.register(), e.register()
	nw := e.network(o, "listing", "open")
	e.join(a, nw)
	e.fail(e.signed(&regmsg.ListNodes{NodeID: x.ID, NetworkID: nw}, x.id), regmsg.CodePermissionDenied)
	r := e.signed(&regmsg.ListNodes{NodeID: a.ID, NetworkID: nw}, a.id)
	e.ok(r, "list_nodes")
	var nodes []regmsg.NodeEntry
	r.get(t, "nodes", &nodes)
	if len(nodes) != 2 || nodes[0].Role != "owner" || nodes[1].Role != "member" {
		t.Fatalf("nodes %s", r.body)
	}
	e.fail(e.signed(&regmsg.ListNodes{NodeID: a.ID, NetworkID: 0}, a.id), regmsg.CodePermissionDenied)
	r = e.send(tok(&regmsg.ListNodes{NetworkID: 0}, globalToken))
	r.get(t, "nodes", &nodes)
	if len(nodes) != 3 {
		t.Fatalf("backbone %s", r.body)
	}
}

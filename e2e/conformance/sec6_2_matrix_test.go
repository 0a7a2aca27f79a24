package conformance

import (
	"encoding/json"
	"strings"
	"testing"
)

// matrixNet is a network with an owner, two admins, two members, an
// outsider and a network admin token.
type matrixNet struct {
	net                                             int64
	owner, admin, admin2, member, member2, out, tgt *node
	tok                                             string
}

var matrixSeq int

func newMatrixNet(t *testing.T, c *conn, rule string) *matrixNet {
	t.Helper()
	matrixSeq++
	f := &matrixNet{tok: "matrix-network-token-" + fmtInt(int64(matrixSeq))}
	ks := c.registerMany(7)
	f.owner, f.admin, f.admin2, f.member, f.member2, f.out, f.tgt = ks[0], ks[1], ks[2], ks[3], ks[4], ks[5], ks[6]
	f.net = c.createNet(f.owner, "mx-"+fmtInt(int64(matrixSeq)), rule, obj{"network_admin_token": f.tok})
	for _, n := range []*node{f.admin, f.admin2, f.member, f.member2} {
		if rule == "invite" {
			c.ok(obj{"type": "invite_to_network", "network_id": f.net, "target_node_id": n.id, "admin_token": adminTok})
			c.ok(n.sign(obj{"type": "respond_invite", "node_id": n.id, "network_id": f.net, "accept": true}))
		} else {
			c.join(n, f.net)
		}
	}
	for _, n := range []*node{f.admin, f.admin2} {
		c.ok(obj{"type": "promote_member", "network_id": f.net, "target_node_id": n.id, "admin_token": adminTok})
	}
	return f
}

// §6.2 role matrix, cell by cell. ✓ = success, ✗ = permission_denied
// (signed callers), P = failed_precondition. "Non-members have no role; for
// them every role-gated cell is ✗". The caller field is `node_id` except in
// invite_to_network (`inviter_id`).
func TestConf_6_2_Matrix(t *testing.T) {
	r := start(t, "-rate-limit", "off")
	c := r.dial()
	const (
		ok   = "ok"
		deny = "permission_denied"
		pre  = "failed_precondition"
	)
	type op struct {
		name  string
		rule  string
		build func(f *matrixNet) obj // without caller fields
		// expected outcome per caller: owner, admin, member, outsider, global, network token
		want   [6]string
		mutate bool
	}
	ops := []op{
		{"delete_network", "", func(f *matrixNet) obj { return obj{"type": "delete_network", "network_id": f.net} },
			[6]string{ok, deny, deny, deny, ok, ok}, true},
		{"rename_network", "", func(f *matrixNet) obj {
			return obj{"type": "rename_network", "network_id": f.net, "name": "renamed-" + fmtInt(f.net)}
		}, [6]string{ok, ok, deny, deny, ok, ok}, true},
		{"set_network_policy", "", func(f *matrixNet) obj {
			return obj{"type": "set_network_policy", "network_id": f.net, "max_members": 77}
		}, [6]string{ok, ok, deny, deny, ok, ok}, true},
		{"get_network_policy", "", func(f *matrixNet) obj { return obj{"type": "get_network_policy", "network_id": f.net} },
			[6]string{ok, ok, ok, deny, ok, ok}, false},
		{"invite_to_network", "invite", func(f *matrixNet) obj {
			return obj{"type": "invite_to_network", "network_id": f.net, "target_node_id": f.tgt.id}
		}, [6]string{ok, ok, deny, deny, ok, ok}, true},
		{"kick a member", "", func(f *matrixNet) obj {
			return obj{"type": "kick_member", "network_id": f.net, "target_node_id": f.member2.id}
		}, [6]string{ok, ok, deny, deny, ok, ok}, true},
		{"kick an admin", "", func(f *matrixNet) obj {
			return obj{"type": "kick_member", "network_id": f.net, "target_node_id": f.admin2.id}
		}, [6]string{ok, deny, deny, deny, ok, ok}, true},
		{"kick the owner", "", func(f *matrixNet) obj {
			return obj{"type": "kick_member", "network_id": f.net, "target_node_id": f.owner.id}
		}, [6]string{pre, deny, deny, deny, pre, pre}, false},
		{"promote_member", "", func(f *matrixNet) obj {
			return obj{"type": "promote_member", "network_id": f.net, "target_node_id": f.member2.id}
		}, [6]string{ok, deny, deny, deny, ok, ok}, true},
		{"demote_member", "", func(f *matrixNet) obj {
			return obj{"type": "demote_member", "network_id": f.net, "target_node_id": f.admin2.id}
		}, [6]string{ok, deny, deny, deny, ok, ok}, true},
		{"promote the owner", "", func(f *matrixNet) obj {
			return obj{"type": "promote_member", "network_id": f.net, "target_node_id": f.owner.id}
		}, [6]string{pre, deny, deny, deny, pre, pre}, false},
		{"demote the owner", "", func(f *matrixNet) obj {
			return obj{"type": "demote_member", "network_id": f.net, "target_node_id": f.owner.id}
		}, [6]string{pre, deny, deny, deny, pre, pre}, false},
		{"transfer_ownership", "", func(f *matrixNet) obj {
			return obj{"type": "transfer_ownership", "network_id": f.net, "new_owner_id": f.member2.id}
		}, [6]string{ok, deny, deny, deny, ok, ok}, true},
		{"get_member_role", "", func(f *matrixNet) obj {
			return obj{"type": "get_member_role", "network_id": f.net, "target_node_id": f.member2.id}
		}, [6]string{ok, ok, ok, deny, ok, ok}, false},
		{"list_nodes", "", func(f *matrixNet) obj { return obj{"type": "list_nodes", "network_id": f.net} },
			[6]string{ok, ok, ok, deny, ok, ok}, false},
		{"get_audit_log", "", func(f *matrixNet) obj { return obj{"type": "get_audit_log", "network_id": f.net} },
			[6]string{ok, ok, deny, deny, ok, ok}, false},
	}
	shared := map[string]*matrixNet{}
	fixture := func(rule string, fresh bool) *matrixNet {
		if fresh {
			return newMatrixNet(t, c, rule)
		}
		if shared[rule] == nil {
			shared[rule] = newMatrixNet(t, c, rule)
		}
		return shared[rule]
	}
	callers := []string{"owner", "admin", "member", "outsider", "global token", "network token"}
	for _, o := range ops {
		for i, want := range o.want {
			f := fixture(o.rule, o.mutate && want == ok)
			req := o.build(f)
			callerField := "node_id"
			if req["type"] == "invite_to_network" {
				callerField = "inviter_id"
			}
			var caller *node
			switch i {
			case 0:
				caller = f.owner
			case 1:
				caller = f.admin
			case 2:
				caller = f.member
			case 3:
				caller = f.out
			case 4:
				req["admin_token"] = adminTok
			case 5:
				req["admin_token"] = f.tok
			}
			if caller != nil {
				req[callerField] = caller.id
				req = caller.sign(req)
			}
			p := c.send(req)
			got := p.code()
			if p.typ() != "error" {
				got = ok
			}
			if got != want {
				t.Errorf("%s by %s: want %s, got %s", o.name, callers[i], want, p)
				continue
			}
			// "The message names the required role and the caller's actual role."
			if want == deny && (i == 1 || i == 2) {
				role := callers[i]
				if !strings.Contains(p.msg(), role) || !(strings.Contains(p.msg(), "owner") || strings.Contains(p.msg(), "admin")) {
					t.Errorf("%s by %s: message does not name the roles: %q", o.name, role, p.msg())
				}
			}
		}
	}
	// list_nodes (network 0): ✗ for every role, ✓ for the global token.
	f := fixture("", false)
	for _, n := range []*node{f.owner, f.admin, f.member} {
		c.fail(n.sign(obj{"type": "list_nodes", "node_id": n.id, "network_id": 0}), deny, "")
	}
	c.ok(obj{"type": "list_nodes", "network_id": 0, "admin_token": adminTok})
	// list_nodes network 0 with a network token: "—" → non-matching token.
	c.fail(obj{"type": "list_nodes", "network_id": 0, "admin_token": f.tok}, "unauthenticated", "")
	// leave_network: owner P; admin/member ✓ (self); global ✓ for the node, owner P; network token ✗.
	g := newMatrixNet(t, c, "")
	c.fail(g.owner.sign(obj{"type": "leave_network", "node_id": g.owner.id, "network_id": g.net}), pre, "")
	c.fail(obj{"type": "leave_network", "node_id": g.owner.id, "network_id": g.net, "admin_token": adminTok}, pre, "")
	c.fail(obj{"type": "leave_network", "node_id": g.member.id, "network_id": g.net, "admin_token": g.tok}, deny, "")
	c.ok(g.admin.sign(obj{"type": "leave_network", "node_id": g.admin.id, "network_id": g.net}))
	c.ok(g.member.sign(obj{"type": "leave_network", "node_id": g.member.id, "network_id": g.net}))
	c.ok(obj{"type": "leave_network", "node_id": g.member2.id, "network_id": g.net, "admin_token": adminTok})
	// join_network: "the node itself, signed, or the global token for it"
	c.ok(obj{"type": "join_network", "node_id": g.member2.id, "network_id": g.net, "admin_token": adminTok})
	rec := auditRec(t, r, c.auditHead())
	if rec["audit_action"] != "network.joined" || rec["auth_via"] != "global_token" || rec["actor_node_id"] != jsonNum(0) {
		t.Errorf("join by the global token: %v", rec)
	}
	// respond_invite: "the invited node only (self)"
	h := newMatrixNet(t, c, "invite")
	c.ok(h.owner.sign(obj{"type": "invite_to_network", "inviter_id": h.owner.id, "network_id": h.net, "target_node_id": h.out.id}))
	// §6.1 "`rotate_key`, `respond_invite`, polls and trust messages always
	// need the node's own signature". Ambiguous code for a token-only request
	// (a matching global token whose scope does not cover the operation reads
	// as permission_denied; an unsigned Signed-class request as
	// unauthenticated): only "not granted" is asserted.
	for _, q := range []obj{
		{"type": "respond_invite", "node_id": h.out.id, "network_id": h.net, "accept": true},
		{"type": "poll_invites", "node_id": h.out.id},
		{"type": "poll_handshakes", "node_id": h.out.id},
		{"type": "report_trust", "node_id": h.out.id, "peer_id": h.owner.id},
		{"type": "check_trust", "node_id": h.out.id, "peer_id": h.owner.id},
	} {
		q["admin_token"] = adminTok
		if p := c.send(q); p.code() != "unauthenticated" && p.code() != "permission_denied" {
			t.Errorf("%s by the global token: %s", q["type"], p)
		}
	}
	c.ok(h.out.sign(obj{"type": "respond_invite", "node_id": h.out.id, "network_id": h.net, "accept": true}))
	// create_network: ✗ for every role (signed without the global token).
	c.fail(f.owner.sign(obj{"type": "create_network", "node_id": f.owner.id, "name": "mx-new"}), deny, "")
	c.fail(f.owner.sign(obj{"type": "create_network", "node_id": f.owner.id, "name": "mx-new", "admin_token": f.tok}), deny, "")
}

func jsonNum(n int64) json.Number { return json.Number(fmtInt(n)) }

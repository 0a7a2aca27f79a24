package conformance

import (
	"fmt"
	"strings"
	"testing"
)

// netFixture: owner, admin, member, outsider in a network with a network token.
type netFixture struct {
	c                              *conn
	owner, admin, member, outsider *node
	net                            int64
	netTok                         string
}

const netTok = "network-admin-token-0123456789"

func setupNet(t *testing.T, c *conn, name, rule string) *netFixture {
	f := &netFixture{c: c, netTok: netTok}
	f.owner = c.register(nil)
	f.admin = c.register(nil)
	f.member = c.register(nil)
	f.outsider = c.register(nil)
	f.net = c.createNet(f.owner, name, "open", obj{"network_admin_token": netTok})
	c.join(f.admin, f.net)
	c.join(f.member, f.net)
	c.ok(f.owner.sign(obj{"type": "promote_member", "node_id": f.owner.id, "network_id": f.net, "target_node_id": f.admin.id}))
	return f
}

// §6.2 kick cells, §14 items 28–29.
func TestConf_28_KickMatrix(t *testing.T) {
	r := start(t, "-rate-limit", "off")
	c := r.dial()
	f := setupNet(t, c, "kicks", "open")
	kick := func(by *node, target *node, tok string) obj {
		req := obj{"type": "kick_member", "network_id": f.net, "target_node_id": target.id}
		if tok != "" {
			req["admin_token"] = tok
		}
		if by != nil {
			req["node_id"] = by.id
			return by.sign(req)
		}
		return req
	}
	// kicking the owner
	c.fail(kick(nil, f.owner, adminTok), "failed_precondition", "")
	c.fail(kick(nil, f.owner, netTok), "failed_precondition", "")
	c.fail(kick(f.owner, f.owner, ""), "failed_precondition", "leave")
	c.fail(kick(f.admin, f.owner, ""), "permission_denied", "")
	c.fail(kick(f.member, f.owner, ""), "permission_denied", "")
	c.fail(kick(f.outsider, f.owner, ""), "permission_denied", "")
	// self-kick for any role (and non-member)
	c.fail(kick(f.admin, f.admin, ""), "failed_precondition", "leave")
	c.fail(kick(f.member, f.member, ""), "failed_precondition", "leave")
	c.fail(kick(f.outsider, f.outsider, ""), "failed_precondition", "leave")
	// admin kicking admin
	a2 := c.register(nil)
	c.join(a2, f.net)
	c.ok(obj{"type": "promote_member", "network_id": f.net, "target_node_id": a2.id, "admin_token": netTok})
	c.fail(kick(f.admin, a2, ""), "permission_denied", "")
	// member kicks member
	m2 := c.register(nil)
	c.join(m2, f.net)
	c.fail(kick(f.member, m2, ""), "permission_denied", "")
	// admin kicks member
	p := c.ok(kick(f.admin, m2, ""))
	if p.num("network_id") != f.net || p.num("target_node_id") != m2.id {
		t.Errorf("kick_member_ok: %s", p)
	}
	// kick a non-member by an admin: not_found
	c.fail(kick(f.admin, m2, ""), "not_found", "")
	// kick non-member by a member: permission_denied (authz first)
	c.fail(kick(f.member, m2, ""), "permission_denied", "")
	// unsigned, no token: unauthenticated; wrong token unsigned: unauthenticated
	c.fail(kick(nil, f.member, ""), "unauthenticated", "")
	c.fail(kick(nil, f.member, "wrong-token-wrong-token"), "unauthenticated", "admin token not accepted")
	// claimed node_id without signature
	c.fail(obj{"type": "kick_member", "node_id": f.owner.id, "network_id": f.net, "target_node_id": f.member.id}, "unauthenticated", "")
	// owner kicks admin
	c.ok(kick(f.owner, a2, ""))
	// network token kicks member
	c.ok(kick(nil, f.member, netTok))
	// network 0
	req := obj{"type": "kick_member", "network_id": 0, "target_node_id": f.member.id, "admin_token": adminTok}
	c.fail(req, "failed_precondition", "")
	// owner leaving
	c.fail(f.owner.sign(obj{"type": "leave_network", "node_id": f.owner.id, "network_id": f.net}), "failed_precondition",
		"transfer ownership first: pilotctl network transfer "+fmtInt(f.net)+" --node <id>")
	// promote/demote owner
	c.fail(obj{"type": "demote_member", "network_id": f.net, "target_node_id": f.owner.id, "admin_token": adminTok}, "failed_precondition", "")
	c.fail(f.admin.sign(obj{"type": "demote_member", "node_id": f.admin.id, "network_id": f.net, "target_node_id": f.owner.id}), "permission_denied", "")
	// promote by admin
	p = c.fail(f.admin.sign(obj{"type": "promote_member", "node_id": f.admin.id, "network_id": f.net, "target_node_id": f.outsider.id}), "permission_denied", "")
	if !strings.Contains(p.msg(), "admin") {
		t.Errorf("message does not name the role: %s", p)
	}
}

// §7.4.1 / §14 item 34.
func TestConf_34_CreateNetwork(t *testing.T) {
	r := start(t, "-rate-limit", "off")
	c := r.dial()
	n := c.register(nil)
	base := func() obj { return obj{"type": "create_network", "node_id": n.id, "name": "cn"} }
	c.fail(n.sign(base()), "permission_denied", "")
	c.fail(base(), "unauthenticated", "")
	b := base()
	b["admin_token"] = "not-the-token-at-all"
	c.fail(b, "unauthenticated", "")
	b = base()
	b["admin_token"] = adminTok
	b = n.sign(b)
	b["signature"] = b["signature"].(string)[:10] + "AAAA" + b["signature"].(string)[14:]
	c.fail(b, "unauthenticated", "")
	b = base()
	b["admin_token"] = adminTok
	b["join_rule"] = "closed"
	c.fail(n.sign(b), "invalid_argument", "")
	b = base()
	b["admin_token"] = adminTok
	b["join_rule"] = "token"
	b["token"] = ""
	c.fail(n.sign(b), "invalid_argument", "")
	b = base()
	b["admin_token"] = adminTok
	b["join_rule"] = "open"
	b["token"] = "x"
	c.fail(n.sign(b), "invalid_argument", "")
	b = base()
	b["admin_token"] = adminTok
	b["name"] = "backbone"
	c.fail(n.sign(b), "invalid_argument", "")
	b = base()
	b["admin_token"] = adminTok
	b["network_admin_token"] = "short"
	c.fail(n.sign(b), "invalid_argument", "")
	// token-only, creator absent → not_found
	c.fail(obj{"type": "create_network", "name": "cn", "admin_token": adminTok}, "not_found", "")
	// token-only, creator unknown → not_found
	c.fail(obj{"type": "create_network", "node_id": 9999, "name": "cn", "admin_token": adminTok}, "not_found", "")
	// ok token-only
	p := c.ok(obj{"type": "create_network", "node_id": n.id, "name": "cn", "admin_token": adminTok, "enterprise": false})
	if p.num("network_id") != 1 || p.str("name") != "cn" || p.m["enterprise"] != true || p.str("join_rule") != "open" || p.num("owner_node_id") != n.id {
		t.Errorf("create_network_ok: %s", p)
	}
	c.fail(obj{"type": "create_network", "node_id": n.id, "name": "cn", "admin_token": adminTok}, "already_exists", "")
	// network token can't create
	p2 := c.ok(n.sign(obj{"type": "create_network", "node_id": n.id, "name": "cn2", "admin_token": adminTok, "network_admin_token": netTok}))
	_ = p2
	c.fail(n.sign(obj{"type": "create_network", "node_id": n.id, "name": "cn3", "admin_token": netTok}), "permission_denied", "")
	c.fail(obj{"type": "create_network", "node_id": n.id, "name": "cn3", "admin_token": netTok}, "unauthenticated", "")
}

// §7.4.2 / §14 items 35–38.
func TestConf_35_Join(t *testing.T) {
	r := start(t, "-rate-limit", "off")
	c := r.dial()
	o := c.register(nil)
	a := c.register(nil)
	inv := c.createNet(o, "inv", "invite", obj{"network_admin_token": netTok})
	want := "network " + fmtInt(inv) + " is invite-only: ask an admin for an invite, then run `pilotctl network accept " + fmtInt(inv) + "`"
	c.fail(a.sign(obj{"type": "join_network", "node_id": a.id, "network_id": inv}), "failed_precondition", want)
	c.fail(a.sign(obj{"type": "join_network", "node_id": a.id, "network_id": inv, "admin_token": adminTok}), "failed_precondition", want)
	c.fail(obj{"type": "join_network", "node_id": a.id, "network_id": inv, "admin_token": adminTok}, "failed_precondition", want)
	// The network token alone does not authorize a join (§6.2), so the state rule does not answer.
	c.fail(obj{"type": "join_network", "node_id": a.id, "network_id": inv, "admin_token": netTok}, "permission_denied", "")
	tok := c.createNet(o, "tok", "token", obj{"token": "join-secret", "network_admin_token": "tok-net-admin-token-xx"})
	p := c.fail(a.sign(obj{"type": "join_network", "node_id": a.id, "network_id": tok, "token": "bad"}), "permission_denied", "invalid join token for network "+fmtInt(tok))
	_ = p
	c.fail(a.sign(obj{"type": "join_network", "node_id": a.id, "network_id": tok}), "permission_denied", "")
	p = c.ok(a.sign(obj{"type": "join_network", "node_id": a.id, "network_id": tok, "admin_token": "tok-net-admin-token-xx"}))
	if p.str("role") != "member" || p.num("network_id") != tok || !strings.HasPrefix(p.str("address"), fmtInt(tok)+":") {
		t.Errorf("join_network_ok: %s", p)
	}
	c.fail(a.sign(obj{"type": "join_network", "node_id": a.id, "network_id": tok, "token": "join-secret"}), "already_exists",
		"node "+fmtInt(a.id)+" is already a member of network "+fmtInt(tok))
	c.fail(a.sign(obj{"type": "join_network", "node_id": a.id, "network_id": 0}), "failed_precondition", "every node is always a member of network 0")
	c.fail(a.sign(obj{"type": "join_network", "node_id": a.id, "network_id": 777}), "not_found", "")
	// open network with a non-matching admin token, signed: success
	op := c.createNet(o, "op", "", nil)
	c.ok(a.sign(obj{"type": "join_network", "node_id": a.id, "network_id": op, "admin_token": "nope-nope-nope-nope"}))
	// full
	full := c.createNet(o, "full", "", nil)
	c.ok(o.sign(obj{"type": "set_network_policy", "node_id": o.id, "network_id": full, "max_members": 2}))
	c.join(a, full)
	b := c.register(nil)
	c.fail(b.sign(obj{"type": "join_network", "node_id": b.id, "network_id": full}), "resource_exhausted", "network "+fmtInt(full)+" is full: 2 of 2 members")
	// join token-only for a node with global token, node absent
	c.fail(obj{"type": "join_network", "network_id": op, "admin_token": adminTok}, "not_found", "")
}

// §6.4 order of checks: tricky combinations.
func TestConf_6_4_Order(t *testing.T) {
	r := start(t, "-rate-limit", "off")
	c := r.dial()
	f := setupNet(t, c, "order", "open")
	// step 5 (network exists) before step 6 (credentials)
	c.fail(obj{"type": "list_nodes", "network_id": 999}, "not_found", "")
	c.fail(obj{"type": "kick_member", "network_id": 999, "target_node_id": f.member.id}, "not_found", "")
	c.fail(obj{"type": "get_network_policy", "network_id": 999}, "not_found", "")
	// step 4 before step 5
	c.fail(f.owner.sign(obj{"type": "invite_to_network", "inviter_id": f.owner.id, "network_id": 999, "target_node_id": f.owner.id}), "invalid_argument", "")
	c.fail(f.owner.sign(obj{"type": "kick_member", "node_id": f.owner.id, "network_id": 999, "target_node_id": f.owner.id}), "failed_precondition", "leave")
	// step 3 (unregistered signer) before step 5
	ghost := newKey()
	ghost.id = 5000
	c.fail(ghost.sign(obj{"type": "list_nodes", "node_id": ghost.id, "network_id": 999}), "not_found", "node 5000 is not registered; register again")
	// step 5: network 0 refused whoever asks
	c.fail(f.member.sign(obj{"type": "promote_member", "node_id": f.member.id, "network_id": 0, "target_node_id": f.admin.id}), "failed_precondition", "")
	c.fail(obj{"type": "rename_network", "network_id": 0, "name": "x"}, "failed_precondition", "")
	// step 6 before step 7
	inv := c.createNet(f.owner, "order-inv", "invite", nil)
	c.fail(obj{"type": "join_network", "node_id": f.member.id, "network_id": inv}, "unauthenticated", "")
	c.fail(f.member.sign(obj{"type": "set_network_policy", "node_id": f.member.id, "network_id": f.net, "max_members": 0}), "permission_denied", "")
	c.fail(f.admin.sign(obj{"type": "delete_network", "node_id": f.admin.id, "network_id": f.net}), "permission_denied", "")
	c.fail(f.outsider.sign(obj{"type": "promote_member", "node_id": f.outsider.id, "network_id": f.net, "target_node_id": f.owner.id}), "permission_denied", "")
	// step 7 order in join_network: token rule before membership, membership before capacity
	tok := c.createNet(f.owner, "order-tok", "token", obj{"token": "s3cret"})
	c.fail(f.owner.sign(obj{"type": "join_network", "node_id": f.owner.id, "network_id": tok, "token": "wrong"}), "permission_denied", "invalid join token")
	c.ok(f.owner.sign(obj{"type": "set_network_policy", "node_id": f.owner.id, "network_id": f.net, "max_members": 3}))
	c.fail(f.member.sign(obj{"type": "join_network", "node_id": f.member.id, "network_id": f.net}), "already_exists", "")
	c.fail(f.outsider.sign(obj{"type": "join_network", "node_id": f.outsider.id, "network_id": f.net}), "resource_exhausted", "network "+fmtInt(f.net)+" is full: 3 of 3 members")
	// rename to a taken name
	c.fail(f.owner.sign(obj{"type": "rename_network", "node_id": f.owner.id, "network_id": f.net, "name": "order-tok"}), "already_exists", "")
	p := c.ok(f.admin.sign(obj{"type": "rename_network", "node_id": f.admin.id, "network_id": f.net, "name": "order"}))
	if p.str("name") != "order" || p.num("network_id") != f.net {
		t.Errorf("rename_network_ok: %s", p)
	}
	// a signed request with a signature but no signer
	req := f.owner.sign(obj{"type": "list_nodes", "node_id": f.owner.id, "network_id": f.net})
	req["node_id"] = 0
	c.fail(req, "unauthenticated", "")
	// a non-zero caller field without a signature on a role-gated message
	c.fail(obj{"type": "kick_member", "node_id": f.owner.id, "network_id": f.net, "target_node_id": f.member.id, "admin_token": netTok}, "unauthenticated", "")
}

// §6.1: a non-zero caller field without a valid signature is
// unauthenticated in every network management message, tokens notwithstanding.
func TestConf_27_UnprovenCaller(t *testing.T) {
	r := start(t, "-rate-limit", "off")
	c := r.dial()
	f := setupNet(t, c, "claims", "invite")
	inv := c.createNet(f.owner, "claims-inv", "invite", obj{"network_admin_token": "claims-inv-token-0123456"})
	for _, tok := range []string{adminTok, netTok} {
		for _, req := range []obj{
			{"type": "kick_member", "node_id": f.owner.id, "network_id": f.net, "target_node_id": f.member.id},
			{"type": "promote_member", "node_id": f.owner.id, "network_id": f.net, "target_node_id": f.member.id},
			{"type": "demote_member", "node_id": f.owner.id, "network_id": f.net, "target_node_id": f.admin.id},
			{"type": "transfer_ownership", "node_id": f.owner.id, "network_id": f.net, "new_owner_id": f.admin.id},
			{"type": "rename_network", "node_id": f.owner.id, "network_id": f.net, "name": "claimed"},
			{"type": "set_network_policy", "node_id": f.owner.id, "network_id": f.net, "max_members": 9},
			{"type": "delete_network", "node_id": f.owner.id, "network_id": f.net},
			{"type": "get_network_policy", "node_id": f.owner.id, "network_id": f.net},
			{"type": "get_member_role", "node_id": f.owner.id, "network_id": f.net, "target_node_id": f.member.id},
			{"type": "list_nodes", "node_id": f.owner.id, "network_id": f.net},
			{"type": "get_audit_log", "node_id": f.owner.id, "network_id": f.net},
			// network 0 and all networks: the same rule
			{"type": "list_nodes", "node_id": f.owner.id, "network_id": 0},
			{"type": "get_network_policy", "node_id": f.owner.id, "network_id": 0},
			{"type": "list_networks", "node_id": f.owner.id},
			{"type": "list_networks", "node_id": f.owner.id, "all": true},
		} {
			req["admin_token"] = tok
			c.fail(req, "unauthenticated", "")
		}
	}
	c.fail(obj{"type": "invite_to_network", "inviter_id": f.owner.id, "network_id": inv, "target_node_id": f.member.id, "admin_token": adminTok}, "unauthenticated", "")
	c.fail(obj{"type": "get_audit_log", "node_id": f.owner.id, "admin_token": adminTok}, "unauthenticated", "")
	// the same requests without the caller field are authorized by the token
	c.ok(obj{"type": "get_member_role", "network_id": f.net, "target_node_id": f.member.id, "admin_token": netTok})
	c.ok(obj{"type": "invite_to_network", "network_id": inv, "target_node_id": f.member.id, "admin_token": adminTok})
	c.ok(obj{"type": "get_audit_log", "admin_token": adminTok})
}

// §6.1 "Credentials and refusals" on messages that always need the node's
// own signature: an unsigned request with an admin_token that is not the
// global token is refused unauthenticated, counted as bad_token and told
// "admin token not accepted"; with the global token (a credential these
// messages do not accept) the refusal names the missing signature only.
func TestConf_6_1_SignedOnlyMessagesAndTokens(t *testing.T) {
	r := start(t, "-rate-limit", "off")
	c := r.dial()
	a, b := c.register(nil), c.register(nil)
	reqs := []obj{
		{"type": "rotate_key", "node_id": a.id, "new_public_key": newKey().pubB64()},
		{"type": "report_trust", "node_id": a.id, "peer_id": b.id},
		{"type": "request_handshake", "from_node_id": a.id, "to_node_id": b.id},
		{"type": "poll_handshakes", "node_id": a.id},
		{"type": "poll_invites", "node_id": a.id},
	}
	for _, req := range reqs {
		req["admin_token"] = "wrong-token-wrong-token"
		c.fail(req, "unauthenticated", "admin token not accepted")
		req["admin_token"] = adminTok
		if p := c.fail(req, "unauthenticated", "must be signed"); strings.Contains(p.msg(), "not accepted") {
			t.Errorf("%v with the global token: %q", req["type"], p.msg())
		}
	}
	want := fmt.Sprintf(`pilot_auth_failures_total{reason="bad_token"} %d`, len(reqs))
	if m := metricsText(t, r); !strings.Contains(m, want+"\n") {
		t.Errorf("metrics lack %q", want)
	}
}

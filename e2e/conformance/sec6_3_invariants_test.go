package conformance

import (
	"testing"
)

// §6.3 invariant 2: "roles are removed with the membership, on leave, kick,
// deregister, purge and delete" — a node that comes back is a plain member.
func TestConf_6_3_RolesGoWithMembership(t *testing.T) {
	r := start(t, "-rate-limit", "off")
	c := r.dial()
	o, a, b, d := c.register(nil), c.register(nil), c.register(nil), c.register(nil)
	net := c.createNet(o, "inv2", "", obj{"network_admin_token": netTok})
	role := func(n *node) string {
		return c.ok(o.sign(obj{"type": "get_member_role", "node_id": o.id, "network_id": net, "target_node_id": n.id})).str("role")
	}
	for _, n := range []*node{a, b, d} {
		c.join(n, net)
		c.ok(o.sign(obj{"type": "promote_member", "node_id": o.id, "network_id": net, "target_node_id": n.id}))
	}
	c.ok(o.sign(obj{"type": "kick_member", "node_id": o.id, "network_id": net, "target_node_id": a.id}))
	c.ok(b.sign(obj{"type": "leave_network", "node_id": b.id, "network_id": net}))
	c.ok(d.sign(obj{"type": "deregister", "node_id": d.id}))
	c.ok(signWith(obj{"type": "register", "public_key": d.pubB64()}, d.key, 0, 0))
	c.fail(o.sign(obj{"type": "get_member_role", "node_id": o.id, "network_id": net, "target_node_id": d.id}), "not_found", "")
	for _, n := range []*node{a, b, d} {
		c.join(n, net)
		if got := role(n); got != "member" {
			t.Errorf("node %d came back as %q", n.id, got)
		}
	}
	// the count follows the membership table: kick frees a slot
	c.ok(o.sign(obj{"type": "set_network_policy", "node_id": o.id, "network_id": net, "max_members": 4}))
	x := c.register(nil)
	c.fail(x.sign(obj{"type": "join_network", "node_id": x.id, "network_id": net}), "resource_exhausted", "")
	c.ok(obj{"type": "kick_member", "network_id": net, "target_node_id": a.id, "admin_token": netTok})
	c.join(x, net)
	// deregister by the global token of an owner: failed_precondition naming the network
	c.fail(obj{"type": "deregister", "node_id": o.id, "admin_token": adminTok}, "failed_precondition", "owns network "+fmtInt(net))
}

// §5.3 Optional class: "anonymous allowed; when auth fields are present they
// are verified"; §4.3 "A request that carries `signature` but no node signer
// fails authentication (`unauthenticated`)".
func TestConf_5_3_OptionalAuthVerified(t *testing.T) {
	r := start(t, "-rate-limit", "off")
	c := r.dial()
	a := c.register(obj{"hostname": "opt"})
	b := c.register(nil)
	req := b.sign(obj{"type": "lookup", "requester_id": b.id, "node_id": a.id})
	req["node_id"] = b.id
	c.fail(req, "unauthenticated", "")
	req = b.sign(obj{"type": "resolve_hostname", "requester_id": b.id, "hostname": "opt"})
	req["hostname"] = "nope"
	c.fail(req, "unauthenticated", "")
	req = b.sign(obj{"type": "lookup", "requester_id": b.id, "node_id": a.id})
	delete(req, "requester_id")
	c.fail(req, "unauthenticated", "")
	// stale ts on an optional-auth read is refused too
	c.fail(signWith(obj{"type": "lookup", "requester_id": b.id, "node_id": a.id}, b.key, b.id, -5*60e9), "unauthenticated", "")
	// unregistered signer: not_found
	g := newKey()
	g.id = 4000
	c.fail(g.sign(obj{"type": "lookup", "requester_id": g.id, "node_id": a.id}), "not_found", "register again")
	// register: a hostname of the wrong JSON type is a shape error (§7.1.1 "It must still be a JSON string")
	k := newKey()
	c.fail(signWith(obj{"type": "register", "public_key": k.pubB64(), "hostname": 5}, k.key, 0, 0), "invalid_argument", "hostname")
	// get_audit_log with a network token but no network_id: invalid_argument (§6.4 step 4)
	o := c.register(nil)
	c.createNet(o, "optn", "", obj{"network_admin_token": netTok})
	c.fail(obj{"type": "get_audit_log", "admin_token": netTok}, "invalid_argument", "")
}

package conformance

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"
	"time"
)

// events returns "action k=v k=v" summaries of the audit records after seq from.
func events(t *testing.T, r *reg, c *conn, from int) []string {
	t.Helper()
	head := c.auditHead()
	var out []string
	for s := from + 1; s <= head; s++ {
		line := r.waitAudit(s)
		keys, vals := orderedKeys(t, line)
		var parts []string
		for _, k := range keys {
			switch k {
			case "time", "level", "msg", "audit_seq", "audit_hash":
				continue
			case "audit_action":
				var a string
				json.Unmarshal(vals[k], &a)
				parts = append(parts, a)
				continue
			}
			parts = append(parts, k+"="+strings.Trim(string(vals[k]), `"`))
		}
		out = append(out, strings.Join(parts, " "))
	}
	return out
}

// expectEvents compares the events of one request; the spec fixes no order
// between the events of one request, so both lists are sorted.
func expectEvents(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	got, want = append([]string(nil), got...), append([]string(nil), want...)
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s events:\n got %s\nwant %s", what, strings.Join(got, "\n     "), strings.Join(want, "\n     "))
	}
}

// §9.3 attribute values; §7 effects; §14 items 42, 63.
func TestConf_63_EventsAndEffects(t *testing.T) {
	r := start(t, "-rate-limit", "off")
	c := r.dial()
	s := func(n *node) string { return fmtInt(n.id) }
	k := newKey()
	p := c.ok(signWith(obj{"type": "register", "public_key": k.pubB64(), "hostname": "evh", "listen_addr": "127.0.0.1:4000"}, k.key, 0, 0))
	k.id = p.num("node_id")
	expectEvents(t, "register", events(t, r, c, 0),
		"node.registered node_id="+s(k)+" mode=new_node actor_node_id="+s(k)+" auth_via=self",
		"hostname.changed node_id="+s(k)+" hostname=evh old_hostname= new_hostname=evh actor_node_id="+s(k)+" auth_via=self")
	h := c.auditHead()
	c.ok(signWith(obj{"type": "register", "public_key": k.pubB64(), "hostname": "evh", "listen_addr": "127.0.0.1:4000"}, k.key, 0, 0))
	expectEvents(t, "re-register", events(t, r, c, h),
		"node.re_registered node_id="+s(k)+" mode=existing_identity endpoint_changed=false actor_node_id="+s(k)+" auth_via=self")
	h = c.auditHead()
	c.ok(signWith(obj{"type": "register", "public_key": k.pubB64(), "listen_addr": "127.0.0.1:4009"}, k.key, 0, 0))
	expectEvents(t, "re-register moved", events(t, r, c, h),
		"node.re_registered node_id="+s(k)+" mode=existing_identity endpoint_changed=true actor_node_id="+s(k)+" auth_via=self")
	// no-ops
	h = c.auditHead()
	c.ok(k.sign(obj{"type": "set_visibility", "node_id": k.id, "public": false}))
	c.ok(k.sign(obj{"type": "set_hostname", "node_id": k.id, "hostname": "evh"}))
	c.ok(k.sign(obj{"type": "set_tags", "node_id": k.id, "tags": []string{}}))
	c.ok(k.sign(obj{"type": "set_task_exec", "node_id": k.id, "enabled": false}))
	c.ok(k.sign(obj{"type": "set_key_expiry", "node_id": k.id, "expires_at": "never"}))
	expectEvents(t, "no-ops", events(t, r, c, h))
	// failed requests: no events
	c.fail(k.sign(obj{"type": "set_hostname", "node_id": k.id, "hostname": "backbone"}), "invalid_argument", "")
	expectEvents(t, "failed", events(t, r, c, h))
	// key expiry events
	exp := time.Now().Add(100 * time.Hour).UTC().Truncate(time.Second).Format(time.RFC3339)
	c.ok(k.sign(obj{"type": "set_key_expiry", "node_id": k.id, "expires_at": exp}))
	p = c.ok(k.sign(obj{"type": "set_key_expiry", "node_id": k.id, "expires_at": ""}))
	if _, ok := p.m["expires_at"]; ok {
		t.Errorf("cleared expiry present: %s", p)
	}
	expectEvents(t, "expiry", events(t, r, c, h),
		"key.expiry_set node_id="+s(k)+" expires_at="+exp+" old_expires_at= actor_node_id="+s(k)+" auth_via=self",
		"key.expiry_set node_id="+s(k)+" expires_at= old_expires_at="+exp+" actor_node_id="+s(k)+" auth_via=self")
	// trust via handshake: request completes a pair when the target had approved.
	b := c.register(nil)
	c.ok(b.sign(obj{"type": "report_trust", "node_id": b.id, "peer_id": k.id}))
	h = c.auditHead()
	c.ok(k.sign(obj{"type": "request_handshake", "from_node_id": k.id, "to_node_id": b.id}))
	expectEvents(t, "handshake completing a pair", events(t, r, c, h),
		"handshake.relayed from_node_id="+s(k)+" to_node_id="+s(b)+" actor_node_id="+s(k)+" auth_via=self",
		"trust.created node_a="+s(k)+" node_b="+s(b)+" mutual=true actor_node_id="+s(k)+" auth_via=self")
	d := c.register(nil)
	c.ok(d.sign(obj{"type": "request_handshake", "from_node_id": d.id, "to_node_id": b.id}))
	h = c.auditHead()
	c.ok(b.sign(obj{"type": "respond_handshake", "node_id": b.id, "peer_id": d.id, "accept": true}))
	expectEvents(t, "respond accept", events(t, r, c, h),
		"handshake.responded node_id="+s(b)+" peer_id="+s(d)+" accept=true actor_node_id="+s(b)+" auth_via=self",
		"trust.created node_a="+s(b)+" node_b="+s(d)+" mutual=true actor_node_id="+s(b)+" auth_via=self")
	// epoch bumps
	epoch := func() int64 { return c.ok(b.sign(obj{"type": "heartbeat", "node_id": b.id})).num("policy_epoch") }
	bump := func(what string, f func()) {
		t.Helper()
		e := epoch()
		f()
		if e2 := epoch(); e2 <= e {
			t.Errorf("%s did not bump policy_epoch (%d → %d)", what, e, e2)
		}
	}
	o := c.register(nil)
	bump("trust revoke", func() { c.ok(b.sign(obj{"type": "revoke_trust", "node_id": b.id, "peer_id": d.id})) })
	bump("trust pair", func() {
		c.ok(b.sign(obj{"type": "report_trust", "node_id": b.id, "peer_id": d.id}))
		c.ok(d.sign(obj{"type": "report_trust", "node_id": d.id, "peer_id": b.id}))
	})
	net := c.createNet(o, "evn", "invite", nil)
	c.ok(o.sign(obj{"type": "invite_to_network", "inviter_id": o.id, "network_id": net, "target_node_id": b.id}))
	bump("invite accept", func() {
		c.ok(b.sign(obj{"type": "respond_invite", "node_id": b.id, "network_id": net, "accept": true}))
	})
	c.ok(o.sign(obj{"type": "promote_member", "node_id": o.id, "network_id": net, "target_node_id": b.id}))
	c.ok(b.sign(obj{"type": "invite_to_network", "inviter_id": b.id, "network_id": net, "target_node_id": d.id}))
	c.ok(o.sign(obj{"type": "invite_to_network", "inviter_id": o.id, "network_id": net, "target_node_id": k.id}))
	// kick of the inviter removes its invites (inviter_removed)
	h = c.auditHead()
	bump("kick", func() {
		c.ok(o.sign(obj{"type": "kick_member", "node_id": o.id, "network_id": net, "target_node_id": b.id}))
	})
	ev := events(t, r, c, h)
	expectEvents(t, "kick", ev,
		"member.kicked target_node_id="+s(b)+" network_id="+fmtInt(net)+" role=admin actor_node_id="+s(o)+" auth_via=role",
		"invite.removed network_id="+fmtInt(net)+" node_id="+s(d)+" inviter_id="+s(b)+" reason=inviter_removed actor_node_id="+s(o)+" auth_via=role")
	_ = ev
	// the invite from b was removed with its inviter
	c.fail(d.sign(obj{"type": "respond_invite", "node_id": d.id, "network_id": net, "accept": false}), "not_found", "no pending invite to network "+fmtInt(net))
	c.ok(o.sign(obj{"type": "invite_to_network", "inviter_id": o.id, "network_id": net, "target_node_id": d.id}))
	h = c.auditHead()
	p = c.ok(d.sign(obj{"type": "respond_invite", "node_id": d.id, "network_id": net, "accept": false}))
	if p.m["accepted"] != false || p.num("network_id") != net {
		t.Errorf("reject reply: %s", p)
	}
	if _, ok := p.m["role"]; ok {
		t.Errorf("role on reject: %s", p)
	}
	expectEvents(t, "reject", events(t, r, c, h),
		"invite.responded node_id="+s(d)+" network_id="+fmtInt(net)+" accepted=false actor_node_id="+s(d)+" auth_via=self")
	// deregister of an invite target removes its invites (target_removed)
	h = c.auditHead()
	c.ok(k.sign(obj{"type": "deregister", "node_id": k.id}))
	expectEvents(t, "deregister", events(t, r, c, h),
		"invite.removed network_id="+fmtInt(net)+" node_id="+s(k)+" inviter_id="+s(o)+" reason=target_removed actor_node_id="+s(k)+" auth_via=self",
		"node.deregistered node_id="+s(k)+" networks=[] reason=request actor_node_id="+s(k)+" auth_via=self")
	// delete with a pending invite
	x := c.register(nil)
	c.ok(o.sign(obj{"type": "invite_to_network", "inviter_id": o.id, "network_id": net, "target_node_id": x.id}))
	h = c.auditHead()
	bump("delete", func() { c.ok(o.sign(obj{"type": "delete_network", "node_id": o.id, "network_id": net})) })
	expectEvents(t, "delete", events(t, r, c, h),
		"network.deleted network_id="+fmtInt(net)+" name=evn members=1 invites_removed=1 actor_node_id="+s(o)+" auth_via=role")
	p = c.ok(x.sign(obj{"type": "poll_invites", "node_id": x.id}))
	if !strings.Contains(p.String(), `"invites":[]`) {
		t.Errorf("invites of a deleted network: %s", p)
	}
	// get_audit_log of the deleted network with the global token
	p = c.ok(obj{"type": "get_audit_log", "network_id": net, "admin_token": adminTok, "action": "network.deleted"})
	if !strings.Contains(p.String(), `"action":"network.deleted"`) {
		t.Errorf("audit of deleted network: %s", p)
	}
}

// §9.3 attribute values of network.policy_changed and ownership.transferred.
func TestConf_PolicyAndOwnershipAttrs(t *testing.T) {
	r := start(t, "-rate-limit", "off")
	c := r.dial()
	o := c.register(nil)
	m := c.register(nil)
	net := c.createNet(o, "pa", "", obj{"network_admin_token": netTok})
	ns, os_, ms := fmtInt(net), fmtInt(o.id), fmtInt(m.id)
	c.ok(o.sign(obj{"type": "set_network_policy", "node_id": o.id, "network_id": net, "max_members": 50}))
	h := c.auditHead()
	c.ok(obj{"type": "set_network_policy", "network_id": net, "allowed_ports": []int{443, 80, 7}, "description": "Prod <eu> & ü\tteam", "admin_token": netTok})
	expectEvents(t, "policy", events(t, r, c, h),
		`network.policy_changed network_id=`+ns+` fields=allowed_ports,description max_members=50 allowed_ports_count=3 description=Prod <eu> & ü\tteam old_max_members=50 new_max_members=50 old_allowed_ports_count=0 new_allowed_ports_count=3 actor_node_id=0 auth_via=network_token`)
	c.join(m, net)
	h = c.auditHead()
	c.ok(o.sign(obj{"type": "transfer_ownership", "node_id": o.id, "network_id": net, "new_owner_id": m.id}))
	expectEvents(t, "transfer", events(t, r, c, h),
		"ownership.transferred network_id="+ns+" old_owner="+os_+" new_owner="+ms+" new_owner_old_role=member actor_node_id="+os_+" auth_via=role")
	h = c.auditHead()
	c.ok(m.sign(obj{"type": "kick_member", "node_id": m.id, "network_id": net, "target_node_id": o.id}))
	expectEvents(t, "kick old owner", events(t, r, c, h),
		"member.kicked target_node_id="+os_+" network_id="+ns+" role=admin actor_node_id="+ms+" auth_via=role")
}

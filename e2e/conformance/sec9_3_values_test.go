package conformance

import (
	"testing"
	"time"
)

// §9.3 attribute values (and §6.1 attribution) of the actions whose values
// no other test pins down.
func TestConf_9_3_AttributeValues(t *testing.T) {
	r := start(t, "-rate-limit", "off")
	c := r.dial()
	s := fmtInt
	a, b := c.register(nil), c.register(nil)
	A, B := s(a.id), s(b.id)
	step := func(what string, f func(), want ...string) {
		t.Helper()
		h := c.auditHead()
		f()
		expectEvents(t, what, events(t, r, c, h), want...)
	}
	step("visibility", func() { c.ok(a.sign(obj{"type": "set_visibility", "node_id": a.id, "public": true})) },
		"visibility.changed node_id="+A+" public=true old_public=false new_public=true actor_node_id="+A+" auth_via=self")
	step("task_exec", func() { c.ok(obj{"type": "set_task_exec", "node_id": a.id, "enabled": true, "admin_token": adminTok}) },
		"task_exec.changed node_id="+A+" enabled=true old_enabled=false new_enabled=true actor_node_id=0 auth_via=global_token")
	step("tags", func() { c.ok(a.sign(obj{"type": "set_tags", "node_id": a.id, "tags": []string{"#x", "y", "x"}})) },
		"tags.changed node_id="+A+" tags=[\"x\",\"y\"] old_tags_count=0 new_tags_count=2 actor_node_id="+A+" auth_via=self")
	step("tags clear", func() { c.ok(a.sign(obj{"type": "set_tags", "node_id": a.id, "tags": []string{}})) },
		"tags.changed node_id="+A+" tags=[] old_tags_count=2 new_tags_count=0 actor_node_id="+A+" auth_via=self")
	step("hostname", func() { c.ok(a.sign(obj{"type": "set_hostname", "node_id": a.id, "hostname": "h-one"})) },
		"hostname.changed node_id="+A+" hostname=h-one old_hostname= new_hostname=h-one actor_node_id="+A+" auth_via=self")
	step("hostname via register", func() {
		c.ok(signWith(obj{"type": "register", "public_key": a.pubB64(), "hostname": "h-two", "listen_addr": "127.0.0.1:4000"}, a.key, 0, 0))
	},
		"node.re_registered node_id="+A+" mode=existing_identity endpoint_changed=false actor_node_id="+A+" auth_via=self",
		"hostname.changed node_id="+A+" hostname=h-two old_hostname=h-one new_hostname=h-two actor_node_id="+A+" auth_via=self")
	step("hostname clear", func() { c.ok(a.sign(obj{"type": "set_hostname", "node_id": a.id, "hostname": ""})) },
		"hostname.changed node_id="+A+" hostname= old_hostname=h-two new_hostname= actor_node_id="+A+" auth_via=self")
	var net int64
	step("create", func() {
		p := c.ok(obj{"type": "create_network", "node_id": a.id, "name": "ev-net", "join_rule": "token", "token": "jt", "admin_token": adminTok})
		net = p.num("network_id")
	}, "network.created network_id=1 name=ev-net join_rule=token creator_node_id="+A+" actor_node_id=0 auth_via=global_token")
	N := s(net)
	step("join token", func() { c.ok(b.sign(obj{"type": "join_network", "node_id": b.id, "network_id": net, "token": "jt"})) },
		"network.joined node_id="+B+" network_id="+N+" join_rule=token actor_node_id="+B+" auth_via=self")
	step("promote", func() {
		c.ok(a.sign(obj{"type": "promote_member", "node_id": a.id, "network_id": net, "target_node_id": b.id}))
	}, "member.promoted target_node_id="+B+" network_id="+N+" old_role=member new_role=admin actor_node_id="+A+" auth_via=role")
	step("demote", func() {
		c.ok(obj{"type": "demote_member", "network_id": net, "target_node_id": b.id, "admin_token": adminTok})
	}, "member.demoted target_node_id="+B+" network_id="+N+" old_role=admin new_role=member actor_node_id=0 auth_via=global_token")
	step("rename", func() {
		c.ok(a.sign(obj{"type": "rename_network", "node_id": a.id, "network_id": net, "name": "ev-net2"}))
	}, "network.renamed network_id="+N+" old_name=ev-net new_name=ev-net2 actor_node_id="+A+" auth_via=role")
	step("trust", func() {
		c.ok(a.sign(obj{"type": "report_trust", "node_id": a.id, "peer_id": b.id}))
	}, "trust.created node_a="+A+" node_b="+B+" mutual=false actor_node_id="+A+" auth_via=self")
	step("revoke", func() {
		c.ok(b.sign(obj{"type": "revoke_trust", "node_id": b.id, "peer_id": a.id}))
	}, "trust.revoked node_a="+B+" node_b="+A+" actor_node_id="+B+" auth_via=self")
	step("handshake", func() {
		c.ok(b.sign(obj{"type": "request_handshake", "from_node_id": b.id, "to_node_id": a.id, "justification": "j"}))
	}, "handshake.relayed from_node_id="+B+" to_node_id="+A+" actor_node_id="+B+" auth_via=self")
	step("respond reject", func() {
		c.ok(a.sign(obj{"type": "respond_handshake", "node_id": a.id, "peer_id": b.id, "accept": false}))
	}, "handshake.responded node_id="+A+" peer_id="+B+" accept=false actor_node_id="+A+" auth_via=self")
	step("polo", func() {
		c.ok(obj{"type": "update_polo_score", "node_id": b.id, "delta": 7, "admin_token": adminTok})
	}, "polo_score.changed node_id="+B+" old_score=0 new_score=7 actor_node_id=0 auth_via=global_token")
	nk := newKey()
	step("rotate", func() {
		req := b.sign(obj{"type": "rotate_key", "node_id": b.id, "new_public_key": nk.pubB64()})
		req["new_key_signature"] = signCanon(nk, req, b.id)
		c.ok(req)
	}, "key.rotated node_id="+B+" rotate_count=1 actor_node_id="+B+" auth_via=self")
	nk.id = b.id
	rk := newKey()
	step("reassign", func() {
		c.ok(signWith(obj{"type": "reassign_key", "node_id": b.id, "new_public_key": rk.pubB64(), "admin_token": adminTok}, rk.key, 0, 0))
	}, "key.reassigned node_id="+B+" rotate_count=2 actor_node_id=0 auth_via=global_token")
	rk.id = b.id
	exp := time.Now().Add(50 * time.Hour).UTC().Truncate(time.Second).Format(time.RFC3339)
	step("expiry by token", func() {
		c.ok(obj{"type": "set_key_expiry", "node_id": b.id, "expires_at": exp, "admin_token": adminTok})
	}, "key.expiry_set node_id="+B+" expires_at="+exp+" old_expires_at= actor_node_id=0 auth_via=global_token")
	inv := c.createNet(a, "ev-inv", "invite", nil)
	I := s(inv)
	step("invite", func() {
		c.ok(a.sign(obj{"type": "invite_to_network", "inviter_id": a.id, "network_id": inv, "target_node_id": b.id}))
	}, "invite.created network_id="+I+" inviter_id="+A+" target_node_id="+B+" actor_node_id="+A+" auth_via=role")
	step("deregister member", func() {
		c.ok(rk.sign(obj{"type": "deregister", "node_id": b.id}))
	},
		"invite.removed network_id="+I+" node_id="+B+" inviter_id="+A+" reason=target_removed actor_node_id="+B+" auth_via=self",
		"node.deregistered node_id="+B+" networks=["+N+"] reason=request actor_node_id="+B+" auth_via=self")
	step("deregister by token", func() {
		x := c.register(nil)
		h := c.auditHead()
		c.ok(obj{"type": "deregister", "node_id": x.id, "admin_token": adminTok})
		expectEvents(t, "deregister by token", events(t, r, c, h),
			"node.deregistered node_id="+s(x.id)+" networks=[] reason=request actor_node_id=0 auth_via=global_token")
	}, "node.registered node_id="+s(rk.id+1)+" mode=new_node actor_node_id="+s(rk.id+1)+" auth_via=self",
		"node.deregistered node_id="+s(rk.id+1)+" networks=[] reason=request actor_node_id=0 auth_via=global_token")
}

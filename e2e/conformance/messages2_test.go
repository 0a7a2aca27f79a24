package conformance

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// auditRec waits for the record with seq and returns it decoded.
func auditRec(t *testing.T, r *reg, seq int) map[string]any {
	m, _ := decode([]byte(r.waitAudit(seq)))
	return m
}

func (c *conn) auditHead() int {
	p := c.ok(obj{"type": "get_audit_log", "admin_token": adminTok, "limit": 1})
	var e struct {
		Entries []struct {
			Seq int `json:"seq"`
		} `json:"entries"`
	}
	json.Unmarshal(p.raw, &e)
	if len(e.Entries) == 0 {
		return 0
	}
	return e.Entries[0].Seq
}

// §6.1 attribution; §14 items 24–26, 32.
func TestConf_32_Attribution(t *testing.T) {
	r := start(t, "-rate-limit", "off")
	c := r.dial()
	a := c.register(nil)
	rec := auditRec(t, r, 1)
	if rec["audit_action"] != "node.registered" || rec["actor_node_id"] != json.Number(fmtInt(a.id)) || rec["auth_via"] != "self" || rec["mode"] != "new_node" {
		t.Errorf("register: %v", rec)
	}
	check := func(action string, actor int64, via string) {
		t.Helper()
		seq := c.auditHead()
		rec := auditRec(t, r, seq)
		if rec["audit_action"] != action || rec["actor_node_id"] != json.Number(fmtInt(actor)) || rec["auth_via"] != via {
			t.Errorf("want %s actor %d via %s: %v", action, actor, via, rec)
		}
	}
	c.ok(obj{"type": "set_hostname", "node_id": a.id, "hostname": "h1", "admin_token": adminTok})
	check("hostname.changed", 0, "global_token")
	// valid token + invalid signature → unauthenticated
	req := a.sign(obj{"type": "set_hostname", "node_id": a.id, "hostname": "h2", "admin_token": adminTok})
	req["hostname"] = "h3"
	c.fail(req, "unauthenticated", "")
	net := c.createNet(a, "attr", "", obj{"network_admin_token": netTok})
	check("network.created", a.id, "global_token")
	c.ok(obj{"type": "create_network", "node_id": a.id, "name": "attr2", "admin_token": adminTok})
	check("network.created", 0, "global_token")
	b := c.register(nil)
	c.ok(b.sign(obj{"type": "join_network", "node_id": b.id, "network_id": net, "admin_token": adminTok}))
	check("network.joined", b.id, "self")
	c.ok(a.sign(obj{"type": "promote_member", "node_id": a.id, "network_id": net, "target_node_id": b.id}))
	check("member.promoted", a.id, "role")
	c.fail(b.sign(obj{"type": "promote_member", "node_id": b.id, "network_id": net, "target_node_id": a.id}), "permission_denied", "")
	c.ok(obj{"type": "demote_member", "network_id": net, "target_node_id": b.id, "admin_token": netTok})
	check("member.demoted", 0, "network_token")
	// signed by a member but authorized by the network token
	c.ok(b.sign(obj{"type": "rename_network", "node_id": b.id, "network_id": net, "name": "attr3", "admin_token": netTok}))
	check("network.renamed", b.id, "network_token")
	// owner signed with global token: role
	c.ok(a.sign(obj{"type": "rename_network", "node_id": a.id, "network_id": net, "name": "attr4", "admin_token": adminTok}))
	check("network.renamed", a.id, "role")
	// reassign_key
	nk := newKey()
	c.fail(signWith(obj{"type": "reassign_key", "node_id": b.id, "new_public_key": nk.pubB64()}, nk.key, 0, 0), "permission_denied", "")
	c.fail(signWith(obj{"type": "reassign_key", "node_id": b.id, "new_public_key": nk.pubB64(), "admin_token": netTok}, nk.key, 0, 0), "permission_denied", "")
	c.fail(signWith(obj{"type": "reassign_key", "node_id": b.id, "new_public_key": a.pubB64(), "admin_token": adminTok}, a.key, 0, 0), "already_exists",
		"key is registered to node "+fmtInt(a.id)+"; deregister node "+fmtInt(a.id)+" first")
	p := c.ok(signWith(obj{"type": "reassign_key", "node_id": b.id, "new_public_key": nk.pubB64(), "admin_token": adminTok}, nk.key, 0, 0))
	if p.num("node_id") != b.id || p.str("public_key") != nk.pubB64() || p.str("address") == "" {
		t.Errorf("reassign_key_ok: %s", p)
	}
	check("key.reassigned", 0, "global_token")
	// old key can no longer sign or register
	c.fail(b.sign(obj{"type": "heartbeat", "node_id": b.id}), "unauthenticated", "")
	c.fail(signWith(obj{"type": "register", "public_key": b.pubB64()}, b.key, 0, 0), "unauthenticated", "this key was replaced on ")
	// polo
	c.ok(obj{"type": "set_polo_score", "node_id": a.id, "polo_score": 999999, "admin_token": adminTok})
	p = c.ok(obj{"type": "update_polo_score", "node_id": a.id, "delta": 5, "admin_token": adminTok})
	if p.num("polo_score") != 1000000 {
		t.Errorf("clamp: %s", p)
	}
	check("polo_score.changed", 0, "global_token")
	c.fail(obj{"type": "update_polo_score", "node_id": a.id, "delta": 1000001, "admin_token": adminTok}, "invalid_argument", "")
	c.fail(obj{"type": "set_polo_score", "node_id": a.id, "polo_score": 1}, "unauthenticated", "")
	p = c.ok(obj{"type": "get_polo_score", "node_id": a.id})
	if p.num("polo_score") != 1000000 || p.str("address") != "0:0000.0000.0004" {
		t.Errorf("get_polo_score: %s", p)
	}
}

// §7.1.7 rotate_key; §14 item 23.
func TestConf_23_RotateKey(t *testing.T) {
	r := start(t, "-rate-limit", "off")
	c := r.dial()
	a := c.register(nil)
	nk := newKey()
	req := a.sign(obj{"type": "rotate_key", "node_id": a.id, "new_public_key": nk.pubB64()})
	c.fail(req, "invalid_argument", "new_key_signature")
	req = a.sign(obj{"type": "rotate_key", "node_id": a.id, "new_public_key": nk.pubB64()})
	req["new_key_signature"] = signCanon(a, req, a.id) // signed by the wrong key
	c.fail(req, "unauthenticated", "")
	exp := time.Now().Add(72 * time.Hour).UTC().Truncate(time.Second).Format(time.RFC3339)
	req = a.sign(obj{"type": "rotate_key", "node_id": a.id, "new_public_key": nk.pubB64(), "expires_at": exp})
	req["new_key_signature"] = signCanon(nk, req, a.id)
	p := c.ok(req)
	if p.num("node_id") != a.id || p.str("public_key") != nk.pubB64() || p.num("rotate_count") != 1 || !secTime.MatchString(p.str("rotated_at")) || p.str("expires_at") != exp || p.str("address") == "" {
		t.Errorf("rotate_key_ok: %s", p)
	}
	c.fail(req, "unauthenticated", "")
	c.fail(a.sign(obj{"type": "heartbeat", "node_id": a.id}), "unauthenticated", "")
	c.fail(signWith(obj{"type": "register", "public_key": a.pubB64()}, a.key, 0, 0), "unauthenticated", "this key was replaced on ")
	nk.id = a.id
	c.ok(nk.sign(obj{"type": "heartbeat", "node_id": a.id}))
	ki := c.ok(obj{"type": "get_key_info", "node_id": a.id})
	if ki.num("rotate_count") != 1 || ki.str("expires_at") != exp || !secTime.MatchString(ki.str("rotated_at")) {
		t.Errorf("get_key_info: %s", ki)
	}
	// new key already bound
	b := c.register(nil)
	req = nk.sign(obj{"type": "rotate_key", "node_id": a.id, "new_public_key": b.pubB64()})
	req["new_key_signature"] = signCanon(b, req, a.id)
	c.fail(req, "already_exists", "")
}

// §7.2 setters.
func TestConf_Setters(t *testing.T) {
	r := start(t, "-rate-limit", "off")
	c := r.dial()
	a := c.register(nil)
	p := c.ok(a.sign(obj{"type": "set_visibility", "node_id": a.id, "public": true}))
	if p.str("visibility") != "public" || p.num("node_id") != a.id {
		t.Errorf("set_visibility_ok: %s", p)
	}
	p = c.ok(a.sign(obj{"type": "set_task_exec", "node_id": a.id, "enabled": true}))
	if p.m["task_exec"] != true {
		t.Errorf("set_task_exec_ok: %s", p)
	}
	p = c.ok(a.sign(obj{"type": "set_tags", "node_id": a.id, "tags": []string{"#a", "b", "a"}}))
	if string(mustJSON(p.m["tags"])) != `["a","b"]` {
		t.Errorf("set_tags_ok: %s", p)
	}
	c.fail(a.sign(obj{"type": "set_tags", "node_id": a.id, "tags": []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k"}}), "invalid_argument", "")
	c.ok(a.sign(obj{"type": "set_tags", "node_id": a.id, "tags": []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "#j"}}))
	c.fail(a.sign(obj{"type": "set_tags", "node_id": a.id, "tags": []string{"##a"}}), "invalid_argument", "")
	p = c.ok(a.sign(obj{"type": "set_tags", "node_id": a.id, "tags": []string{}}))
	if !strings.Contains(p.String(), `"tags":[]`) {
		t.Errorf("set_tags []: %s", p)
	}
	for _, h := range []string{"localhost", "backbone", "broadcast", "UP", "a_b", strings.Repeat("a", 64)} {
		c.fail(a.sign(obj{"type": "set_hostname", "node_id": a.id, "hostname": h}), "invalid_argument", "")
	}
	p = c.ok(a.sign(obj{"type": "set_hostname", "node_id": a.id, "hostname": "ok-1"}))
	if p.str("hostname") != "ok-1" {
		t.Errorf("set_hostname_ok: %s", p)
	}
	p = c.ok(a.sign(obj{"type": "set_hostname", "node_id": a.id, "hostname": ""}))
	if p.str("hostname") != "" {
		t.Errorf("clear: %s", p)
	}
	// p = lookup public: real_addr present
	p = c.ok(obj{"type": "lookup", "node_id": a.id})
	if p.str("real_addr") == "" || p.m["task_exec"] != true {
		t.Errorf("public lookup: %s", p)
	}
	if _, ok := p.m["hostname"]; ok {
		t.Errorf("empty hostname present: %s", p)
	}
	if _, ok := p.m["tags"]; ok {
		t.Errorf("empty tags present: %s", p)
	}
	// unsigned setter without token: unauthenticated; with token for unknown node: not_found
	c.fail(obj{"type": "set_visibility", "node_id": a.id, "public": false}, "unauthenticated", "")
	c.fail(obj{"type": "set_visibility", "node_id": 999, "public": false, "admin_token": adminTok}, "not_found", "")
	c.fail(obj{"type": "set_visibility", "public": false, "admin_token": adminTok}, "not_found", "")
	// network token does not authorize setters
	o := c.register(nil)
	c.createNet(o, "st", "", obj{"network_admin_token": netTok})
	c.fail(obj{"type": "set_visibility", "node_id": a.id, "public": false, "admin_token": netTok}, "unauthenticated", "")
}

// §7.5 roles replies.
func TestConf_Roles(t *testing.T) {
	r := start(t, "-rate-limit", "off")
	c := r.dial()
	f := setupNet(t, c, "roles", "open")
	p := c.ok(f.member.sign(obj{"type": "get_member_role", "node_id": f.member.id, "network_id": f.net, "target_node_id": f.admin.id}))
	if p.str("role") != "admin" || p.num("target_node_id") != f.admin.id || p.num("network_id") != f.net {
		t.Errorf("get_member_role_ok: %s", p)
	}
	c.fail(f.member.sign(obj{"type": "get_member_role", "node_id": f.member.id, "network_id": f.net, "target_node_id": f.outsider.id}), "not_found", "")
	c.fail(f.outsider.sign(obj{"type": "get_member_role", "node_id": f.outsider.id, "network_id": f.net, "target_node_id": f.admin.id}), "permission_denied", "")
	c.fail(f.owner.sign(obj{"type": "promote_member", "node_id": f.owner.id, "network_id": f.net, "target_node_id": f.admin.id}), "already_exists", "")
	c.fail(f.owner.sign(obj{"type": "demote_member", "node_id": f.owner.id, "network_id": f.net, "target_node_id": f.member.id}), "already_exists", "")
	c.fail(f.owner.sign(obj{"type": "promote_member", "node_id": f.owner.id, "network_id": f.net, "target_node_id": f.outsider.id}), "not_found", "")
	c.fail(f.owner.sign(obj{"type": "promote_member", "node_id": f.owner.id, "network_id": f.net, "target_node_id": f.owner.id}), "failed_precondition", "")
	c.fail(f.owner.sign(obj{"type": "demote_member", "node_id": f.owner.id, "network_id": f.net, "target_node_id": f.owner.id}), "failed_precondition", "transfer ownership instead")
	c.fail(f.owner.sign(obj{"type": "transfer_ownership", "node_id": f.owner.id, "network_id": f.net, "new_owner_id": f.outsider.id}), "not_found", "")
	c.fail(f.owner.sign(obj{"type": "transfer_ownership", "node_id": f.owner.id, "network_id": f.net, "new_owner_id": f.owner.id}), "failed_precondition", "")
	c.fail(f.admin.sign(obj{"type": "transfer_ownership", "node_id": f.admin.id, "network_id": f.net, "new_owner_id": f.admin.id}), "permission_denied", "")
	p = c.ok(f.owner.sign(obj{"type": "transfer_ownership", "node_id": f.owner.id, "network_id": f.net, "new_owner_id": f.member.id}))
	if p.num("old_owner") != f.owner.id || p.num("new_owner") != f.member.id || p.num("network_id") != f.net {
		t.Errorf("transfer_ownership_ok: %s", p)
	}
	p = c.ok(f.member.sign(obj{"type": "get_member_role", "node_id": f.member.id, "network_id": f.net, "target_node_id": f.owner.id}))
	if p.str("role") != "admin" {
		t.Errorf("old owner role: %s", p)
	}
	p = c.ok(f.owner.sign(obj{"type": "leave_network", "node_id": f.owner.id, "network_id": f.net}))
	if p.num("network_id") != f.net {
		t.Errorf("leave_network_ok: %s", p)
	}
	c.fail(f.owner.sign(obj{"type": "leave_network", "node_id": f.owner.id, "network_id": f.net}), "not_found", "")
	c.fail(obj{"type": "leave_network", "node_id": f.admin.id, "network_id": f.net, "admin_token": netTok}, "permission_denied", "")
	c.ok(obj{"type": "leave_network", "node_id": f.admin.id, "network_id": f.net, "admin_token": adminTok})
	c.fail(f.member.sign(obj{"type": "leave_network", "node_id": f.member.id, "network_id": 0}), "failed_precondition", "")
	// delete
	c.fail(obj{"type": "delete_network", "network_id": 0, "admin_token": adminTok}, "failed_precondition", "")
	c.fail(obj{"type": "rename_network", "network_id": 0, "name": "x", "admin_token": adminTok}, "failed_precondition", "")
	p = c.ok(f.member.sign(obj{"type": "delete_network", "node_id": f.member.id, "network_id": f.net}))
	if p.num("network_id") != f.net {
		t.Errorf("delete_network_ok: %s", p)
	}
	c.fail(f.member.sign(obj{"type": "delete_network", "node_id": f.member.id, "network_id": f.net}), "not_found", "")
	// ID not reused
	id := c.createNet(f.member, "roles", "", nil)
	if id == f.net {
		t.Errorf("network ID reused")
	}
}

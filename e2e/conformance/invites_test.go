package conformance

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// §7.7 invites; §14 items 43–48.
func TestConf_43_Invites(t *testing.T) {
	r := start(t, "-rate-limit", "off", "-invite-ttl", "3s", "-reap-interval", "500ms")
	c := r.dial()
	o, b := c.register(nil), c.register(nil)
	op := c.createNet(o, "openn", "", nil)
	c.fail(o.sign(obj{"type": "invite_to_network", "inviter_id": o.id, "network_id": op, "target_node_id": b.id}), "failed_precondition",
		"network "+fmtInt(op)+" is not invite-only; share its join token instead")
	inv := c.createNet(o, "invn", "invite", obj{"network_admin_token": netTok})
	c.fail(o.sign(obj{"type": "invite_to_network", "inviter_id": o.id, "network_id": inv, "target_node_id": o.id}), "invalid_argument", "")
	c.fail(o.sign(obj{"type": "invite_to_network", "inviter_id": o.id, "network_id": inv, "target_node_id": 999}), "not_found", "")
	c.fail(o.sign(obj{"type": "invite_to_network", "inviter_id": o.id, "network_id": 0, "target_node_id": b.id}), "failed_precondition", "")
	p := c.ok(o.sign(obj{"type": "invite_to_network", "inviter_id": o.id, "network_id": inv, "target_node_id": b.id}))
	if p.str("status") != "invited" || p.num("network_id") != inv || p.num("target_node_id") != b.id {
		t.Errorf("invite_to_network_ok: %s", p)
	}
	n := c.auditHead()
	p = c.ok(obj{"type": "invite_to_network", "network_id": inv, "target_node_id": b.id, "admin_token": netTok})
	if p.str("status") != "already_invited" {
		t.Errorf("repeat: %s", p)
	}
	if c.auditHead() != n {
		t.Errorf("already_invited emitted an event")
	}
	c.fail(obj{"type": "invite_to_network", "network_id": inv, "target_node_id": o.id, "admin_token": netTok}, "already_exists", "")
	p = c.ok(b.sign(obj{"type": "poll_invites", "node_id": b.id}))
	var pi struct {
		Invites []map[string]any `json:"invites"`
	}
	json.Unmarshal(p.raw, &pi)
	if len(pi.Invites) != 1 {
		t.Fatalf("poll_invites: %s", p)
	}
	e := pi.Invites[0]
	if e["network_id"] != float64(inv) || e["inviter_id"] != float64(o.id) || e["network_name"] != "invn" {
		t.Errorf("entry: %s", p)
	}
	ts, _ := e["timestamp"].(float64)
	ex, _ := e["expires_at"].(float64)
	if ts == 0 || ex-ts < 2 || ex-ts > 4 || float64(time.Now().Unix())-ts > 5 {
		t.Errorf("timestamps: %s", p)
	}
	if !strings.Contains(p.String(), `"expires_at":`+fmtInt(int64(ex))) {
		t.Errorf("expires_at not an int: %s", p)
	}
	// non-destructive
	c.ok(b.sign(obj{"type": "poll_invites", "node_id": b.id}))
	// full network: accept fails, invite kept
	c.ok(o.sign(obj{"type": "set_network_policy", "node_id": o.id, "network_id": inv, "max_members": 1}))
	c.fail(b.sign(obj{"type": "respond_invite", "node_id": b.id, "network_id": inv, "accept": true}), "resource_exhausted", "")
	p = c.ok(b.sign(obj{"type": "poll_invites", "node_id": b.id}))
	json.Unmarshal(p.raw, &pi)
	if len(pi.Invites) != 1 {
		t.Errorf("invite lost after failed accept: %s", p)
	}
	x := c.register(nil)
	c.fail(o.sign(obj{"type": "invite_to_network", "inviter_id": o.id, "network_id": inv, "target_node_id": x.id}), "resource_exhausted", "")
	c.ok(o.sign(obj{"type": "set_network_policy", "node_id": o.id, "network_id": inv, "max_members": 0}))
	c.fail(b.sign(obj{"type": "respond_invite", "node_id": b.id, "network_id": 77, "accept": true}), "not_found", "no pending invite to network 77")
	c.fail(b.sign(obj{"type": "respond_invite", "node_id": b.id, "network_id": inv}), "invalid_argument", "accept")
	r.restart()
	c = r.dial()
	h := c.auditHead()
	p = c.ok(b.sign(obj{"type": "respond_invite", "node_id": b.id, "network_id": inv, "accept": true}))
	if p.m["accepted"] != true || p.num("network_id") != inv || p.str("role") != "member" || !strings.HasPrefix(p.str("address"), fmtInt(inv)+":") {
		t.Errorf("respond_invite_ok: %s", p)
	}
	expectEvents(t, "accept", events(t, r, c, h),
		"invite.responded node_id="+fmtInt(b.id)+" network_id="+fmtInt(inv)+" accepted=true actor_node_id="+fmtInt(b.id)+" auth_via=self",
		"network.joined node_id="+fmtInt(b.id)+" network_id="+fmtInt(inv)+" join_rule=invite actor_node_id="+fmtInt(b.id)+" auth_via=self")
	// expiry
	c.ok(o.sign(obj{"type": "invite_to_network", "inviter_id": o.id, "network_id": inv, "target_node_id": x.id}))
	time.Sleep(3500 * time.Millisecond)
	p = c.ok(x.sign(obj{"type": "poll_invites", "node_id": x.id}))
	if !strings.Contains(p.String(), `"invites":[]`) {
		t.Errorf("expired invite returned: %s", p)
	}
	c.fail(x.sign(obj{"type": "respond_invite", "node_id": x.id, "network_id": inv, "accept": true}), "not_found", "")
	deadline := time.Now().Add(5 * time.Second)
	var rec map[string]any
	for time.Now().Before(deadline) && rec == nil {
		for _, l := range r.auditLines() {
			if strings.Contains(l, `"invite.removed"`) {
				rec, _ = decode([]byte(l))
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if rec == nil || rec["reason"] != "expired" || rec["auth_via"] != "system" || rec["actor_node_id"] != json.Number("0") ||
		rec["node_id"] != json.Number(fmtInt(x.id)) || rec["inviter_id"] != json.Number(fmtInt(o.id)) {
		t.Errorf("invite.removed: %v", rec)
	}
}

// §7.3 / §11: handshake requests and responses expire after -handshake-ttl.
func TestConf_HandshakeTTL(t *testing.T) {
	r := start(t, "-rate-limit", "off", "-handshake-ttl", "1s", "-reap-interval", "300ms")
	c := r.dial()
	a, b := c.register(nil), c.register(nil)
	c.ok(a.sign(obj{"type": "request_handshake", "from_node_id": a.id, "to_node_id": b.id}))
	c.ok(a.sign(obj{"type": "respond_handshake", "node_id": a.id, "peer_id": b.id, "accept": false}))
	time.Sleep(1800 * time.Millisecond)
	p := c.ok(b.sign(obj{"type": "poll_handshakes", "node_id": b.id}))
	if !strings.Contains(p.String(), `"requests":[]`) || !strings.Contains(p.String(), `"responses":[]`) {
		t.Errorf("expired handshakes returned: %s", p)
	}
	// a new request is delivered again (the expired one no longer counts as pending)
	p = c.ok(a.sign(obj{"type": "request_handshake", "from_node_id": a.id, "to_node_id": b.id}))
	if p.str("status") != "delivered" {
		t.Errorf("after expiry: %s", p)
	}
}

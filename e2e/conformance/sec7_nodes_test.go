package conformance

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// §7.1.1 `listen_addr`: "Only the port (1..65535) is used; the IP is the TCP
// peer's ... Missing or unparseable: the TCP peer `ip:port` is stored".
func TestConf_7_1_1_ListenAddr(t *testing.T) {
	r := start(t, "-rate-limit", "off")
	c := r.dial()
	peer := c.c.LocalAddr().String()
	for _, la := range []any{nil, "garbage", "10.9.8.7"} {
		k := newKey()
		req := obj{"type": "register", "public_key": k.pubB64()}
		if la != nil {
			req["listen_addr"] = la
		}
		p := c.ok(signWith(req, k.key, 0, 0))
		if p.str("observed_addr") != peer {
			t.Errorf("listen_addr %v: observed_addr %q, want the TCP peer %s", la, p.str("observed_addr"), peer)
		}
	}
	k := newKey()
	p := c.ok(signWith(obj{"type": "register", "public_key": k.pubB64(), "listen_addr": "10.9.8.7:4321"}, k.key, 0, 0))
	if p.str("observed_addr") != "127.0.0.1:4321" {
		t.Errorf("observed_addr %s", p)
	}
	// §7.1.2 heartbeat: "the endpoint is not changed" (another connection, another source port)
	k.id = p.num("node_id")
	c.ok(k.sign(obj{"type": "set_visibility", "node_id": k.id, "public": true}))
	c2 := r.dial()
	c2.ok(k.sign(obj{"type": "heartbeat", "node_id": k.id}))
	p = c2.ok(obj{"type": "lookup", "node_id": k.id})
	if p.str("real_addr") != "127.0.0.1:4321" {
		t.Errorf("heartbeat changed the endpoint: %s", p)
	}
}

// §7.1.1 decision order 2: "Update `real_addr`, `lan_addrs`, `last_seen`,
// `version`, `capabilities`; ... Visibility, tags, task_exec, memberships,
// roles, trust and key metadata are kept."
func TestConf_7_1_1_ReRegisterUpdates(t *testing.T) {
	r := start(t, "-rate-limit", "off")
	c := r.dial()
	a := c.register(obj{"version": "1.0.0", "capabilities": []string{"auth-v2"}, "lan_addrs": []string{"10.0.0.1:4000"}})
	b := c.register(nil)
	c.ok(a.sign(obj{"type": "set_visibility", "node_id": a.id, "public": true}))
	c.ok(a.sign(obj{"type": "set_tags", "node_id": a.id, "tags": []string{"keep"}}))
	c.ok(a.sign(obj{"type": "set_task_exec", "node_id": a.id, "enabled": true}))
	c.ok(a.sign(obj{"type": "report_trust", "node_id": a.id, "peer_id": b.id}))
	c.ok(b.sign(obj{"type": "report_trust", "node_id": b.id, "peer_id": a.id}))
	net := c.createNet(a, "rr", "", nil)
	p := c.ok(b.sign(obj{"type": "resolve", "requester_id": b.id, "node_id": a.id}))
	if string(mustJSON(p.m["lan_addrs"])) != `["10.0.0.1:4000"]` || string(mustJSON(p.m["capabilities"])) != `["auth-v2"]` {
		t.Errorf("resolve_ok: %s", p)
	}
	c.ok(signWith(obj{"type": "register", "public_key": a.pubB64(), "listen_addr": "1.2.3.4:4555", "version": "2.0.0",
		"capabilities": []string{"auth-v2", "secure-v2"}, "lan_addrs": []string{"[fe80::1]:4000"}}, a.key, 0, 0))
	p = c.ok(obj{"type": "lookup", "node_id": a.id})
	if p.str("version") != "2.0.0" || string(mustJSON(p.m["capabilities"])) != `["auth-v2","secure-v2"]` || p.str("real_addr") != "127.0.0.1:4555" ||
		p.m["public"] != true || string(mustJSON(p.m["tags"])) != `["keep"]` || p.m["task_exec"] != true {
		t.Errorf("lookup after re-register: %s", p)
	}
	p = c.ok(b.sign(obj{"type": "resolve", "requester_id": b.id, "node_id": a.id}))
	if string(mustJSON(p.m["lan_addrs"])) != `["[fe80::1]:4000"]` {
		t.Errorf("lan_addrs not updated: %s", p)
	}
	p = c.ok(a.sign(obj{"type": "check_trust", "node_id": a.id, "peer_id": b.id}))
	if p.m["trust_pair"] != true {
		t.Errorf("trust lost on re-register: %s", p)
	}
	p = c.ok(a.sign(obj{"type": "get_member_role", "node_id": a.id, "network_id": net, "target_node_id": a.id}))
	if p.str("role") != "owner" {
		t.Errorf("role lost on re-register: %s", p)
	}
	// §7.1.5: `lan_addrs` "only if non-empty"
	p = c.ok(a.sign(obj{"type": "resolve", "requester_id": a.id, "node_id": b.id}))
	if _, ok := p.m["lan_addrs"]; ok {
		t.Errorf("empty lan_addrs present: %s", p)
	}
}

// §7.1.3 deregister effects: "memberships and roles removed; pending invites
// to and from the node removed; its handshake inboxes emptied; all trust
// approvals and pairs involving it removed; hostname released".
func TestConf_7_1_3_DeregisterEffects(t *testing.T) {
	r := start(t, "-rate-limit", "off")
	c := r.dial()
	a := c.register(obj{"hostname": "dereg"})
	b := c.register(nil)
	c.ok(a.sign(obj{"type": "report_trust", "node_id": a.id, "peer_id": b.id}))
	c.ok(b.sign(obj{"type": "report_trust", "node_id": b.id, "peer_id": a.id}))
	c.ok(b.sign(obj{"type": "request_handshake", "from_node_id": b.id, "to_node_id": a.id, "justification": "x"}))
	c.ok(b.sign(obj{"type": "respond_handshake", "node_id": b.id, "peer_id": a.id, "accept": true}))
	e0 := c.ok(b.sign(obj{"type": "heartbeat", "node_id": b.id})).num("policy_epoch")
	c.ok(a.sign(obj{"type": "deregister", "node_id": a.id}))
	if e1 := c.ok(b.sign(obj{"type": "heartbeat", "node_id": b.id})).num("policy_epoch"); e1 <= e0 {
		t.Errorf("deregister did not bump policy_epoch (%d → %d)", e0, e1)
	}
	c.fail(b.sign(obj{"type": "report_trust", "node_id": b.id, "peer_id": a.id}), "not_found", "")
	// reclaim: inbox empty, no trust
	p := c.ok(signWith(obj{"type": "register", "public_key": a.pubB64()}, a.key, 0, 0))
	if p.num("node_id") != a.id {
		t.Fatalf("reclaim: %s", p)
	}
	p = c.ok(a.sign(obj{"type": "poll_handshakes", "node_id": a.id}))
	if !strings.Contains(p.String(), `"requests":[]`) || !strings.Contains(p.String(), `"responses":[]`) {
		t.Errorf("handshake inbox survived deregister: %s", p)
	}
	p = c.ok(a.sign(obj{"type": "check_trust", "node_id": a.id, "peer_id": b.id}))
	if p.m["trust_pair"] != false {
		t.Errorf("trust pair survived deregister: %s", p)
	}
	// b's approval of a was removed too: a reporting alone makes no pair
	p = c.ok(a.sign(obj{"type": "report_trust", "node_id": a.id, "peer_id": b.id}))
	if p.m["trusted"] != false {
		t.Errorf("b's old approval of a survived deregister: %s", p)
	}
}

// §7.1.4 `networks`: "Anyone else: `0` plus the non-backbone networks the
// signed requester shares with the target". §7.3 check_trust
// `shared_networks` ascending and `trusted` = "pair exists or
// `shared_networks` non-empty".
func TestConf_7_1_4_SharedNetworksOnly(t *testing.T) {
	r := start(t, "-rate-limit", "off")
	c := r.dial()
	o, a, b := c.register(nil), c.register(nil), c.register(nil)
	n1 := c.createNet(o, "sh1", "", nil)
	n2 := c.createNet(o, "sh2", "", nil)
	n3 := c.createNet(o, "sh3", "", nil)
	c.join(a, n1)
	c.join(a, n2)
	c.join(a, n3)
	c.join(b, n3)
	c.join(b, n1)
	p := c.ok(b.sign(obj{"type": "lookup", "requester_id": b.id, "node_id": a.id}))
	want := "[0," + fmtInt(n1) + "," + fmtInt(n3) + "]"
	if string(mustJSON(p.m["networks"])) != want {
		t.Errorf("networks %s, want %s", mustJSON(p.m["networks"]), want)
	}
	p = c.ok(b.sign(obj{"type": "check_trust", "node_id": b.id, "peer_id": a.id}))
	if p.m["trusted"] != true || p.m["trust_pair"] != false || string(mustJSON(p.m["shared_networks"])) != "["+fmtInt(n1)+","+fmtInt(n3)+"]" {
		t.Errorf("check_trust: %s", p)
	}
	// §7.1.5 resolve: public target, requester = target, trust pair
	x := c.register(nil)
	c.fail(x.sign(obj{"type": "resolve", "requester_id": x.id, "node_id": a.id}), "permission_denied", "")
	p = c.ok(x.sign(obj{"type": "resolve", "requester_id": x.id, "node_id": x.id}))
	if p.num("node_id") != x.id || p.str("real_addr") == "" {
		t.Errorf("self resolve: %s", p)
	}
	c.ok(a.sign(obj{"type": "report_trust", "node_id": a.id, "peer_id": x.id}))
	c.fail(x.sign(obj{"type": "resolve", "requester_id": x.id, "node_id": a.id}), "permission_denied", "")
	c.ok(x.sign(obj{"type": "report_trust", "node_id": x.id, "peer_id": a.id}))
	c.ok(x.sign(obj{"type": "resolve", "requester_id": x.id, "node_id": a.id}))
	y := c.register(nil)
	c.ok(o.sign(obj{"type": "set_visibility", "node_id": o.id, "public": true}))
	p = c.ok(y.sign(obj{"type": "resolve", "requester_id": y.id, "node_id": o.id}))
	if p.str("public_key") != o.pubB64() {
		t.Errorf("resolve of a public node: %s", p)
	}
	// §7.3 unknown peers: not_found
	c.fail(y.sign(obj{"type": "request_handshake", "from_node_id": y.id, "to_node_id": 4000}), "not_found", "")
	c.fail(y.sign(obj{"type": "respond_handshake", "node_id": y.id, "peer_id": 4000, "accept": true}), "not_found", "")
	c.fail(y.sign(obj{"type": "check_trust", "node_id": y.id, "peer_id": y.id}), "invalid_argument", "")
	c.fail(y.sign(obj{"type": "revoke_trust", "node_id": y.id, "peer_id": y.id}), "invalid_argument", "")
	c.fail(y.sign(obj{"type": "respond_handshake", "node_id": y.id, "peer_id": y.id, "accept": true}), "invalid_argument", "")
}

// §7.9: "They do not refresh `last_seen` (the original does)"; "Scores stay
// within ±1,000,000 (an update is clamped)"; §9.1/§14 item 63: no event for
// a no-op; "Unknown node → `not_found`".
func TestConf_7_9_Polo(t *testing.T) {
	r := start(t, "-rate-limit", "off", "-stale-after", "1s")
	c := r.dial()
	a := c.register(nil)
	offline := func() bool {
		p := c.ok(obj{"type": "list_nodes", "network_id": 0, "admin_token": adminTok})
		return strings.Contains(p.String(), `"offline":true`)
	}
	for deadline := time.Now().Add(10 * time.Second); !offline() && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond) // polling the registry, bounded
	}
	if !offline() {
		t.Fatal("node never went offline")
	}
	c.ok(obj{"type": "update_polo_score", "node_id": a.id, "delta": -1000000, "admin_token": adminTok})
	p := c.ok(obj{"type": "update_polo_score", "node_id": a.id, "delta": -5, "admin_token": adminTok})
	if p.num("polo_score") != -1000000 || p.num("node_id") != a.id || p.str("address") == "" {
		t.Errorf("clamp at -1,000,000: %s", p)
	}
	c.ok(obj{"type": "set_polo_score", "node_id": a.id, "polo_score": 12, "admin_token": adminTok})
	if !offline() {
		t.Errorf("a polo score change refreshed last_seen")
	}
	h := c.auditHead()
	p = c.ok(obj{"type": "set_polo_score", "node_id": a.id, "polo_score": 12, "admin_token": adminTok})
	if p.num("polo_score") != 12 {
		t.Errorf("set_polo_score_ok: %s", p)
	}
	if c.auditHead() != h {
		t.Errorf("set_polo_score to the same value emitted an event")
	}
	c.fail(obj{"type": "set_polo_score", "node_id": 4000, "polo_score": 1, "admin_token": adminTok}, "not_found", "")
	c.fail(obj{"type": "update_polo_score", "node_id": 4000, "delta": 1, "admin_token": adminTok}, "not_found", "")
	c.fail(obj{"type": "get_polo_score", "node_id": 4000}, "not_found", "")
	c.fail(obj{"type": "set_polo_score", "node_id": a.id, "polo_score": 1000001, "admin_token": adminTok}, "invalid_argument", "")
	c.fail(obj{"type": "set_polo_score", "node_id": a.id, "admin_token": adminTok}, "invalid_argument", "")
	c.fail(obj{"type": "update_polo_score", "node_id": a.id, "admin_token": adminTok}, "invalid_argument", "")
	// a network token is not the global token
	o := c.register(nil)
	c.createNet(o, "polo", "", obj{"network_admin_token": netTok})
	c.fail(obj{"type": "set_polo_score", "node_id": a.id, "polo_score": 1, "admin_token": netTok}, "unauthenticated", "")
	// set_polo_score has no signer field (table 5.4 "—"): §4.3 "A request
	// that carries `signature` but no node signer fails authentication".
	c.fail(o.sign(obj{"type": "set_polo_score", "node_id": o.id, "polo_score": 1}), "unauthenticated", "")
}

// §7.4.5 "Audit `network.renamed` (none when unchanged). Idempotent."
// §7.4.3 leave: "the invites it sent for this network are removed
// (`invite.removed`, reason `inviter_removed`); `policy_epoch` bumped."
// §7.4.2 join bumps `policy_epoch`.
func TestConf_7_4_RenameLeaveJoin(t *testing.T) {
	r := start(t, "-rate-limit", "off")
	c := r.dial()
	o, a, x := c.register(nil), c.register(nil), c.register(nil)
	net := c.createNet(o, "rlj", "invite", nil)
	h := c.auditHead()
	p := c.ok(o.sign(obj{"type": "rename_network", "node_id": o.id, "network_id": net, "name": "rlj"}))
	if p.str("name") != "rlj" {
		t.Errorf("rename to the same name: %s", p)
	}
	if c.auditHead() != h {
		t.Errorf("unchanged rename emitted an event")
	}
	epoch := func() int64 { return c.ok(o.sign(obj{"type": "heartbeat", "node_id": o.id})).num("policy_epoch") }
	c.ok(o.sign(obj{"type": "invite_to_network", "inviter_id": o.id, "network_id": net, "target_node_id": a.id}))
	c.ok(a.sign(obj{"type": "respond_invite", "node_id": a.id, "network_id": net, "accept": true}))
	c.ok(o.sign(obj{"type": "promote_member", "node_id": o.id, "network_id": net, "target_node_id": a.id}))
	c.ok(a.sign(obj{"type": "invite_to_network", "inviter_id": a.id, "network_id": net, "target_node_id": x.id}))
	e := epoch()
	h = c.auditHead()
	c.ok(a.sign(obj{"type": "leave_network", "node_id": a.id, "network_id": net}))
	if e2 := epoch(); e2 <= e {
		t.Errorf("leave did not bump policy_epoch")
	}
	s := fmtInt
	expectEvents(t, "leave", events(t, r, c, h),
		"network.left node_id="+s(a.id)+" network_id="+s(net)+" actor_node_id="+s(a.id)+" auth_via=self",
		"invite.removed network_id="+s(net)+" node_id="+s(x.id)+" inviter_id="+s(a.id)+" reason=inviter_removed actor_node_id="+s(a.id)+" auth_via=self")
	p = c.ok(x.sign(obj{"type": "poll_invites", "node_id": x.id}))
	if !strings.Contains(p.String(), `"invites":[]`) {
		t.Errorf("invite of a departed inviter: %s", p)
	}
	op := c.createNet(o, "rlj-open", "", nil)
	e = epoch()
	c.join(x, op)
	if e2 := epoch(); e2 <= e {
		t.Errorf("join did not bump policy_epoch")
	}
}

// §7.3 poll_handshakes "drains what it returns ... in the same transaction
// that builds the reply"; §14 item 54 "returns each request once, even
// across a registry crash right after the reply". timestamp in Unix seconds.
func TestConf_54_PollDrainSurvivesCrash(t *testing.T) {
	r := start(t, "-rate-limit", "off")
	c := r.dial()
	a, b := c.register(nil), c.register(nil)
	c.ok(a.sign(obj{"type": "request_handshake", "from_node_id": a.id, "to_node_id": b.id, "justification": "crash"}))
	c.ok(a.sign(obj{"type": "respond_handshake", "node_id": a.id, "peer_id": b.id, "accept": false}))
	p := c.ok(b.sign(obj{"type": "poll_handshakes", "node_id": b.id}))
	var ph struct {
		Requests  []map[string]any `json:"requests"`
		Responses []map[string]any `json:"responses"`
	}
	json.Unmarshal(p.raw, &ph)
	if len(ph.Requests) != 1 || len(ph.Responses) != 1 {
		t.Fatalf("poll: %s", p)
	}
	now := float64(time.Now().Unix())
	for _, e := range append(ph.Requests, ph.Responses...) {
		if ts, _ := e["timestamp"].(float64); now-ts > 10 || ts-now > 10 {
			t.Errorf("timestamp not Unix seconds: %s", p)
		}
	}
	r.restart() // SIGKILL right after the reply
	c = r.dial()
	p = c.ok(b.sign(obj{"type": "poll_handshakes", "node_id": b.id}))
	if !strings.Contains(p.String(), `"requests":[]`) || !strings.Contains(p.String(), `"responses":[]`) {
		t.Errorf("drained entries returned again after a crash: %s", p)
	}
}

// §7.10 beacon entries are "kept in the store so all replicas see them";
// "idempotent (refreshes the entry)"; `addr` ≤ 262 bytes; beacon_list pages
// ascending by id.
func TestConf_7_10_BeaconDirectory(t *testing.T) {
	r := start(t, "-rate-limit", "off", "-beacon-token", "btok")
	c := r.dial()
	for _, id := range []int64{9, 3, 4294967295} {
		c.ok(obj{"type": "beacon_register", "beacon_id": id, "addr": "127.0.0.1:" + fmtInt(id%60000+1), "token": "btok"})
	}
	c.ok(obj{"type": "beacon_register", "beacon_id": 3, "addr": "127.0.0.1:7777", "token": "btok"})
	c.fail(obj{"type": "beacon_register", "beacon_id": 5, "addr": strings.Repeat("a", 258) + ":9001", "token": "btok"}, "invalid_argument", "")
	c.fail(obj{"type": "beacon_register", "beacon_id": 5, "token": "btok"}, "invalid_argument", "")
	r.restart()
	c = r.dial()
	p := c.ok(obj{"type": "beacon_list", "limit": 2})
	var bl struct {
		Beacons    []map[string]any `json:"beacons"`
		NextCursor string           `json:"next_cursor"`
	}
	json.Unmarshal(p.raw, &bl)
	if len(bl.Beacons) != 2 || bl.Beacons[0]["id"] != float64(3) || bl.Beacons[0]["addr"] != "127.0.0.1:7777" || bl.Beacons[1]["id"] != float64(9) || bl.NextCursor == "" {
		t.Fatalf("beacon_list after restart: %s", p)
	}
	p = c.ok(obj{"type": "beacon_list", "limit": 2, "cursor": bl.NextCursor})
	if !strings.Contains(p.String(), `"beacons":[{"id":4294967295,`) || strings.Contains(p.String(), "next_cursor") {
		t.Errorf("page 2: %s", p)
	}
}

// §7.4.7 list_nodes entry: "and when set: `hostname`, `tags`, `task_exec`
// (`true`), `version`, `real_addr` (public nodes only)".
func TestConf_7_4_7_ListNodesEntry(t *testing.T) {
	r := start(t, "-rate-limit", "off")
	c := r.dial()
	a := c.register(obj{"hostname": "ln-a", "version": "9.9.9", "listen_addr": "1.1.1.1:4100"})
	c.ok(a.sign(obj{"type": "set_visibility", "node_id": a.id, "public": true}))
	c.ok(a.sign(obj{"type": "set_tags", "node_id": a.id, "tags": []string{"gpu"}}))
	c.ok(a.sign(obj{"type": "set_task_exec", "node_id": a.id, "enabled": true}))
	c.ok(obj{"type": "set_polo_score", "node_id": a.id, "polo_score": 42, "admin_token": adminTok})
	p := c.ok(obj{"type": "list_nodes", "network_id": 0, "admin_token": adminTok})
	var ln struct {
		Nodes []map[string]any `json:"nodes"`
	}
	json.Unmarshal(p.raw, &ln)
	if len(ln.Nodes) != 1 {
		t.Fatalf("list_nodes: %s", p)
	}
	e := ln.Nodes[0]
	if e["hostname"] != "ln-a" || e["version"] != "9.9.9" || e["task_exec"] != true || e["real_addr"] != "127.0.0.1:4100" ||
		e["public"] != true || e["polo_score"] != float64(42) || e["address"] != "0:0000.0000.0004" || string(mustJSON(e["tags"])) != `["gpu"]` {
		t.Errorf("entry: %s", p)
	}
	if _, ok := e["offline"]; ok {
		t.Errorf("offline on an online node: %s", p)
	}
}

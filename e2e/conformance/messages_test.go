package conformance

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

var secTime = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`)

// §7.1.1 register reply and decision order; §14 item 21.
func TestConf_21_Register(t *testing.T) {
	r := start(t, "-rate-limit", "off")
	c := r.dial()
	k := newKey()
	p := c.ok(signWith(obj{"type": "register", "public_key": k.pubB64(), "listen_addr": "0.0.0.0:4000", "hostname": "alpha",
		"owner": "a@example.com", "version": "1.5.0", "capabilities": []string{"auth-v2"}, "lan_addrs": []string{"10.0.0.1:4000"}}, k.key, 0, 0))
	if p.num("node_id") != 4 || p.num("network_id") != 0 || p.str("address") != "0:0000.0000.0004" || p.str("public_key") != k.pubB64() ||
		p.str("observed_addr") != "127.0.0.1:4000" || p.num("protocol_version") != 1 || p.str("hostname") != "alpha" ||
		p.num("heartbeat_interval_s") != 30 || p.str("registry_version") == "" || p.num("policy_epoch") < 0 {
		t.Errorf("register_ok: %s", p)
	}
	if _, ok := p.m["hostname_error"]; ok {
		t.Errorf("hostname_error on success: %s", p)
	}
	if av, _ := json.Marshal(p.m["auth_versions"]); string(av) != `["v2"]` {
		t.Errorf("auth_versions %s", av)
	}
	k.id = 4
	// known key, different owner → same ID
	p = c.ok(signWith(obj{"type": "register", "public_key": k.pubB64(), "owner": "evil@example.com"}, k.key, 0, 0))
	if p.num("node_id") != 4 || p.str("hostname") != "alpha" {
		t.Errorf("re-register: %s", p)
	}
	// new key with same owner → new ID
	k2 := newKey()
	p = c.ok(signWith(obj{"type": "register", "public_key": k2.pubB64(), "owner": "a@example.com", "hostname": "alpha"}, k2.key, 0, 0))
	if p.num("node_id") != 5 || p.str("hostname_error") == "" {
		t.Errorf("new key: %s", p)
	}
	if _, ok := p.m["hostname"]; ok {
		t.Errorf("hostname present although not applied: %s", p)
	}
	k2.id = 5
	for _, h := range []string{"localhost", "Bad_Name", "-x"} {
		k3 := newKey()
		p = c.ok(signWith(obj{"type": "register", "public_key": k3.pubB64(), "hostname": h}, k3.key, 0, 0))
		if p.str("hostname_error") == "" {
			t.Errorf("hostname %q: %s", h, p)
		}
	}
	// lookup: key of 4 unchanged
	p = c.ok(obj{"type": "lookup", "node_id": 4})
	if p.str("public_key") != k.pubB64() {
		t.Errorf("lookup: %s", p)
	}
	// deregister unknown → not_found
	c.fail(obj{"type": "deregister", "node_id": 999, "admin_token": adminTok}, "not_found", "node 999 is not registered")
	c.ok(k2.sign(obj{"type": "deregister", "node_id": k2.id}))
	c.fail(obj{"type": "deregister", "node_id": k2.id, "admin_token": adminTok}, "not_found", "")
	// reclaim
	p = c.ok(signWith(obj{"type": "register", "public_key": k2.pubB64()}, k2.key, 0, 0))
	if p.num("node_id") != 5 {
		t.Errorf("reclaim: %s", p)
	}
	ki := c.ok(obj{"type": "get_key_info", "node_id": 5})
	if !secTime.MatchString(ki.str("created_at")) || ki.num("rotate_count") != 0 || ki.num("key_age_days") != 0 || ki.m["expired"] != false {
		t.Errorf("get_key_info: %s", ki)
	}
	// deregister of an owner
	c.createNet(k, "owned", "", nil)
	c.fail(k.sign(obj{"type": "deregister", "node_id": k.id}), "failed_precondition", "node 4 owns network 1; transfer ownership or delete the network first")
}

// §7.1.2 heartbeat reply.
func TestConf_Heartbeat(t *testing.T) {
	r := start(t)
	c := r.dial()
	n := c.register(nil)
	p := c.ok(n.sign(obj{"type": "heartbeat", "node_id": n.id}))
	if d := time.Now().Unix() - p.num("time"); d < -2 || d > 2 {
		t.Errorf("time %s", p)
	}
	if _, ok := p.m["key_expiry_warning"]; ok {
		t.Errorf("warning without expiry: %s", p)
	}
	if p.num("policy_epoch") < 0 {
		t.Errorf("policy_epoch: %s", p)
	}
	for k := range p.m {
		switch k {
		case "type", "time", "policy_epoch":
		default:
			t.Errorf("unexpected key %q", k)
		}
	}
}

// §7.1.4 lookup visibility, §7.1.5 resolve, §11 offline; §14 items 56, 57, 61.
func TestConf_56_LookupResolve(t *testing.T) {
	r := start(t, "-rate-limit", "off", "-stale-after", "2s")
	c := r.dial()
	a := c.register(obj{"hostname": "priv"})
	b := c.register(nil)
	c.ok(a.sign(obj{"type": "set_tags", "node_id": a.id, "tags": []string{"x"}}))
	net := c.createNet(a, "ln", "", nil)
	p := c.ok(obj{"type": "lookup", "node_id": a.id})
	for _, k := range []string{"real_addr", "hostname", "tags", "task_exec"} {
		if _, ok := p.m[k]; ok {
			t.Errorf("anonymous lookup has %s: %s", k, p)
		}
	}
	if nets, _ := json.Marshal(p.m["networks"]); string(nets) != "[0]" || p.str("public_key") != a.pubB64() || p.m["public"] != false {
		t.Errorf("anonymous lookup: %s", p)
	}
	if _, ok := p.m["capabilities"].([]any); !ok {
		t.Errorf("capabilities not an array: %s", p)
	}
	p = c.ok(a.sign(obj{"type": "lookup", "requester_id": a.id, "node_id": a.id}))
	if nets, _ := json.Marshal(p.m["networks"]); string(nets) != "[0,"+strconv.FormatInt(net, 10)+"]" || p.str("hostname") != "priv" {
		t.Errorf("self lookup: %s", p)
	}
	c.fail(b.sign(obj{"type": "resolve", "requester_id": b.id, "node_id": a.id}), "permission_denied",
		"node "+fmtInt(a.id)+" is private and shares no trust pair or network with node "+fmtInt(b.id)+"; send a handshake request")
	// resolve_hostname private → not_found like unknown
	p1 := c.send(b.sign(obj{"type": "resolve_hostname", "requester_id": b.id, "hostname": "priv"}))
	p2 := c.send(b.sign(obj{"type": "resolve_hostname", "requester_id": b.id, "hostname": "nosuch"}))
	if p1.code() != "not_found" || p2.code() != "not_found" || strings.ReplaceAll(p1.msg(), "priv", "X") != strings.ReplaceAll(p2.msg(), "nosuch", "X") {
		t.Errorf("resolve_hostname: %s vs %s", p1, p2)
	}
	c.join(b, net)
	p = c.ok(b.sign(obj{"type": "resolve", "requester_id": b.id, "node_id": a.id}))
	if p.num("node_id") != a.id || p.str("real_addr") == "" || p.str("public_key") != a.pubB64() || p.num("key_age_days") != 0 {
		t.Errorf("resolve_ok: %s", p)
	}
	p = c.ok(b.sign(obj{"type": "resolve_hostname", "requester_id": b.id, "hostname": "priv"}))
	if p.num("node_id") != a.id || p.str("hostname") != "priv" || p.m["public"] != false || p.str("address") == "" {
		t.Errorf("resolve_hostname_ok: %s", p)
	}
	// punch by a third node
	x := c.register(nil)
	c.fail(x.sign(obj{"type": "punch", "requester_id": x.id, "node_a": a.id, "node_b": b.id}), "permission_denied", "")
	p = c.ok(b.sign(obj{"type": "punch", "requester_id": b.id, "node_a": a.id, "node_b": b.id}))
	if p.num("node_a") != a.id || p.str("node_a_addr") == "" || p.num("node_b") != b.id || p.str("node_b_addr") == "" {
		t.Errorf("punch_ok: %s", p)
	}
	// offline: a stops heartbeating
	time.Sleep(2500 * time.Millisecond)
	c.ok(b.sign(obj{"type": "heartbeat", "node_id": b.id}))
	p = c.fail(b.sign(obj{"type": "resolve", "requester_id": b.id, "node_id": a.id}), "failed_precondition", "node "+fmtInt(a.id)+" is offline, last seen ")
	if i := strings.Index(p.msg(), "last seen "); i >= 0 && !secTime.MatchString(p.msg()[i+10:]) {
		t.Errorf("last seen time format: %q", p.msg())
	}
	c.fail(b.sign(obj{"type": "punch", "requester_id": b.id, "node_a": a.id, "node_b": b.id}), "failed_precondition", "")
	// offline keeps hostname
	y := c.register(nil)
	c.fail(y.sign(obj{"type": "set_hostname", "node_id": y.id, "hostname": "priv"}), "already_exists", "")
	p = c.ok(obj{"type": "list_nodes", "network_id": net, "admin_token": adminTok})
	var ln struct {
		Nodes []map[string]any `json:"nodes"`
	}
	json.Unmarshal(p.raw, &ln)
	if len(ln.Nodes) != 2 || ln.Nodes[0]["offline"] != true || ln.Nodes[0]["hostname"] != "priv" || ln.Nodes[0]["role"] != "owner" {
		t.Errorf("list_nodes: %s", p)
	}
	if _, ok := ln.Nodes[1]["offline"]; ok {
		t.Errorf("online node has offline key: %s", p)
	}
	for _, n := range ln.Nodes {
		if s, _ := n["last_seen"].(string); !secTime.MatchString(s) {
			t.Errorf("last_seen %v", n["last_seen"])
		}
		if _, ok := n["real_addr"]; ok {
			t.Errorf("private node real_addr in list_nodes: %s", p)
		}
	}
	// lookup of the offline node still answers
	c.ok(obj{"type": "lookup", "node_id": a.id})
}

// §7.3 trust; §14 items 52, 53, 55.
func TestConf_52_Trust(t *testing.T) {
	r := start(t, "-rate-limit", "off")
	c := r.dial()
	a, b := c.register(nil), c.register(nil)
	c.fail(a.sign(obj{"type": "report_trust", "node_id": a.id, "peer_id": a.id}), "invalid_argument", "")
	c.fail(a.sign(obj{"type": "report_trust", "node_id": a.id, "peer_id": 999}), "not_found", "")
	p := c.ok(a.sign(obj{"type": "report_trust", "node_id": a.id, "peer_id": b.id}))
	if p.m["trusted"] != false {
		t.Errorf("report_trust_ok: %s", p)
	}
	n := c.auditHead()
	c.ok(a.sign(obj{"type": "report_trust", "node_id": a.id, "peer_id": b.id}))
	p = c.ok(a.sign(obj{"type": "check_trust", "node_id": a.id, "peer_id": b.id}))
	if p.m["trust_pair"] != false || p.m["trusted"] != false || string(mustJSON(p.m["shared_networks"])) != "[]" {
		t.Errorf("check_trust: %s", p)
	}
	p = c.ok(b.sign(obj{"type": "report_trust", "node_id": b.id, "peer_id": a.id}))
	if p.m["trusted"] != true {
		t.Errorf("report_trust_ok 2: %s", p)
	}
	if c.auditHead() != n+1 {
		t.Errorf("repeat report_trust emitted an event")
	}
	au := auditRec(t, r, n+1)
	if au["node_a"] != json.Number(fmtInt(b.id)) || au["mutual"] != true {
		t.Errorf("trust.created: %v", au)
	}
	for _, s := range []*node{a, b} {
		o := a
		if s == a {
			o = b
		}
		p = c.ok(s.sign(obj{"type": "check_trust", "node_id": s.id, "peer_id": o.id}))
		if p.m["trust_pair"] != true || p.m["trusted"] != true {
			t.Errorf("check_trust pair: %s", p)
		}
	}
	p = c.ok(b.sign(obj{"type": "revoke_trust", "node_id": b.id, "peer_id": a.id}))
	if p.m["revoked"] != true {
		t.Errorf("revoke: %s", p)
	}
	p = c.ok(a.sign(obj{"type": "revoke_trust", "node_id": a.id, "peer_id": b.id}))
	if p.m["revoked"] != false {
		t.Errorf("revoke repeat: %s", p)
	}
	if c.auditHead() != n+2 {
		t.Errorf("repeat revoke emitted an event")
	}
	// handshake
	d := c.register(nil)
	p = c.ok(b.sign(obj{"type": "respond_handshake", "node_id": b.id, "peer_id": d.id, "accept": true}))
	if p.m["accept"] != true || p.num("peer_id") != d.id {
		t.Errorf("respond_handshake_ok: %s", p)
	}
	p = c.ok(b.sign(obj{"type": "check_trust", "node_id": b.id, "peer_id": d.id}))
	if p.m["trust_pair"] != false {
		t.Errorf("pair without request: %s", p)
	}
	c.fail(d.sign(obj{"type": "request_handshake", "from_node_id": d.id, "to_node_id": d.id}), "invalid_argument", "")
	p = c.ok(a.sign(obj{"type": "request_handshake", "from_node_id": a.id, "to_node_id": d.id, "justification": "please"}))
	if p.str("status") != "delivered" {
		t.Errorf("request_handshake_ok: %s", p)
	}
	p = c.ok(a.sign(obj{"type": "request_handshake", "from_node_id": a.id, "to_node_id": d.id, "justification": "please"}))
	if p.str("status") != "already_pending" {
		t.Errorf("request_handshake repeat: %s", p)
	}
	p = c.ok(d.sign(obj{"type": "poll_handshakes", "node_id": d.id}))
	var ph struct {
		Requests  []map[string]any `json:"requests"`
		Responses []map[string]any `json:"responses"`
	}
	json.Unmarshal(p.raw, &ph)
	if len(ph.Requests) != 1 || ph.Requests[0]["justification"] != "please" || len(ph.Responses) != 1 || ph.Responses[0]["accept"] != true {
		t.Errorf("poll_handshakes: %s", p)
	}
	p = c.ok(d.sign(obj{"type": "poll_handshakes", "node_id": d.id}))
	if !strings.Contains(p.String(), `"requests":[]`) || !strings.Contains(p.String(), `"responses":[]`) {
		t.Errorf("drained poll: %s", p)
	}
	c.ok(d.sign(obj{"type": "respond_handshake", "node_id": d.id, "peer_id": a.id, "accept": true}))
	p = c.ok(d.sign(obj{"type": "check_trust", "node_id": d.id, "peer_id": a.id}))
	if p.m["trust_pair"] != true {
		t.Errorf("handshake pair: %s", p)
	}
}

func mustJSON(v any) []byte { b, _ := json.Marshal(v); return b }

// §7.6 policies; §14 items 39–42.
func TestConf_39_Policy(t *testing.T) {
	r := start(t, "-rate-limit", "off")
	c := r.dial()
	o := c.register(nil)
	net := c.createNet(o, "pol", "", nil)
	pol := func(f obj) obj {
		req := obj{"type": "set_network_policy", "node_id": o.id, "network_id": net}
		for k, v := range f {
			req[k] = v
		}
		return o.sign(req)
	}
	hb := func() int64 { return c.ok(o.sign(obj{"type": "heartbeat", "node_id": o.id})).num("policy_epoch") }
	e0 := hb()
	p := c.ok(pol(obj{"allowed_ports": []int{443, 80, 80}}))
	if string(mustJSON(p.m["allowed_ports"])) != "[80,443]" || p.num("max_members") != 0 || p.str("description") != "" {
		t.Errorf("set policy: %s", p)
	}
	e1 := hb()
	if e1 <= e0 {
		t.Errorf("epoch not bumped %d %d", e0, e1)
	}
	p = c.ok(pol(obj{"max_members": 50}))
	if string(mustJSON(p.m["allowed_ports"])) != "[80,443]" {
		t.Errorf("merge: %s", p)
	}
	p = c.ok(pol(obj{"allowed_ports": []int{}}))
	if string(mustJSON(p.m["allowed_ports"])) != "[]" {
		t.Errorf("clear: %s", p)
	}
	c.fail(pol(obj{}), "invalid_argument", "")
	ports := make([]int, 257)
	for i := range ports {
		ports[i] = i + 1
	}
	c.fail(pol(obj{"allowed_ports": ports}), "invalid_argument", "")
	c.fail(pol(obj{"allowed_ports": []int{0}}), "invalid_argument", "")
	c.fail(pol(obj{"max_members": 1000001}), "invalid_argument", "")
	req := pol(obj{"max_members": 5, "allowed_ports": []int{1}})
	delete(req, "allowed_ports")
	c.fail(req, "unauthenticated", "")
	p = c.ok(o.sign(obj{"type": "get_network_policy", "node_id": o.id, "network_id": net}))
	if string(mustJSON(p.m["allowed_ports"])) != "[]" || p.num("max_members") != 50 || p.num("policy_epoch") < 0 {
		t.Errorf("get policy: %s", p)
	}
	p = c.ok(o.sign(obj{"type": "get_network_policy", "node_id": o.id, "network_id": 0}))
	if string(mustJSON(p.m["allowed_ports"])) != "[]" || p.num("max_members") != 0 {
		t.Errorf("get policy 0: %s", p)
	}
	c.fail(obj{"type": "get_network_policy", "network_id": 0}, "unauthenticated", "")
	c.fail(obj{"type": "set_network_policy", "network_id": 0, "max_members": 1, "admin_token": adminTok}, "failed_precondition", "")
	// no-op → no event, no epoch bump
	n := c.auditHead()
	e := hb()
	c.ok(pol(obj{"max_members": 50}))
	if hb() != e {
		t.Errorf("no-op bumped epoch")
	}
	if c.auditHead() != n {
		t.Errorf("no-op policy emitted an event")
	}
	// below member count
	b := c.register(nil)
	c.join(b, net)
	c.fail(pol(obj{"max_members": 1}), "failed_precondition", "network "+fmtInt(net)+" has 2 members; remove members first")
	// description 256 code points ok, 257 not
	c.ok(pol(obj{"description": strings.Repeat("é", 256)}))
	c.fail(pol(obj{"description": strings.Repeat("é", 257)}), "invalid_argument", "")
}

// §7.1.1 decision order details: a returning node keeps its hostname when
// the requested one is refused; a reclaimed identity starts fresh.
func TestConf_RegisterReturningAndReclaimed(t *testing.T) {
	r := start(t, "-rate-limit", "off")
	c := r.dial()
	a := c.register(obj{"hostname": "keepme", "owner": "x@example.com"})
	b := c.register(obj{"hostname": "other"})
	p := c.ok(signWith(obj{"type": "register", "public_key": a.pubB64(), "hostname": "other"}, a.key, 0, 0))
	if p.str("hostname") != "keepme" || !strings.Contains(p.str("hostname_error"), "other") {
		t.Errorf("returning node with a taken hostname: %s", p)
	}
	p = c.ok(signWith(obj{"type": "register", "public_key": a.pubB64(), "hostname": "Bad!"}, a.key, 0, 0))
	if p.str("hostname") != "keepme" || p.str("hostname_error") == "" {
		t.Errorf("returning node with an invalid hostname: %s", p)
	}
	_ = b
	// reclaim after deregister
	c.ok(a.sign(obj{"type": "set_visibility", "node_id": a.id, "public": true}))
	c.ok(a.sign(obj{"type": "set_tags", "node_id": a.id, "tags": []string{"t"}}))
	c.ok(a.sign(obj{"type": "set_task_exec", "node_id": a.id, "enabled": true}))
	c.ok(obj{"type": "set_polo_score", "node_id": a.id, "polo_score": 7, "admin_token": adminTok})
	c.ok(a.sign(obj{"type": "deregister", "node_id": a.id}))
	c.fail(a.sign(obj{"type": "heartbeat", "node_id": a.id}), "not_found", "register again")
	p = c.ok(signWith(obj{"type": "register", "public_key": a.pubB64()}, a.key, 0, 0))
	if p.num("node_id") != a.id {
		t.Fatalf("reclaim: %s", p)
	}
	if _, ok := p.m["hostname"]; ok {
		t.Errorf("reclaimed node kept its hostname: %s", p)
	}
	p = c.ok(obj{"type": "lookup", "node_id": a.id, "admin_token": adminTok})
	if p.m["public"] != false || p.num("polo_score") != 0 || p.m["task_exec"] != nil || p.m["tags"] != nil || string(mustJSON(p.m["networks"])) != "[0]" {
		t.Errorf("reclaimed record not fresh: %s", p)
	}
	// reassign_key of a tombstone's key moves the binding
	d := c.register(nil)
	c.ok(d.sign(obj{"type": "deregister", "node_id": d.id}))
	p = c.ok(signWith(obj{"type": "reassign_key", "node_id": b.id, "new_public_key": d.pubB64(), "admin_token": adminTok}, d.key, 0, 0))
	if p.num("node_id") != b.id {
		t.Errorf("reassign from tombstone: %s", p)
	}
	p = c.ok(signWith(obj{"type": "register", "public_key": d.pubB64()}, d.key, 0, 0))
	if p.num("node_id") != b.id {
		t.Errorf("register with the moved key: %s", p)
	}
	k := newKey()
	p = c.ok(signWith(obj{"type": "register", "public_key": k.pubB64()}, k.key, 0, 0))
	if p.num("node_id") != d.id+1 {
		t.Errorf("new ID %d, want %d (never reused)", p.num("node_id"), d.id+1)
	}
}

// §7.1.4 / §7.2: an unsigned requester_id is ignored; list_nodes of network 0 excludes tombstones.
func TestConf_UnsignedRequesterIgnored(t *testing.T) {
	r := start(t, "-rate-limit", "off")
	c := r.dial()
	a := c.register(obj{"hostname": "hidden"})
	b := c.register(nil)
	c.ok(a.sign(obj{"type": "report_trust", "node_id": a.id, "peer_id": b.id}))
	c.ok(b.sign(obj{"type": "report_trust", "node_id": b.id, "peer_id": a.id}))
	p := c.ok(obj{"type": "lookup", "node_id": a.id, "requester_id": a.id})
	if _, ok := p.m["hostname"]; ok {
		t.Errorf("unsigned requester_id revealed the hostname: %s", p)
	}
	c.fail(obj{"type": "resolve_hostname", "hostname": "hidden", "requester_id": b.id}, "not_found", "")
	p = c.ok(b.sign(obj{"type": "resolve_hostname", "hostname": "hidden", "requester_id": b.id}))
	if p.num("node_id") != a.id {
		t.Errorf("trusted resolve_hostname: %s", p)
	}
	p = c.ok(b.sign(obj{"type": "lookup", "node_id": a.id, "requester_id": b.id}))
	if p.str("hostname") != "hidden" || string(mustJSON(p.m["networks"])) != "[0]" {
		t.Errorf("trusted lookup: %s", p)
	}
	d := c.register(nil)
	c.ok(d.sign(obj{"type": "deregister", "node_id": d.id}))
	p = c.ok(obj{"type": "list_nodes", "network_id": 0, "admin_token": adminTok})
	if strings.Contains(p.String(), `"node_id":`+fmtInt(d.id)+`,`) {
		t.Errorf("tombstone listed: %s", p)
	}
	// signed non-member reads the policy: permission_denied
	net := c.createNet(a, "un", "", nil)
	c.fail(d.sign(obj{"type": "get_network_policy", "node_id": b.id, "network_id": net}), "unauthenticated", "")
	c.fail(b.sign(obj{"type": "get_network_policy", "node_id": b.id, "network_id": net}), "permission_denied", "")
}

package conformance

import (
	"strings"
	"testing"
)

// §12 / §14 item 68.
func TestConf_68_HeartbeatBurst(t *testing.T) {
	r := start(t)
	c := r.dial()
	n := c.register(nil)
	var buf []byte
	for i := 0; i < 7; i++ {
		buf = append(buf, frame(body(t, n.sign(obj{"type": "heartbeat", "node_id": n.id})))...)
	}
	c.writeRaw(buf)
	for i := 0; i < 6; i++ {
		if p := c.read(); p.typ() != "heartbeat_ok" {
			t.Errorf("heartbeat %d: %s", i+1, p)
		}
	}
	p := c.read()
	if p.code() != "rate_limited" || !strings.HasPrefix(p.msg(), "rate limited:") {
		t.Fatalf("7th: %s", p)
	}
	ms := p.num("retry_after_ms")
	if ms <= 0 || ms > 5000 {
		t.Errorf("retry_after_ms %d", ms)
	}
	// connection stays open
	c.ok(obj{"type": "beacon_list"})
}

// §12 / §14 item 69.
func TestConf_69_AuthFailureBucket(t *testing.T) {
	r := start(t)
	c := r.dial()
	n := c.register(nil)
	// 30 failed authentications (bad signature) from this IP.
	var buf []byte
	for i := 0; i < 30; i++ {
		req := n.sign(obj{"type": "set_visibility", "node_id": n.id, "public": true})
		req["public"] = false
		buf = append(buf, frame(body(t, req))...)
	}
	c.writeRaw(buf)
	for i := 0; i < 30; i++ {
		if p := c.read(); p.code() != "unauthenticated" {
			t.Fatalf("failure %d: %s", i+1, p)
		}
	}
	req := n.sign(obj{"type": "set_visibility", "node_id": n.id, "public": true})
	req["public"] = false
	p := c.send(req)
	if p.code() != "rate_limited" {
		t.Errorf("31st failure: %s", p)
	}
	c.fail(obj{"type": "set_visibility", "node_id": n.id, "public": true, "admin_token": adminTok}, "rate_limited", "rate limited:")
	c.ok(n.sign(obj{"type": "set_visibility", "node_id": n.id, "public": true}))
}

// §12: 30 signed requests refused for a non-matching admin_token exhaust
// the signer's bucket only.
func TestConf_69_SignerTokenBucket(t *testing.T) {
	r := start(t)
	c := r.dial()
	a, b := c.register(nil), c.register(nil)
	o := c.register(nil)
	net := c.createNet(o, "rl", "", nil)
	c.ok(a.sign(obj{"type": "join_network", "node_id": a.id, "network_id": net, "admin_token": "wrong-wrong-wrong-wrong"}))
	for i := 0; i < 30; i++ {
		p := c.send(a.sign(obj{"type": "rename_network", "node_id": a.id, "network_id": net, "name": "zz", "admin_token": "wrong-wrong-wrong-wrong"}))
		if p.code() != "permission_denied" || !strings.Contains(p.msg(), "admin token not accepted") {
			t.Fatalf("refusal %d: %s", i+1, p)
		}
	}
	c.fail(a.sign(obj{"type": "rename_network", "node_id": a.id, "network_id": net, "name": "zz", "admin_token": adminTok}), "rate_limited", "")
	c.fail(b.sign(obj{"type": "rename_network", "node_id": b.id, "network_id": net, "name": "zz", "admin_token": "wrong-wrong-wrong-wrong"}), "permission_denied", "")
	c.ok(a.sign(obj{"type": "heartbeat", "node_id": a.id}))
}

// §12: register_known 10/min / 5 keyed by key; token 600/min / 200 keyed by IP.
func TestConf_12_OtherBuckets(t *testing.T) {
	r := start(t)
	c := r.dial()
	n := c.register(nil)
	var reqs []obj
	for i := 0; i < 6; i++ {
		reqs = append(reqs, signWith(obj{"type": "register", "public_key": n.pubB64()}, n.key, 0, 0))
	}
	ps := c.pipeline(reqs)
	for i, p := range ps[:5] {
		if p.typ() != "register_ok" {
			t.Errorf("re-register %d: %s", i+1, p)
		}
	}
	if ps[5].code() != "rate_limited" || !strings.HasPrefix(ps[5].msg(), "rate limited:") {
		t.Errorf("6th re-register: %s", ps[5])
	}
	reqs = nil
	for i := 0; i < 240; i++ { // 200 burst + what 10/s refills while sending
		reqs = append(reqs, obj{"type": "get_network_policy", "network_id": 0, "admin_token": adminTok})
	}
	ps = c.pipeline(reqs)
	limited := 0
	for _, p := range ps {
		if p.code() == "rate_limited" {
			limited++
		}
	}
	if ps[0].typ() != "get_network_policy_ok" || ps[199].typ() != "get_network_policy_ok" || ps[239].code() != "rate_limited" || limited > 40 {
		t.Errorf("token bucket: %d limited", limited)
	}
}

// §12 / §14 item 67: many nodes behind one IP each have their own budget;
// mutation bucket 120/min / 60 per node.
func TestConf_67_PerSignerBuckets(t *testing.T) {
	r := start(t)
	c := r.dial()
	nodes := c.registerMany(1000)
	var reqs []obj
	for _, n := range nodes {
		reqs = append(reqs, n.sign(obj{"type": "heartbeat", "node_id": n.id}))
	}
	for i, p := range c.pipeline(reqs) {
		if p.typ() != "heartbeat_ok" {
			t.Fatalf("heartbeat of node %d: %s", i, p)
		}
	}
	n := nodes[0]
	reqs = nil
	// 2 tokens/s refill: a few more than the burst absorb what is refilled while sending.
	for i := 0; i < 70; i++ {
		reqs = append(reqs, n.sign(obj{"type": "set_visibility", "node_id": n.id, "public": i%2 == 0}))
	}
	ps := c.pipeline(reqs)
	for i, p := range ps[:60] {
		if p.typ() != "set_visibility_ok" {
			t.Fatalf("mutation %d: %s", i+1, p)
		}
	}
	if ps[69].code() != "rate_limited" {
		t.Errorf("70th mutation: %s", ps[69])
	}
	c.ok(nodes[1].sign(obj{"type": "set_visibility", "node_id": nodes[1].id, "public": true}))
}

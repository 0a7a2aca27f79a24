package conformance

import (
	"encoding/json"
	"testing"
)

// pipeline sends all requests in one write and returns the replies in order.
func (c *conn) pipeline(reqs []obj) []reply {
	c.t.Helper()
	var buf []byte
	for _, r := range reqs {
		buf = append(buf, frame(body(c.t, r))...)
	}
	c.writeRaw(buf)
	out := make([]reply, len(reqs))
	for i := range reqs {
		out[i] = c.read()
	}
	return out
}

// registerMany registers n fresh keys with pipelining.
func (c *conn) registerMany(n int) []*node {
	c.t.Helper()
	keys := make([]*node, n)
	reqs := make([]obj, n)
	for i := range keys {
		keys[i] = newKey()
		reqs[i] = signWith(obj{"type": "register", "public_key": keys[i].pubB64()}, keys[i].key, 0, 0)
	}
	for i, p := range c.pipeline(reqs) {
		if p.typ() != "register_ok" {
			c.t.Fatalf("register: %s", p)
		}
		keys[i].id = p.num("node_id")
	}
	return keys
}

// §8.2 / §14 item 44: inbox caps of invites and handshakes; poll paging.
func TestConf_44_InboxCaps(t *testing.T) {
	r := start(t, "-rate-limit", "off")
	c := r.dial()
	target := c.register(nil)
	o := c.register(nil)
	var reqs []obj
	for i := 0; i < 101; i++ {
		reqs = append(reqs, obj{"type": "create_network", "node_id": o.id, "name": "cap-" + fmtInt(int64(i)), "join_rule": "invite", "admin_token": adminTok})
	}
	var nets []int64
	for _, p := range c.pipeline(reqs) {
		if p.typ() != "create_network_ok" {
			t.Fatalf("create: %s", p)
		}
		nets = append(nets, p.num("network_id"))
	}
	reqs = nil
	for _, n := range nets {
		reqs = append(reqs, o.sign(obj{"type": "invite_to_network", "inviter_id": o.id, "network_id": n, "target_node_id": target.id}))
	}
	ps := c.pipeline(reqs)
	for i, p := range ps[:100] {
		if p.typ() != "invite_to_network_ok" {
			t.Fatalf("invite %d: %s", i+1, p)
		}
	}
	if ps[100].code() != "resource_exhausted" {
		t.Errorf("101st invite: %s", ps[100])
	}
	// poll_invites pages: limit 100 max, oldest first
	p := c.ok(target.sign(obj{"type": "poll_invites", "node_id": target.id, "limit": 30}))
	var pi struct {
		Invites    []map[string]any `json:"invites"`
		NextCursor string           `json:"next_cursor"`
	}
	json.Unmarshal(p.raw, &pi)
	if len(pi.Invites) != 30 || pi.NextCursor == "" || pi.Invites[0]["network_id"] != float64(nets[0]) {
		t.Errorf("poll_invites page: %d %q", len(pi.Invites), pi.NextCursor)
	}
	// handshakes: 100 pending per target
	senders := c.registerMany(101)
	reqs = nil
	for _, s := range senders {
		reqs = append(reqs, s.sign(obj{"type": "request_handshake", "from_node_id": s.id, "to_node_id": target.id}))
	}
	ps = c.pipeline(reqs)
	for i, p := range ps[:100] {
		if p.typ() != "request_handshake_ok" {
			t.Fatalf("handshake %d: %s", i+1, p)
		}
	}
	if ps[100].code() != "resource_exhausted" {
		t.Errorf("101st handshake: %s", ps[100])
	}
	// poll_handshakes drains what it returns, in pages
	p = c.ok(target.sign(obj{"type": "poll_handshakes", "node_id": target.id, "limit": 60}))
	var ph struct {
		Requests   []map[string]any `json:"requests"`
		NextCursor string           `json:"next_cursor"`
	}
	json.Unmarshal(p.raw, &ph)
	if len(ph.Requests) != 60 || ph.NextCursor == "" || ph.Requests[0]["from_node_id"] != float64(senders[0].id) {
		t.Errorf("poll_handshakes page 1: %d %q", len(ph.Requests), ph.NextCursor)
	}
	ph.NextCursor = ""
	p = c.ok(target.sign(obj{"type": "poll_handshakes", "node_id": target.id}))
	json.Unmarshal(p.raw, &ph)
	if len(ph.Requests) != 40 || ph.NextCursor != "" {
		t.Errorf("poll_handshakes page 2: %d %q", len(ph.Requests), ph.NextCursor)
	}
	// responses: oldest dropped beyond 100
	reqs = nil
	for _, s := range senders {
		reqs = append(reqs, s.sign(obj{"type": "respond_handshake", "node_id": s.id, "peer_id": target.id, "accept": false}))
	}
	for _, p := range c.pipeline(reqs) {
		if p.typ() != "respond_handshake_ok" {
			t.Fatalf("respond: %s", p)
		}
	}
	var resp struct {
		Responses []map[string]any `json:"responses"`
	}
	p = c.ok(target.sign(obj{"type": "poll_handshakes", "node_id": target.id}))
	json.Unmarshal(p.raw, &resp)
	if len(resp.Responses) != 100 || resp.Responses[0]["from_node_id"] != float64(senders[1].id) {
		t.Errorf("responses: %d, first %v", len(resp.Responses), resp.Responses[0])
	}
}

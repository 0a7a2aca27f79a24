package conformance

import (
	"encoding/json"
	"strings"
	"testing"
)

// §13.2 guarantee 1 / §14 item 70: "a mutation that fails inside a group
// leaves the others of the group intact"; §9.2 `seq` "without gaps"; after
// SIGKILL every acknowledged mutation is present.
func TestConf_70_GroupWithFailures(t *testing.T) {
	r := start(t, "-rate-limit", "off")
	c := r.dial()
	holder := c.register(obj{"hostname": "taken-name"})
	_ = holder
	nodes := c.registerMany(60)
	head := c.auditHead()
	var reqs []obj
	for i, n := range nodes {
		h := "grp-" + fmtInt(int64(i))
		if i%3 == 1 {
			h = "taken-name"
		}
		reqs = append(reqs, n.sign(obj{"type": "set_hostname", "node_id": n.id, "hostname": h}))
	}
	ps := c.pipeline(reqs)
	okN := 0
	for i, p := range ps {
		if i%3 == 1 {
			if p.code() != "already_exists" {
				t.Errorf("colliding set_hostname %d: %s", i, p)
			}
		} else if p.typ() != "set_hostname_ok" {
			t.Errorf("set_hostname %d: %s", i, p)
		} else {
			okN++
		}
	}
	if h := c.auditHead(); h != head+okN {
		t.Errorf("audit head %d, want %d (one event per success, no gaps)", h, head+okN)
	}
	r.restart()
	c = r.dial()
	p := c.ok(obj{"type": "list_nodes", "network_id": 0, "admin_token": adminTok, "limit": 500})
	for i := range nodes {
		if i%3 != 1 && !strings.Contains(p.String(), `"hostname":"grp-`+fmtInt(int64(i))+`"`) {
			t.Errorf("acknowledged hostname grp-%d lost", i)
		}
	}
	if h := c.auditHead(); h != head+okN {
		t.Errorf("audit head after restart %d, want %d", h, head+okN)
	}
	if out, _, code := run(t, "audit", "verify", "-data-dir", r.dataDir); code != 0 {
		t.Errorf("audit verify: %d %q", code, out)
	}
}

// §7.7 invite_to_network rules in order: "... network full →
// `resource_exhausted`; a pending invite for (target, network) → success with
// `already_invited`, no change; target has 100 pending → `resource_exhausted`".
func TestConf_7_7_InviteRuleOrder(t *testing.T) {
	r := start(t, "-rate-limit", "off")
	c := r.dial()
	o, x := c.register(nil), c.register(nil)
	var reqs []obj
	for i := 0; i < 100; i++ {
		reqs = append(reqs, obj{"type": "create_network", "node_id": o.id, "name": "io-" + fmtInt(int64(i)), "join_rule": "invite", "admin_token": adminTok})
	}
	var nets []int64
	for _, p := range c.pipeline(reqs) {
		nets = append(nets, p.num("network_id"))
	}
	reqs = nil
	for _, n := range nets {
		reqs = append(reqs, obj{"type": "invite_to_network", "network_id": n, "target_node_id": x.id, "admin_token": adminTok})
	}
	for i, p := range c.pipeline(reqs) {
		if p.str("status") != "invited" {
			t.Fatalf("invite %d: %s", i, p)
		}
	}
	// 100 pending: a repeat is still already_invited, not resource_exhausted
	p := c.ok(obj{"type": "invite_to_network", "network_id": nets[5], "target_node_id": x.id, "admin_token": adminTok})
	if p.str("status") != "already_invited" {
		t.Errorf("repeat with a full inbox: %s", p)
	}
	// a full network answers resource_exhausted before the dedup rule
	c.ok(obj{"type": "set_network_policy", "network_id": nets[7], "max_members": 1, "admin_token": adminTok})
	c.fail(obj{"type": "invite_to_network", "network_id": nets[7], "target_node_id": x.id, "admin_token": adminTok}, "resource_exhausted", "")
	// "Invites ... are removed with their network": the inbox makes room
	c.ok(obj{"type": "delete_network", "network_id": nets[9], "admin_token": adminTok})
	extra := c.createNet(o, "io-extra", "invite", nil)
	p = c.ok(obj{"type": "invite_to_network", "network_id": extra, "target_node_id": x.id, "admin_token": adminTok})
	if p.str("status") != "invited" {
		t.Errorf("invite after a network delete freed a slot: %s", p)
	}
	// poll_invites max page 100
	p = c.ok(x.sign(obj{"type": "poll_invites", "node_id": x.id, "limit": 100}))
	var pi struct {
		Invites    []json.RawMessage `json:"invites"`
		NextCursor string            `json:"next_cursor"`
	}
	json.Unmarshal(p.raw, &pi)
	if len(pi.Invites) != 100 || pi.NextCursor != "" {
		t.Errorf("poll_invites limit 100: %d %q", len(pi.Invites), pi.NextCursor)
	}
	// §4.4 cursors: pages continue where the last ended, without duplicates
	seen := map[float64]bool{}
	pages(c, 10, func() obj { return x.sign(obj{"type": "poll_invites", "node_id": x.id, "limit": 40}) }, func(raw []byte) {
		var pg struct {
			Invites []struct {
				NetworkID float64 `json:"network_id"`
			} `json:"invites"`
		}
		json.Unmarshal(raw, &pg)
		for _, e := range pg.Invites {
			if seen[e.NetworkID] {
				t.Errorf("invite to network %v returned twice", e.NetworkID)
			}
			seen[e.NetworkID] = true
		}
	})
	if len(seen) != 100 {
		t.Errorf("paged %d invites, want 100", len(seen))
	}
	// get_audit_log: action filter with paging, newest first
	var seqs []float64
	pages(c, 200, func() obj {
		return obj{"type": "get_audit_log", "admin_token": adminTok, "action": "invite.created", "limit": 7}
	}, func(raw []byte) {
		var pg struct {
			Entries []struct {
				Seq    float64 `json:"seq"`
				Action string  `json:"action"`
			} `json:"entries"`
		}
		json.Unmarshal(raw, &pg)
		for _, e := range pg.Entries {
			if e.Action != "invite.created" || (len(seqs) > 0 && e.Seq >= seqs[len(seqs)-1]) {
				t.Fatalf("entry %v after %v", e, seqs)
			}
			seqs = append(seqs, e.Seq)
		}
	})
	if len(seqs) != 101 {
		t.Errorf("%d invite.created entries, want 101", len(seqs))
	}
}

// §7.4.6 "`all: true` with the global admin token, signed or not: every
// network including network 0"; `role` "(the signer's role, when a member)";
// entry fields "`created` (int, Unix s)", `max_members`, `description`;
// §6.3 invariant 5: network 0 "is named `backbone`, has join rule `open`".
func TestConf_7_4_6_ListNetworksAll(t *testing.T) {
	r := start(t, "-rate-limit", "off")
	c := r.dial()
	o, m := c.register(nil), c.register(nil)
	n1 := c.createNet(o, "la1", "token", obj{"token": "t"})
	c.createNet(o, "la2", "invite", nil)
	c.ok(o.sign(obj{"type": "set_network_policy", "node_id": o.id, "network_id": n1, "max_members": 9, "description": "d1", "allowed_ports": []int{22}}))
	p := c.ok(m.sign(obj{"type": "list_networks", "node_id": m.id, "all": true, "admin_token": adminTok}))
	var ln struct {
		Networks []map[string]any `json:"networks"`
	}
	json.Unmarshal(p.raw, &ln)
	if len(ln.Networks) != 3 {
		t.Fatalf("all networks: %s", p)
	}
	b := ln.Networks[0]
	if b["id"] != float64(0) || b["name"] != "backbone" || b["join_rule"] != "open" || b["enterprise"] != false || b["max_members"] != float64(0) {
		t.Errorf("backbone entry: %v", b)
	}
	if _, ok := b["role"]; ok {
		t.Errorf("role on the backbone (no roles there): %v", b)
	}
	e := ln.Networks[1]
	if _, ok := e["role"]; ok {
		t.Errorf("role for a network the signer is not in: %v", e)
	}
	if e["max_members"] != float64(9) || e["description"] != "d1" || e["join_rule"] != "token" || string(mustJSON(e["allowed_ports"])) != "[22]" || e["members"] != float64(1) {
		t.Errorf("entry: %v", e)
	}
	if cr, ok := e["created"].(float64); !ok || cr < 1.7e9 || cr > 4e9 {
		t.Errorf("created not Unix seconds: %v", e["created"])
	}
	p = c.ok(o.sign(obj{"type": "list_networks", "node_id": o.id}))
	ln.Networks = nil
	json.Unmarshal(p.raw, &ln)
	if len(ln.Networks) != 2 || ln.Networks[0]["role"] != "owner" {
		t.Errorf("signer's networks: %s", p)
	}
	// a network token is not the global token: all:true is refused
	c.fail(o.sign(obj{"type": "list_networks", "node_id": o.id, "all": true, "admin_token": "x-not-a-token-x"}), "permission_denied", "")
}

// §12 `register_new`: "`register` with a key never seen | source IP |
// 120/min / 1,000".
func TestConf_12_RegisterNewBucket(t *testing.T) {
	r := start(t)
	c := r.dial()
	var reqs []obj
	for i := 0; i < 1100; i++ {
		k := newKey()
		reqs = append(reqs, signWith(obj{"type": "register", "public_key": k.pubB64()}, k.key, 0, 0))
	}
	ps := c.pipeline(reqs)
	for i, p := range ps[:1000] {
		if p.typ() != "register_ok" {
			t.Fatalf("registration %d: %s", i+1, p)
		}
	}
	if ps[1099].code() != "rate_limited" || !strings.HasPrefix(ps[1099].msg(), "rate limited:") {
		t.Errorf("registration 1100: %s", ps[1099])
	}
	k := newKey()
	r.dialFrom("127.0.0.2").ok(signWith(obj{"type": "register", "public_key": k.pubB64()}, k.key, 0, 0))
}

// pages sends the request q builds (fresh for each page: signatures carry
// a nonce), with the previous reply's next_cursor, until a reply has none,
// and hands each reply to each. More than max pages fails the test.
func pages(c *conn, max int, q func() obj, each func(raw []byte)) {
	c.t.Helper()
	cursor := ""
	for range max {
		req := q()
		if cursor != "" {
			req["cursor"] = cursor
		}
		raw := c.ok(req).raw
		each(raw)
		var pg struct {
			NextCursor string `json:"next_cursor"`
		}
		json.Unmarshal(raw, &pg)
		if cursor = pg.NextCursor; cursor == "" {
			return
		}
	}
	c.t.Fatalf("no last page after %d pages", max)
}

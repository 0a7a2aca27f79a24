package conformance

import (
	"encoding/json"
	"strings"
	"testing"
)

// §7.4.6 list_networks, §7.4.7 list_nodes, §4.4 pagination; §14 items 50, 51.
func TestConf_50_Lists(t *testing.T) {
	r := start(t, "-rate-limit", "off")
	c := r.dial()
	o := c.register(nil)
	m := c.register(nil)
	out := c.register(nil)
	var nets []int64
	for _, name := range []string{"l1", "l2", "l3"} {
		nets = append(nets, c.createNet(o, name, "", nil))
	}
	c.join(m, nets[1])
	p := c.ok(m.sign(obj{"type": "list_networks", "node_id": m.id}))
	var ln struct {
		Networks   []map[string]any `json:"networks"`
		NextCursor *string          `json:"next_cursor"`
	}
	json.Unmarshal(p.raw, &ln)
	if len(ln.Networks) != 1 || ln.Networks[0]["id"] != float64(nets[1]) || ln.Networks[0]["role"] != "member" || ln.NextCursor != nil {
		t.Fatalf("list_networks: %s", p)
	}
	e := ln.Networks[0]
	for _, k := range []string{"id", "name", "members", "join_rule", "created", "enterprise", "max_members", "description", "role", "allowed_ports"} {
		if _, ok := e[k]; !ok {
			t.Errorf("entry lacks %s: %s", k, p)
		}
	}
	if e["members"] != float64(2) || e["enterprise"] != true || e["join_rule"] != "open" || !strings.Contains(p.String(), `"allowed_ports":[]`) {
		t.Errorf("entry: %s", p)
	}
	c.fail(m.sign(obj{"type": "list_networks", "node_id": m.id, "all": true}), "permission_denied", "")
	c.fail(obj{"type": "list_networks"}, "unauthenticated", "")
	p = c.ok(obj{"type": "list_networks", "admin_token": adminTok, "limit": 2})
	json.Unmarshal(p.raw, &ln)
	if len(ln.Networks) != 2 || ln.Networks[0]["id"] != float64(0) || ln.NextCursor == nil || *ln.NextCursor == "" {
		t.Fatalf("page 1: %s", p)
	}
	if ln.Networks[0]["enterprise"] != false || ln.Networks[0]["name"] != "backbone" {
		t.Errorf("backbone entry: %s", p)
	}
	p = c.ok(obj{"type": "list_networks", "admin_token": adminTok, "limit": 2, "cursor": *ln.NextCursor})
	ln.NextCursor = nil
	json.Unmarshal(p.raw, &ln)
	if len(ln.Networks) != 2 || ln.Networks[0]["id"] != float64(nets[1]) || ln.NextCursor != nil {
		t.Errorf("page 2: %s", p)
	}
	c.fail(obj{"type": "list_networks", "admin_token": adminTok, "cursor": "!!garbage!!"}, "invalid_argument", "")
	c.fail(obj{"type": "list_networks", "admin_token": adminTok, "cursor": strings.Repeat("A", 257)}, "invalid_argument", "")
	// list_nodes
	c.fail(out.sign(obj{"type": "list_nodes", "node_id": out.id, "network_id": nets[1]}), "permission_denied", "")
	c.fail(o.sign(obj{"type": "list_nodes", "node_id": o.id, "network_id": 0}), "permission_denied", "")
	c.fail(obj{"type": "list_nodes", "network_id": nets[1]}, "unauthenticated", "")
	c.fail(obj{"type": "list_nodes", "network_id": 999, "admin_token": adminTok}, "not_found", "")
	p = c.ok(m.sign(obj{"type": "list_nodes", "node_id": m.id, "network_id": nets[1]}))
	var nodes struct {
		Nodes []map[string]any `json:"nodes"`
	}
	json.Unmarshal(p.raw, &nodes)
	if len(nodes.Nodes) != 2 || nodes.Nodes[0]["node_id"] != float64(o.id) || nodes.Nodes[0]["role"] != "owner" ||
		!strings.HasPrefix(nodes.Nodes[0]["address"].(string), fmtInt(nets[1])+":") {
		t.Errorf("list_nodes: %s", p)
	}
	for _, n := range nodes.Nodes {
		for _, k := range []string{"node_id", "address", "public", "polo_score", "role", "last_seen"} {
			if _, ok := n[k]; !ok {
				t.Errorf("node entry lacks %s: %s", k, p)
			}
		}
	}
	p = c.ok(obj{"type": "list_nodes", "network_id": 0, "admin_token": adminTok, "limit": 1})
	nodes.Nodes = nil
	var cur struct {
		NextCursor string `json:"next_cursor"`
	}
	json.Unmarshal(p.raw, &nodes)
	json.Unmarshal(p.raw, &cur)
	if len(nodes.Nodes) != 1 || cur.NextCursor == "" {
		t.Errorf("list_nodes 0: %s", p)
	}
	if _, ok := nodes.Nodes[0]["role"]; ok {
		t.Errorf("role in network 0: %s", p)
	}
	seen := 1
	for cur.NextCursor != "" {
		p = c.ok(obj{"type": "list_nodes", "network_id": 0, "admin_token": adminTok, "limit": 1, "cursor": cur.NextCursor})
		cur.NextCursor = ""
		json.Unmarshal(p.raw, &cur)
		seen++
		if seen > 10 {
			break
		}
	}
	if seen != 3 {
		t.Errorf("paged %d nodes, want 3", seen)
	}
	// network token of another network
	o2 := c.register(nil)
	n2 := c.createNet(o2, "l4", "", obj{"network_admin_token": netTok})
	c.ok(obj{"type": "list_nodes", "network_id": n2, "admin_token": netTok})
	c.fail(obj{"type": "list_nodes", "network_id": nets[1], "admin_token": netTok}, "unauthenticated", "")
	c.fail(obj{"type": "delete_network", "network_id": nets[1], "admin_token": netTok}, "unauthenticated", "")
	// audit log access
	c.fail(m.sign(obj{"type": "get_audit_log", "node_id": m.id, "network_id": nets[1]}), "permission_denied", "")
	c.fail(o.sign(obj{"type": "get_audit_log", "node_id": o.id}), "invalid_argument", "")
	p = c.ok(o.sign(obj{"type": "get_audit_log", "node_id": o.id, "network_id": nets[1]}))
	var al struct {
		Entries []map[string]any `json:"entries"`
	}
	json.Unmarshal(p.raw, &al)
	if len(al.Entries) != 2 {
		t.Errorf("network audit: %s", p)
	}
	p = c.ok(obj{"type": "get_audit_log", "network_id": n2, "admin_token": netTok, "action": "network.created"})
	al.Entries = nil
	json.Unmarshal(p.raw, &al)
	if len(al.Entries) != 1 {
		t.Errorf("token audit: %s", p)
	}
	c.fail(obj{"type": "get_audit_log", "network_id": nets[1], "admin_token": netTok}, "unauthenticated", "")
}

// §14 item 3: 5,000 members pages under the cap (smaller here: 600 is enough to need several pages at max limit).
func TestConf_3_ResponseCap(t *testing.T) {
	r := start(t, "-rate-limit", "off")
	c := r.dial()
	o := c.register(nil)
	// long hostnames and tags make entries large.
	c.ok(o.sign(obj{"type": "set_tags", "node_id": o.id, "tags": []string{"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa2"}}))
	var buf []byte
	var keys []*node
	for i := 0; i < 600; i++ {
		k := newKey()
		keys = append(keys, k)
		buf = append(buf, frame(body(t, signWith(obj{"type": "register", "public_key": k.pubB64(), "version": strings.Repeat("v", 64),
			"hostname": "host-" + strings.Repeat("x", 50) + fmtInt(int64(i))}, k.key, 0, 0)))...)
	}
	c.writeRaw(buf)
	for range keys {
		if p := c.read(); p.typ() != "register_ok" {
			t.Fatalf("register: %s", p)
		}
	}
	total := 0
	cursor := ""
	for i := 0; i < 20; i++ {
		req := obj{"type": "list_nodes", "network_id": 0, "admin_token": adminTok, "limit": 500}
		if cursor != "" {
			req["cursor"] = cursor
		}
		p := c.ok(req)
		if len(p.raw) > 65536 {
			t.Fatalf("reply of %d bytes", len(p.raw))
		}
		var page struct {
			Nodes      []json.RawMessage `json:"nodes"`
			NextCursor string            `json:"next_cursor"`
		}
		json.Unmarshal(p.raw, &page)
		total += len(page.Nodes)
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	if total != 601 {
		t.Errorf("listed %d nodes, want 601", total)
	}
}

// §1 response cap for get_audit_log with large entries; §4.1 whitespace around the object.
func TestConf_3_AuditPageCap(t *testing.T) {
	r := start(t, "-rate-limit", "off")
	c := r.dial()
	o := c.register(nil)
	net := c.createNet(o, "big", "", nil)
	var reqs []obj
	for i := 0; i < 120; i++ {
		ch := "é"
		if i%2 == 1 {
			ch = "è"
		}
		reqs = append(reqs, o.sign(obj{"type": "set_network_policy", "node_id": o.id, "network_id": net, "description": strings.Repeat(ch, 256)}))
	}
	for _, p := range c.pipeline(reqs) {
		if p.typ() != "set_network_policy_ok" {
			t.Fatalf("%s", p)
		}
	}
	total, pages := 0, 0
	cursor := ""
	for pages < 20 {
		req := obj{"type": "get_audit_log", "admin_token": adminTok, "limit": 1000}
		if cursor != "" {
			req["cursor"] = cursor
		}
		p := c.ok(req)
		pages++
		var page struct {
			Entries    []json.RawMessage `json:"entries"`
			NextCursor string            `json:"next_cursor"`
		}
		json.Unmarshal(p.raw, &page)
		total += len(page.Entries)
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	if total != 122 || pages < 2 {
		t.Errorf("%d entries in %d pages", total, pages)
	}
	if p := c.send(" \n{\"type\":\"beacon_list\"}\t "); p.typ() != "beacon_list_ok" {
		t.Errorf("whitespace: %s", p)
	}
	if p := c.send("{\"type\":\"beacon_list\",\"x\":\"\xff\"}"); p.code() != "invalid_argument" {
		t.Errorf("invalid UTF-8: %s", p)
	}
}

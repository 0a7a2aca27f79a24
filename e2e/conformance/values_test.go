package conformance

import (
	"strings"
	"testing"
	"time"
)

// §4.3, §7 field rules, §8 limits: each request below is invalid_argument.
func TestConf_Limits(t *testing.T) {
	r := start(t, "-rate-limit", "off")
	c := r.dial()
	n := c.register(nil)
	o := c.register(nil)
	net := c.createNet(o, "lim", "", nil)
	reg := func(f obj) obj {
		k := newKey()
		req := obj{"type": "register", "public_key": k.pubB64()}
		for key, v := range f {
			req[key] = v
		}
		return signWith(req, k.key, 0, 0)
	}
	many := func(n int, f func(i int) string) []string {
		var s []string
		for i := 0; i < n; i++ {
			s = append(s, f(i))
		}
		return s
	}
	cases := map[string]obj{
		"owner 255":           reg(obj{"owner": strings.Repeat("o", 255)}),
		"version 65":          reg(obj{"version": strings.Repeat("v", 65)}),
		"version non-print":   reg(obj{"version": "1.0\u00e9"}),
		"listen_addr 263":     reg(obj{"listen_addr": strings.Repeat("1", 258) + ":4000"}),
		"lan_addrs 17":        reg(obj{"lan_addrs": many(17, func(i int) string { return "10.0.0.1:4000" })}),
		"lan_addrs bad":       reg(obj{"lan_addrs": []string{"host:4000"}}),
		"capabilities 33":     reg(obj{"capabilities": many(33, func(i int) string { return "c" + fmtInt(int64(i)) })}),
		"capabilities upper":  reg(obj{"capabilities": []string{"Auth"}}),
		"public_key short":    signWith(obj{"type": "register", "public_key": b64(make([]byte, 31))}, n.key, 0, 0),
		"hostname DEL":        n.sign(obj{"type": "set_hostname", "node_id": n.id, "hostname": "a\x7f"}),
		"justification 1025":  n.sign(obj{"type": "request_handshake", "from_node_id": n.id, "to_node_id": o.id, "justification": strings.Repeat("j", 1025)}),
		"token 257":           o.sign(obj{"type": "create_network", "node_id": o.id, "name": "t257", "join_rule": "token", "token": strings.Repeat("t", 257), "admin_token": adminTok}),
		"net admin token 257": o.sign(obj{"type": "create_network", "node_id": o.id, "name": "t258", "network_admin_token": strings.Repeat("t", 257), "admin_token": adminTok}),
		"name upper":          o.sign(obj{"type": "rename_network", "node_id": o.id, "network_id": net, "name": "Upper"}),
		"delta fraction":      {"type": "update_polo_score", "node_id": n.id, "delta": 1.5, "admin_token": adminTok},
		"beacon_id 2^32":      {"type": "beacon_register", "beacon_id": 4294967296, "addr": "127.0.0.1:1"},
		"action unknown":      {"type": "get_audit_log", "action": "nope", "admin_token": adminTok},
		"type not string":     {"type": 5},
		"limit string":        {"type": "beacon_list", "limit": "5"},
		"cursor int":          {"type": "beacon_list", "cursor": 5},
		"nonce int":           {"type": "heartbeat", "node_id": n.id, "nonce": 5, "ts": time.Now().UnixMilli(), "signature": "x"},
		"tags not array":      n.sign(obj{"type": "set_tags", "node_id": n.id, "tags": "a"}),
		"ports string elem":   o.sign(obj{"type": "set_network_policy", "node_id": o.id, "network_id": net, "allowed_ports": []any{"80"}}),
		"max_members -1":      o.sign(obj{"type": "set_network_policy", "node_id": o.id, "network_id": net, "max_members": -1}),
		"desc not str":        o.sign(obj{"type": "set_network_policy", "node_id": o.id, "network_id": net, "description": 5}),
		"accept missing":      o.sign(obj{"type": "respond_handshake", "node_id": o.id, "peer_id": n.id}),
		"enterprise string":   o.sign(obj{"type": "create_network", "node_id": o.id, "name": "ent", "enterprise": "yes", "admin_token": adminTok}),
		"expires_at int":      n.sign(obj{"type": "set_key_expiry", "node_id": n.id, "expires_at": 5}),
		"expires_at missing":  n.sign(obj{"type": "set_key_expiry", "node_id": n.id}),
		"hostname missing":    {"type": "resolve_hostname"},
		"peer_id 0":           n.sign(obj{"type": "report_trust", "node_id": n.id, "peer_id": 0}),
		"network_id missing":  n.sign(obj{"type": "join_network", "node_id": n.id}),
		"new_owner_id string": o.sign(obj{"type": "transfer_ownership", "node_id": o.id, "network_id": net, "new_owner_id": "5"}),
	}
	for name, req := range cases {
		p := c.send(req)
		if p.code() != "invalid_argument" {
			t.Errorf("%s: %s", name, p)
		}
	}
	// Accepted edge values.
	c.ok(reg(obj{"owner": strings.Repeat("o", 254), "version": strings.Repeat("v", 64), "lan_addrs": []string{"[::1]:4000"}, "protocol_version": 2}))
	c.ok(o.sign(obj{"type": "request_handshake", "from_node_id": o.id, "to_node_id": n.id, "justification": "tab\tand\nnewline " + strings.Repeat("j", 1000)}))
	c.ok(obj{"type": "beacon_list", "limit": 500})
	c.ok(o.sign(obj{"type": "set_network_policy", "node_id": o.id, "network_id": net, "max_members": 1000000}))
}

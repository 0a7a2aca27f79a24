package conformance

import (
	"encoding/json"
	"strings"
	"testing"
)

// §4.3 node ID rule: "JSON int in 1..4,294,967,294 where a node is named;
// anything else (string, fraction, exponent, negative, out of range, 0 where
// a node is required) → `invalid_argument` naming the field."
func TestConf_4_3_EveryNodeIDField(t *testing.T) {
	r := start(t, "-rate-limit", "off")
	c := r.dial()
	a, b := c.register(nil), c.register(nil)
	net := c.createNet(a, "nid", "invite", nil)
	type tc struct {
		field string
		req   obj
	}
	cases := []tc{
		{"node_id", obj{"type": "resolve", "requester_id": a.id, "node_id": b.id}},
		{"peer_id", obj{"type": "check_trust", "node_id": a.id, "peer_id": b.id}},
		{"requester_id", obj{"type": "resolve", "requester_id": a.id, "node_id": b.id}},
		{"node_a", obj{"type": "punch", "requester_id": a.id, "node_a": a.id, "node_b": b.id}},
		{"node_b", obj{"type": "punch", "requester_id": a.id, "node_a": a.id, "node_b": b.id}},
		{"from_node_id", obj{"type": "request_handshake", "from_node_id": a.id, "to_node_id": b.id}},
		{"to_node_id", obj{"type": "request_handshake", "from_node_id": a.id, "to_node_id": b.id}},
		{"inviter_id", obj{"type": "invite_to_network", "inviter_id": a.id, "network_id": net, "target_node_id": b.id}},
		{"target_node_id", obj{"type": "invite_to_network", "inviter_id": a.id, "network_id": net, "target_node_id": b.id}},
		{"target_node_id", obj{"type": "kick_member", "node_id": a.id, "network_id": net, "target_node_id": b.id}},
		{"new_owner_id", obj{"type": "transfer_ownership", "node_id": a.id, "network_id": net, "new_owner_id": b.id}},
		{"node_id", obj{"type": "get_polo_score", "node_id": a.id}},
	}
	for _, cs := range cases {
		for _, bad := range []any{"5", 5.5, -1, 4294967295, json.Number("1e3"), json.Number("5.0")} {
			req := obj{}
			for k, v := range cs.req {
				req[k] = v
			}
			req = a.sign(req) // signed correctly over the good value...
			req[cs.field] = bad
			p := c.send(req) // ...then broken: still a shape error (§4.3 "checked before authentication")
			if p.code() != "invalid_argument" || !strings.Contains(p.msg(), cs.field) {
				t.Errorf("%s %s=%v: %s", cs.req["type"], cs.field, bad, p)
			}
		}
	}
	// In range but unknown: not a shape error.
	c.fail(obj{"type": "get_key_info", "node_id": 4294967294}, "not_found", "")
	// network_id: 0..65,535.
	c.fail(obj{"type": "get_network_policy", "network_id": 65535, "admin_token": adminTok}, "not_found", "")
	for _, bad := range []any{65536, -1, "1", 1.5} {
		p := c.send(obj{"type": "get_network_policy", "network_id": bad, "admin_token": adminTok})
		if p.code() != "invalid_argument" || !strings.Contains(p.msg(), "network_id") {
			t.Errorf("network_id %v: %s", bad, p)
		}
	}
}

// §4.3 bool fields: "JSON `true`/`false` only."
func TestConf_4_3_Bools(t *testing.T) {
	r := start(t, "-rate-limit", "off")
	c := r.dial()
	a, b := c.register(nil), c.register(nil)
	for _, bad := range []any{1, 0, "true", "false", nil, []any{true}} {
		for _, req := range []obj{
			{"type": "set_visibility", "node_id": a.id, "public": bad},
			{"type": "set_task_exec", "node_id": a.id, "enabled": bad},
			{"type": "respond_handshake", "node_id": a.id, "peer_id": b.id, "accept": bad},
			{"type": "list_networks", "node_id": a.id, "all": bad},
		} {
			c.fail(a.sign(req), "invalid_argument", "")
		}
	}
}

// §4.1: "JSON `null` as the value of any field this specification defines
// (§4.4, §5, §7), or as an array element, → `invalid_argument`, unless the
// field's table says otherwise."
func TestConf_4_1_NullFields(t *testing.T) {
	r := start(t, "-rate-limit", "off")
	c := r.dial()
	a := c.register(nil)
	for _, b := range []string{
		`{"type":"beacon_list","limit":null}`,
		`{"type":"beacon_list","cursor":null}`,
		`{"type":"lookup","node_id":4,"requester_id":null}`,
		`{"type":"lookup","node_id":4,"admin_token":null}`,
		`{"type":"get_audit_log","admin_token":null}`,
		`{"type":null}`,
		`{"type":"heartbeat","node_id":4,"ts":null,"nonce":null,"signature":null}`,
		`{"type":"heartbeat","node_id":4,"signature":null}`,
		`{"type":"resolve_hostname","hostname":null}`,
		`{"type":"beacon_register","beacon_id":1,"addr":null,"token":"x"}`,
	} {
		if p := c.send(b); p.code() != "invalid_argument" {
			t.Errorf("%s: %s", b, p)
		}
	}
	for _, req := range []obj{
		{"type": "set_hostname", "node_id": a.id, "hostname": nil},
		{"type": "register", "public_key": a.pubB64(), "lan_addrs": []any{nil}},
		{"type": "register", "public_key": a.pubB64(), "capabilities": nil},
		{"type": "register", "public_key": a.pubB64(), "owner": nil},
		{"type": "set_network_policy", "node_id": a.id, "network_id": 1, "allowed_ports": nil},
		{"type": "set_network_policy", "node_id": a.id, "network_id": 1, "description": nil},
		{"type": "rotate_key", "node_id": a.id, "new_public_key": a.pubB64(), "new_key_signature": nil},
		{"type": "join_network", "node_id": a.id, "network_id": 1, "token": nil},
	} {
		var signed obj
		if req["type"] == "register" {
			signed = signWith(req, a.key, 0, 0)
		} else {
			signed = a.sign(req)
		}
		c.fail(signed, "invalid_argument", "")
	}
}

// §4.1: "Unknown fields MUST be ignored, whatever their value" — a field that
// another message defines is unknown to this one; a key differing only in
// case is unknown too.
func TestConf_4_1_ForeignFieldsIgnored(t *testing.T) {
	r := start(t, "-rate-limit", "off")
	c := r.dial()
	a := c.register(nil)
	req := a.sign(obj{"type": "heartbeat", "node_id": a.id})
	req["peer_id"] = "not-an-id"
	req["public"] = "yes"
	req["network_id"] = -5
	req["tags"] = 7
	req["Node_ID"] = "x"
	req["NONCE"] = nil
	c.ok(req)
	p := c.send(`{"type":"get_key_info","node_id":` + fmtInt(a.id) + `,"Type":"heartbeat","limit":"x"}`)
	// `limit` is defined only for list messages (§4.4); get_key_info is not one.
	if p.typ() != "get_key_info_ok" {
		t.Errorf("foreign fields on get_key_info: %s", p)
	}
}

// §4.3 str fields: "Except free-text and secret fields (`justification`,
// `description`, `token`, `network_admin_token`, `admin_token`), strings
// MUST NOT contain C0 control characters or DEL".
func TestConf_4_3_ControlCharsInSecretsAndFreeText(t *testing.T) {
	r := start(t, "-rate-limit", "off")
	c := r.dial()
	o, m := c.register(nil), c.register(nil)
	net := c.createNet(o, "ctl", "token", obj{"token": "join\x01tok\n", "network_admin_token": "net\tadmin\x7ftoken-0123456"})
	c.ok(m.sign(obj{"type": "join_network", "node_id": m.id, "network_id": net, "token": "join\x01tok\n"}))
	c.ok(obj{"type": "get_network_policy", "network_id": net, "admin_token": "net\tadmin\x7ftoken-0123456"})
	c.ok(o.sign(obj{"type": "set_network_policy", "node_id": o.id, "network_id": net, "description": "line1\nline2\x01"}))
	// a non-matching admin_token with control characters is no credential, not a shape error
	c.fail(obj{"type": "get_network_policy", "network_id": net, "admin_token": "bad\x00token"}, "unauthenticated", "admin token not accepted")
	// other strings: invalid_argument
	c.fail(o.sign(obj{"type": "rename_network", "node_id": o.id, "network_id": net, "name": "a\tb"}), "invalid_argument", "")
	c.fail(o.sign(obj{"type": "get_audit_log", "node_id": o.id, "network_id": net, "action": "network.created\n"}), "invalid_argument", "")
	k := newKey()
	c.fail(signWith(obj{"type": "register", "public_key": k.pubB64(), "version": "1.0\n"}, k.key, 0, 0), "invalid_argument", "")
	// §4.3: a hostname with a control character in register is a shape error
	// (it "must still be a JSON string without control characters").
	c.fail(signWith(obj{"type": "register", "public_key": k.pubB64(), "hostname": "a\x01"}, k.key, 0, 0), "invalid_argument", "")
}

// §4.3 signer fields: "a signer field that is absent or 0 is not a shape
// error ... anonymous where the class allows it (`lookup`, `resolve_hostname`)".
// §7.4.2: "The original's clients also send `inviter_id: 0`, which is ignored."
func TestConf_4_3_ZeroSigners(t *testing.T) {
	r := start(t, "-rate-limit", "off")
	c := r.dial()
	a := c.register(obj{"hostname": "zs"})
	c.ok(a.sign(obj{"type": "set_visibility", "node_id": a.id, "public": true}))
	p := c.ok(obj{"type": "lookup", "node_id": a.id, "requester_id": 0})
	if p.num("node_id") != a.id {
		t.Errorf("lookup requester_id 0: %s", p)
	}
	p = c.ok(obj{"type": "resolve_hostname", "hostname": "zs", "requester_id": 0})
	if p.num("node_id") != a.id || p.m["public"] != true {
		t.Errorf("resolve_hostname of a public node, anonymous: %s", p)
	}
	o := c.register(nil)
	net := c.createNet(o, "zs", "", nil)
	p = c.ok(a.sign(obj{"type": "join_network", "node_id": a.id, "network_id": net, "inviter_id": 0}))
	if p.num("network_id") != net {
		t.Errorf("join with inviter_id 0: %s", p)
	}
	// a signer field 0 on a Signed-class message: no node signer → unauthenticated
	c.fail(obj{"type": "poll_invites", "node_id": 0}, "unauthenticated", "")
	c.fail(obj{"type": "request_handshake", "from_node_id": 0, "to_node_id": a.id}, "unauthenticated", "")
}

// §4.1 "`error` ... MUST NOT contain tokens, signatures or key material";
// §14 item 14 "never contains a token, nonce or signature".
func TestConf_14_ErrorTextsCarryNoSecrets(t *testing.T) {
	r := start(t, "-rate-limit", "off")
	c := r.dial()
	o, m := c.register(nil), c.register(nil)
	net := c.createNet(o, "sec", "token", obj{"token": "join-secret-XYZ", "network_admin_token": netTok})
	check := func(req obj, secrets ...string) {
		t.Helper()
		p := c.send(req)
		if p.typ() != "error" {
			t.Errorf("expected an error: %s", p)
			return
		}
		for _, s := range secrets {
			if s != "" && strings.Contains(p.msg(), s) {
				t.Errorf("error text contains %q: %s", s, p)
			}
		}
	}
	const wrong = "wrong-admin-token-ABCDEFG"
	check(obj{"type": "set_visibility", "node_id": m.id, "public": true, "admin_token": wrong}, wrong)
	check(obj{"type": "rename_network", "network_id": net, "name": "x", "admin_token": wrong}, wrong)
	check(m.sign(obj{"type": "join_network", "node_id": m.id, "network_id": net, "token": "bad-join-QWERTY"}), "bad-join-QWERTY", "join-secret-XYZ")
	req := m.sign(obj{"type": "set_visibility", "node_id": m.id, "public": true})
	req["public"] = false
	check(req, req["signature"].(string), req["nonce"].(string))
	req = signWith(obj{"type": "heartbeat", "node_id": m.id}, m.key, m.id, 5*60e9)
	check(req, req["signature"].(string), req["nonce"].(string))
	req = m.sign(obj{"type": "heartbeat", "node_id": m.id})
	c.ok(req)
	check(req, req["signature"].(string), req["nonce"].(string))
	nk := newKey()
	req = m.sign(obj{"type": "rotate_key", "node_id": m.id, "new_public_key": nk.pubB64()})
	req["new_key_signature"] = b64(make([]byte, 64))
	check(req, req["signature"].(string), req["new_key_signature"].(string))
	check(obj{"type": "beacon_register", "beacon_id": 1, "addr": "127.0.0.1:1", "token": "beacon-SECRET"}, "beacon-SECRET")
}

// §7.11: later releases' types and any other unknown type →
// `invalid_argument` ("unsupported message type \"set_expr_policy\"").
func TestConf_7_11_UnsupportedTypes(t *testing.T) {
	r := start(t)
	c := r.dial()
	for _, typ := range []string{"set_expr_policy", "set_member_tags", "set_enterprise", "register_webhook", "validate_token", "export_audit", "Heartbeat", "heartbeat_ok", ""} {
		p := c.send(obj{"type": typ})
		if p.code() != "invalid_argument" {
			t.Errorf("type %q: %s", typ, p)
		} else if typ != "" && !strings.Contains(p.msg(), `unsupported message type "`+typ+`"`) {
			t.Errorf("type %q: message %q", typ, p.msg())
		}
	}
	c.ok(obj{"type": "beacon_list"})
}

// §4.3 / Conventions "*int* = a JSON number written without fraction or
// exponent": huge numbers, exponents and fractions in any int field
// (`limit`, `ts`, `delta`, `max_members`, `polo_score`) → `invalid_argument`.
func TestConf_4_3_IntSyntax(t *testing.T) {
	r := start(t, "-rate-limit", "off")
	c := r.dial()
	n := c.register(nil)
	id := fmtInt(n.id)
	for _, b := range []string{
		`{"type":"get_key_info","node_id":18446744073709551616}`,
		`{"type":"get_key_info","node_id":1e400}`,
		`{"type":"get_key_info","node_id":4E0}`,
		`{"type":"beacon_list","limit":1e2}`,
		`{"type":"beacon_list","limit":5.0}`,
		`{"type":"beacon_list","limit":99999999999999999999999}`,
		`{"type":"set_polo_score","node_id":` + id + `,"polo_score":1.0,"admin_token":"` + adminTok + `"}`,
		`{"type":"update_polo_score","node_id":` + id + `,"delta":-1e1,"admin_token":"` + adminTok + `"}`,
		`{"type":"heartbeat","node_id":` + id + `,"ts":1.7e12,"nonce":"AAAAAAAAAAAAAAAAAAAAAA==","signature":"x"}`,
		`{"type":"get_network_policy","network_id":1e0,"admin_token":"` + adminTok + `"}`,
	} {
		if p := c.send(b); p.code() != "invalid_argument" {
			t.Errorf("%s: %s", b, p)
		}
	}
}

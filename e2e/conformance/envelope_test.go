package conformance

import (
	"crypto/ed25519"
	"encoding/base64"
	"strconv"
	"strings"
	"testing"
	"time"
)

// §4.3 / §14 item 13.
func TestConf_13_ValueRules(t *testing.T) {
	r := start(t)
	c := r.dial()
	n := c.register(nil)
	for _, b := range []string{
		`{"type":"get_key_info","node_id":"5"}`,
		`{"type":"get_key_info","node_id":5.5}`,
		`{"type":"get_key_info","node_id":5.0}`,
		`{"type":"get_key_info","node_id":5e0}`,
		`{"type":"get_key_info","node_id":-1}`,
		`{"type":"get_key_info","node_id":0}`,
		`{"type":"get_key_info","node_id":4294967295}`,
		`{"type":"get_key_info","node_id":null}`,
		`{"type":"get_key_info"}`,
		`{"type":"get_key_info","node_id":4,"node_id":4}`,
		`{"type":"lookup","node_id":4,"requester_id":"x"}`,
	} {
		p := c.send(b)
		if p.code() != "invalid_argument" {
			t.Errorf("%s: %s", b, p)
		} else if !strings.Contains(b, `"type":"lookup"`) && !strings.Contains(p.msg(), "node_id") {
			t.Errorf("%s: message does not name the field: %s", b, p)
		}
	}
	p := c.send(`{"type":"get_network_policy","network_id":70000,"admin_token":"` + adminTok + `"}`)
	if p.code() != "invalid_argument" || !strings.Contains(p.msg(), "network_id") {
		t.Errorf("network_id 70000: %s", p)
	}
	// Node_ID is an unknown field: ignored, so node_id is missing.
	p = c.send(`{"type":"get_key_info","Node_ID":4}`)
	if p.code() != "invalid_argument" {
		t.Errorf("Node_ID: %s", p)
	}
	// Unknown fields ignored whatever their value.
	c.ok(obj{"type": "get_key_info", "node_id": n.id, "x": nil, "y": []any{nil}, "z": obj{"a": 1}})
	// Duplicate key in a nested object of the request.
	p = c.send(`{"type":"get_key_info","node_id":4,"x":{"a":1,"a":1}}`)
	if p.code() != "invalid_argument" {
		t.Errorf("nested duplicate: %s", p)
	}
	// A signed request with a wrongly typed field is invalid_argument, not unauthenticated.
	req := n.sign(obj{"type": "set_visibility", "node_id": n.id, "public": true})
	req["public"] = "true"
	c.fail(req, "invalid_argument", "public")
	req = n.sign(obj{"type": "set_visibility", "node_id": n.id})
	c.fail(req, "invalid_argument", "public")
	// null element
	req = n.sign(obj{"type": "set_tags", "node_id": n.id, "tags": []any{"a", nil}})
	c.fail(req, "invalid_argument", "")
	// set_tags null accepted
	req = n.sign(obj{"type": "set_tags", "node_id": n.id, "tags": nil})
	p = c.ok(req)
	if !strings.Contains(p.String(), `"tags":[]`) {
		t.Errorf("set_tags null: %s", p)
	}
	// control characters
	c.fail(signWith(obj{"type": "register", "public_key": n.pubB64(), "owner": "a\x01b"}, n.key, 0, 0), "invalid_argument", "")
	// unsigned heartbeat without node_id → unauthenticated
	c.fail(obj{"type": "heartbeat"}, "unauthenticated", "")
	c.fail(obj{"type": "heartbeat", "node_id": 0}, "unauthenticated", "")
	// bool fields: enabled required
	c.fail(n.sign(obj{"type": "set_task_exec", "node_id": n.id}), "invalid_argument", "enabled")
	// ts must be int
	req = n.sign(obj{"type": "heartbeat", "node_id": n.id})
	req["ts"] = float64(req["ts"].(int64)) + 0.5
	c.fail(req, "invalid_argument", "ts")
}

// §5.2 / §14 items 15–18, 20.
func TestConf_15_Auth(t *testing.T) {
	r := start(t, "-rate-limit", "off")
	c := r.dial()
	n := c.register(nil)
	c.ok(n.sign(obj{"type": "heartbeat", "node_id": n.id}))
	// skew 61 s / 59 s
	p := c.fail(signWith(obj{"type": "heartbeat", "node_id": n.id}, n.key, n.id, 61*time.Second), "unauthenticated", "NTP")
	if !strings.Contains(p.msg(), "61") && !strings.Contains(p.msg(), "1m1") {
		t.Errorf("skew message does not say by how much: %s", p)
	}
	c.fail(signWith(obj{"type": "heartbeat", "node_id": n.id}, n.key, n.id, -61*time.Second), "unauthenticated", "NTP")
	c.ok(signWith(obj{"type": "heartbeat", "node_id": n.id}, n.key, n.id, 59*time.Second))
	c.ok(signWith(obj{"type": "heartbeat", "node_id": n.id}, n.key, n.id, -59*time.Second))
	// Unregistered signer.
	other := newKey()
	other.id = 4242
	c.fail(other.sign(obj{"type": "heartbeat", "node_id": int64(4242)}), "not_found", "node 4242 is not registered; register again")
	// Replay.
	req := n.sign(obj{"type": "set_visibility", "node_id": n.id, "public": true})
	c.ok(req)
	c.fail(req, "unauthenticated", "replayed request")
	r.restart()
	c = r.dial()
	c.fail(req, "unauthenticated", "replayed request")
	// tampered: change type signer param
	req = n.sign(obj{"type": "set_hostname", "node_id": n.id, "hostname": "abc"})
	req["hostname"] = "abd"
	c.fail(req, "unauthenticated", "")
	// malformed nonce
	req = n.sign(obj{"type": "heartbeat", "node_id": n.id})
	req["nonce"] = base64.StdEncoding.EncodeToString(make([]byte, 15))
	c.fail(req, "unauthenticated", "")
	// v1 request refused with the -legacy-v1-auth hint
	sig := ed25519.Sign(n.key, []byte("heartbeat:"+fmtInt(n.id)))
	c.fail(obj{"type": "heartbeat", "node_id": n.id, "signature": base64.StdEncoding.EncodeToString(sig)}, "unauthenticated",
		"request is not signed with auth v2 (ts, nonce, signature); upgrade the daemon or start the registry with -legacy-v1-auth")
	// register without proof
	k := newKey()
	c.fail(obj{"type": "register", "public_key": k.pubB64()}, "unauthenticated", "")
	req = signWith(obj{"type": "register", "public_key": k.pubB64()}, n.key, 0, 0)
	c.fail(req, "unauthenticated", "")
	// signature without signer
	req = n.sign(obj{"type": "heartbeat", "node_id": n.id})
	delete(req, "node_id")
	c.fail(req, "unauthenticated", "")
}

// fmtInt formats a decimal integer.
func fmtInt(n int64) string { return strconv.FormatInt(n, 10) }

// §5.2 step 6 and §10: key expiry wording.
func TestConf_22_KeyExpiry(t *testing.T) {
	r := start(t, "-rate-limit", "off")
	c := r.dial()
	n := c.register(nil)
	exp := time.Now().Add(2 * time.Second).UTC().Truncate(time.Second).Add(time.Second)
	p := c.ok(n.sign(obj{"type": "set_key_expiry", "node_id": n.id, "expires_at": exp.Format(time.RFC3339)}))
	if p.str("expires_at") != exp.Format(time.RFC3339) {
		t.Errorf("set_key_expiry_ok: %s", p)
	}
	hb := c.ok(n.sign(obj{"type": "heartbeat", "node_id": n.id}))
	if hb.m["key_expiry_warning"] != true || hb.str("key_expires_at") != exp.Format(time.RFC3339) {
		t.Errorf("heartbeat warning: %s", hb)
	}
	time.Sleep(time.Until(exp) + 200*time.Millisecond)
	want := "node " + fmtInt(n.id) + ": key expired at " + exp.Format(time.RFC3339)
	c.fail(n.sign(obj{"type": "heartbeat", "node_id": n.id}), "unauthenticated", want)
	c.fail(n.sign(obj{"type": "set_hostname", "node_id": n.id, "hostname": "x"}), "unauthenticated", want)
	c.fail(signWith(obj{"type": "register", "public_key": n.pubB64()}, n.key, 0, 0), "unauthenticated", "")
	ki := c.ok(obj{"type": "get_key_info", "node_id": n.id})
	if ki.m["expired"] != true {
		t.Errorf("get_key_info: %s", ki)
	}
	// operator clears
	c.ok(obj{"type": "set_key_expiry", "node_id": n.id, "expires_at": "never", "admin_token": adminTok})
	c.ok(n.sign(obj{"type": "heartbeat", "node_id": n.id}))
	// bad expiries
	for _, v := range []string{"2000-01-01T00:00:00Z", "tomorrow", time.Now().Add(3651 * 24 * time.Hour).UTC().Format(time.RFC3339)} {
		c.fail(n.sign(obj{"type": "set_key_expiry", "node_id": n.id, "expires_at": v}), "invalid_argument", "")
	}
}

// §5.1: "absent optional field | the empty string". list_networks without
// `all` signs an empty p1; with all:false it signs "false".
func TestConf_5_1_AbsentOptionalParamIsEmpty(t *testing.T) {
	r := start(t, "-rate-limit", "off")
	c := r.dial()
	n := c.register(nil)
	c.ok(n.sign(obj{"type": "list_networks", "node_id": n.id}))
	c.ok(n.sign(obj{"type": "list_networks", "node_id": n.id, "all": false}))
	// The absent field must not verify as "false".
	req := obj{"type": "list_networks", "node_id": n.id, "all": false}
	req = n.sign(req)
	delete(req, "all")
	c.fail(req, "unauthenticated", "")
	// get_audit_log without network_id (global token) signs an empty p1.
	c.ok(n.sign(obj{"type": "get_audit_log", "node_id": n.id, "admin_token": adminTok}))
	// create_network without join_rule signs an empty p2.
	c.ok(n.sign(obj{"type": "create_network", "node_id": n.id, "name": "absent", "admin_token": adminTok}))
}

package conformance

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"testing"
)

// §9.2: "`canonical(row)` = the RFC 8785 (JSON Canonicalization Scheme)
// serialization ... minimal string escaping (only `"`, `\` and
// U+0000–U+001F are escaped; `<`, `>`, `&` and non-ASCII are written as
// is)"; §4.1 "never with `json.Marshal` (which ... still escapes U+2028 and
// U+2029)". A free-text attribute exercises every escaping rule.
func TestConf_9_2_CanonicalEscaping(t *testing.T) {
	r := start(t, "-rate-limit", "off")
	c := r.dial()
	o := c.register(nil)
	net := c.createNet(o, "jcs", "", nil)
	desc := "a\x01b\x1fc\x7fd\u2028e\u2029f<>&\"\\\b\f\n\r\t é 😀 \u00ad\ufeff"
	c.ok(o.sign(obj{"type": "set_network_policy", "node_id": o.id, "network_id": net, "description": desc}))
	p := c.ok(obj{"type": "get_audit_log", "admin_token": adminTok, "limit": 2})
	var al struct {
		Entries []json.RawMessage `json:"entries"`
	}
	json.Unmarshal(p.raw, &al)
	if len(al.Entries) != 2 {
		t.Fatalf("%s", p)
	}
	cur, _ := decode(al.Entries[0])
	prev, _ := decode(al.Entries[1])
	attrs := cur["attrs"].(map[string]any)
	if attrs["description"] != desc {
		t.Errorf("description attr %q", attrs["description"])
	}
	row := map[string]any{"seq": cur["seq"], "time": cur["timestamp"], "action": cur["action"], "actor_node_id": cur["actor_node_id"], "auth_via": cur["auth_via"], "attrs": attrs}
	var buf bytes.Buffer
	jcs(&buf, row)
	ph, _ := hex.DecodeString(prev["hash"].(string))
	h := sha256.New()
	h.Write(ph)
	h.Write(buf.Bytes())
	if got := hex.EncodeToString(h.Sum(nil)); got != cur["hash"] {
		t.Errorf("hash %v, recomputed %s over %q", cur["hash"], got, buf.String())
	}
	if out, _, code := run(t, "audit", "verify", "-data-dir", r.dataDir); code != 0 {
		t.Errorf("audit verify: %d %q", code, out)
	}
}

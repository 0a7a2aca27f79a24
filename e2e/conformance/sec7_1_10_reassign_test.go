package conformance

import (
	"testing"
	"time"
)

// §7.1.10: "`node_id` (int, Y: the node to recover; it may be a tombstone)".
// After the re-key, registering with the new key reclaims that ID
// (§7.1.1 decision 3: "The key is bound to a tombstone ... → same ID N").
func TestConf_7_1_10_ReassignTombstone(t *testing.T) {
	r := start(t, "-rate-limit", "off")
	c := r.dial()
	a := c.register(nil)
	c.ok(a.sign(obj{"type": "deregister", "node_id": a.id}))
	nk := newKey()
	p := c.ok(signWith(obj{"type": "reassign_key", "node_id": a.id, "new_public_key": nk.pubB64(), "admin_token": adminTok}, nk.key, 0, 0))
	if p.num("node_id") != a.id || p.str("public_key") != nk.pubB64() {
		t.Errorf("reassign_key_ok: %s", p)
	}
	p = c.ok(signWith(obj{"type": "register", "public_key": nk.pubB64()}, nk.key, 0, 0))
	if p.num("node_id") != a.id {
		t.Errorf("register with the reassigned key: %s", p)
	}
	// the old key is retired
	c.fail(signWith(obj{"type": "register", "public_key": a.pubB64()}, a.key, 0, 0), "unauthenticated", "this key was replaced on ")
	// unknown node_id: not_found
	k := newKey()
	c.fail(signWith(obj{"type": "reassign_key", "node_id": 4000, "new_public_key": k.pubB64(), "admin_token": adminTok}, k.key, 0, 0), "not_found", "")
	// the signature must be made with the new key (signer 0)
	c.fail(signWith(obj{"type": "reassign_key", "node_id": a.id, "new_public_key": k.pubB64(), "admin_token": adminTok}, nk.key, 0, 0), "unauthenticated", "")
}

// §7.1.1 `protocol_version`: "a value > 1 only logs a warning".
func TestConf_7_1_1_ProtocolVersionWarns(t *testing.T) {
	r := start(t, "-rate-limit", "off")
	c := r.dial()
	k := newKey()
	p := c.ok(signWith(obj{"type": "register", "public_key": k.pubB64(), "protocol_version": 7}, k.key, 0, 0))
	if p.num("protocol_version") != 1 {
		t.Errorf("register_ok protocol_version: %s", p)
	}
	found := false
	for deadline := time.Now().Add(5 * time.Second); !found && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		found = r.hasLog("WARN", "protocol")
	}
	if !found {
		t.Errorf("no WARN for protocol_version 7:\n%s", r.logText())
	}
}

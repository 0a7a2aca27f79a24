package conformance

import (
	"testing"
	"time"
)

// §5.2 step 6: key expiry "applies to every signed message, `rotate_key` and
// `set_key_expiry` included. Recovery: `reassign_key` (§7.1.10), or an
// operator clearing or extending the expiry with `set_key_expiry` and the
// global token." §14 item 22 names `rotate_key`.
func TestConf_10_ExpiredKeyEverywhere(t *testing.T) {
	r := start(t, "-rate-limit", "off")
	c := r.dial()
	a, b := c.register(nil), c.register(nil)
	exp := time.Now().Add(2 * time.Second).UTC().Truncate(time.Second).Add(time.Second)
	c.ok(a.sign(obj{"type": "set_key_expiry", "node_id": a.id, "expires_at": exp.Format(time.RFC3339)}))
	time.Sleep(time.Until(exp) + 200*time.Millisecond)
	want := "node " + fmtInt(a.id) + ": key expired at " + exp.Format(time.RFC3339)
	nk := newKey()
	rot := a.sign(obj{"type": "rotate_key", "node_id": a.id, "new_public_key": nk.pubB64()})
	rot["new_key_signature"] = signCanon(nk, rot, a.id)
	for _, req := range []obj{
		rot,
		a.sign(obj{"type": "set_key_expiry", "node_id": a.id, "expires_at": "never"}),
		a.sign(obj{"type": "set_key_expiry", "node_id": a.id, "expires_at": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}),
		a.sign(obj{"type": "lookup", "requester_id": a.id, "node_id": b.id}),
		a.sign(obj{"type": "report_trust", "node_id": a.id, "peer_id": b.id}),
		a.sign(obj{"type": "list_networks", "node_id": a.id}),
		a.sign(obj{"type": "deregister", "node_id": a.id}),
	} {
		c.fail(req, "unauthenticated", want)
	}
	// a valid global token does not excuse the expired signature (§5.2)
	c.fail(a.sign(obj{"type": "set_key_expiry", "node_id": a.id, "expires_at": "never", "admin_token": adminTok}), "unauthenticated", "")
	// get_key_info reports it; recovery by reassign_key
	if ki := c.ok(obj{"type": "get_key_info", "node_id": a.id}); ki.m["expired"] != true {
		t.Errorf("get_key_info: %s", ki)
	}
	rk := newKey()
	c.ok(signWith(obj{"type": "reassign_key", "node_id": a.id, "new_public_key": rk.pubB64(), "admin_token": adminTok}, rk.key, 0, 0))
	rk.id = a.id
	c.ok(rk.sign(obj{"type": "heartbeat", "node_id": a.id}))
	if ki := c.ok(obj{"type": "get_key_info", "node_id": a.id}); ki.m["expired"] != false {
		t.Errorf("get_key_info after reassign: %s", ki)
	}
}

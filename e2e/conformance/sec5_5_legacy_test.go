package conformance

import (
	"strings"
	"testing"
	"time"
)

// §5.5 legacy-mode table for messages the original sends unsigned, and
// "Key expiry is still enforced" for v1 requests.
func TestConf_5_5_LegacyUnsigned(t *testing.T) {
	r := start(t, "-rate-limit", "off", "-legacy-v1-auth")
	c := r.dial()
	// register: "Accepted without proof: a new key gets a new ID; a known key
	// keeps its ID. `owner` never selects or replaces an identity".
	k := newKey()
	p := c.ok(obj{"type": "register", "public_key": k.pubB64(), "owner": "ops@example.com"})
	k.id = p.num("node_id")
	p = c.ok(obj{"type": "register", "public_key": k.pubB64(), "owner": "other@example.com"})
	if p.num("node_id") != k.id {
		t.Errorf("known key got another ID: %s", p)
	}
	k2 := newKey()
	p = c.ok(obj{"type": "register", "public_key": k2.pubB64(), "owner": "ops@example.com"})
	if p.num("node_id") == k.id {
		t.Errorf("owner selected an identity: %s", p)
	}
	k2.id = p.num("node_id")
	if lk := c.ok(obj{"type": "lookup", "node_id": k.id}); lk.str("public_key") != k.pubB64() {
		t.Errorf("owner replaced a key: %s", lk)
	}
	// a wrong proof on a v2 register is still refused
	c.fail(signWith(obj{"type": "register", "public_key": k2.pubB64()}, k.key, 0, 0), "unauthenticated", "")
	// update_polo_score, set_polo_score: "Accepted unauthenticated."
	c.ok(obj{"type": "update_polo_score", "node_id": k.id, "delta": 3})
	if p = c.ok(obj{"type": "set_polo_score", "node_id": k.id, "polo_score": 9}); p.num("polo_score") != 9 {
		t.Errorf("set_polo_score: %s", p)
	}
	// beacon_register: "Accepted without beacon token" (and without -beacon-token, §7.10).
	c.ok(obj{"type": "beacon_register", "beacon_id": 5, "addr": "127.0.0.1:9001"})
	// get_network_policy of network 0, check_trust: accepted unsigned
	c.ok(obj{"type": "get_network_policy", "network_id": 0})
	c.ok(obj{"type": "check_trust", "node_id": k.id, "peer_id": k2.id})
	// a v1 signature that does not verify is refused
	c.fail(v1(k2, obj{"type": "heartbeat", "node_id": k.id}, "heartbeat:"+fmtInt(k.id)), "unauthenticated", "")
	// key expiry is enforced for v1
	exp := time.Now().Add(2 * time.Second).UTC().Truncate(time.Second).Add(time.Second)
	c.ok(k.sign(obj{"type": "set_key_expiry", "node_id": k.id, "expires_at": exp.Format(time.RFC3339)}))
	time.Sleep(time.Until(exp) + 200*time.Millisecond)
	c.fail(v1(k, obj{"type": "heartbeat", "node_id": k.id}, "heartbeat:"+fmtInt(k.id)), "unauthenticated", "key expired at")
	// role-gated management still works with v2 in legacy mode
	o := c.register(nil)
	net := c.createNet(o, "legacy-v2", "", nil)
	c.ok(o.sign(obj{"type": "rename_network", "node_id": o.id, "network_id": net, "name": "legacy-v2b"}))
	// set_network_policy by a claimed node_id, unsigned: never
	c.fail(obj{"type": "set_network_policy", "node_id": o.id, "network_id": net, "max_members": 3}, "unauthenticated", "")
	c.fail(obj{"type": "promote_member", "node_id": o.id, "network_id": net, "target_node_id": k2.id}, "unauthenticated", "")
	c.fail(obj{"type": "demote_member", "node_id": o.id, "network_id": net, "target_node_id": k2.id}, "unauthenticated", "")
	c.fail(obj{"type": "transfer_ownership", "node_id": o.id, "network_id": net, "new_owner_id": k2.id}, "unauthenticated", "")
	c.fail(obj{"type": "delete_network", "node_id": o.id, "network_id": net}, "unauthenticated", "")
}

// cli.md §1.2: "Usage errors exit 2. Every error message goes to stderr as
// one line starting with `error: `"; backup "1 write failed".
func TestConf_Cli_SubcommandErrors(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"restore"},
		{"audit"},
		{"audit", "frobnicate"},
		{"tls"},
		{"migrate"},
		{"frobnicate"},
		{"backup", "a", "b"},
	} {
		_, errs, code := run(t, append(args, "-data-dir", dir)...)
		if code != 2 {
			t.Errorf("%v: exit %d, stderr %q", args, code, errs)
		}
	}
	r := start(t)
	r.dial().register(nil)
	_, errs, code := run(t, "backup", "/nonexistent-dir/sub/b.jsonl", "-data-dir", r.dataDir)
	if code != 1 || !strings.HasPrefix(errs, "error: ") || strings.Count(strings.TrimSuffix(errs, "\n"), "\n") != 0 {
		t.Errorf("backup to an unwritable path: %d %q", code, errs)
	}
	_, errs, code = run(t, "restore", "/nonexistent-dir/b.jsonl", "-data-dir", t.TempDir())
	if code != 1 || !strings.HasPrefix(errs, "error: ") {
		t.Errorf("restore of a missing file: %d %q", code, errs)
	}
}

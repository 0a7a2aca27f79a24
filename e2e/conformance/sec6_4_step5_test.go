package conformance

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// §6.4 step 5: "`join_network`, `leave_network`, `delete_network`,
// `rename_network`, `set_network_policy`, `kick_member`, `promote_member`,
// `demote_member`, `transfer_ownership`, `get_member_role` and
// `invite_to_network` refuse network 0 with `failed_precondition`, whoever
// asks" — step 5 precedes authorization (step 6), so even an unsigned
// request without a token gets failed_precondition.
func TestConf_6_4_Step5Network0(t *testing.T) {
	r := start(t, "-rate-limit", "off")
	c := r.dial()
	a, b := c.register(nil), c.register(nil)
	for _, req := range []obj{
		{"type": "join_network", "network_id": 0},
		{"type": "leave_network", "network_id": 0},
		{"type": "delete_network", "network_id": 0},
		{"type": "rename_network", "network_id": 0, "name": "x"},
		{"type": "set_network_policy", "network_id": 0, "max_members": 1},
		{"type": "kick_member", "network_id": 0, "target_node_id": b.id},
		{"type": "promote_member", "network_id": 0, "target_node_id": b.id},
		{"type": "demote_member", "network_id": 0, "target_node_id": b.id},
		{"type": "transfer_ownership", "network_id": 0, "new_owner_id": b.id},
		{"type": "get_member_role", "network_id": 0, "target_node_id": b.id},
		{"type": "invite_to_network", "network_id": 0, "target_node_id": b.id},
	} {
		c.fail(req, "failed_precondition", "")
		signed := obj{}
		for k, v := range req {
			signed[k] = v
		}
		if signed["type"] == "invite_to_network" {
			signed["inviter_id"] = a.id
		} else {
			signed["node_id"] = a.id
		}
		c.fail(a.sign(signed), "failed_precondition", "")
	}
}

// §6.1: "An `admin_token` that matches neither the global token nor the named
// network's token is no credential: it never grants ... Only when the request
// ends up refused ... is it counted" — an anonymous read with a wrong token is
// still served as anonymous.
func TestConf_6_1_WrongTokenOnAnonymousRead(t *testing.T) {
	r := start(t, "-rate-limit", "off")
	c := r.dial()
	a := c.register(obj{"hostname": "anon-read"})
	p := c.ok(obj{"type": "lookup", "node_id": a.id, "admin_token": "not-the-token-at-all"})
	if _, ok := p.m["hostname"]; ok {
		t.Errorf("wrong token revealed a private hostname: %s", p)
	}
	c.fail(obj{"type": "resolve_hostname", "hostname": "anon-read", "admin_token": "not-the-token-at-all"}, "not_found", "")
	c.ok(obj{"type": "get_key_info", "node_id": a.id, "admin_token": "not-the-token-at-all"})
}

// §7.10 `addr`: "str `host:port`, Y, ≤ 262 bytes".
func TestConf_7_10_BeaconAddrShape(t *testing.T) {
	r := start(t, "-beacon-token", "btok")
	c := r.dial()
	for _, bad := range []any{"nonsense", "", 5, "127.0.0.1", "127.0.0.1:99999"} {
		c.fail(obj{"type": "beacon_register", "beacon_id": 2, "addr": bad, "token": "btok"}, "invalid_argument", "")
	}
	c.ok(obj{"type": "beacon_register", "beacon_id": 2, "addr": "beacon.example.test:9001", "token": "btok"})
	c.ok(obj{"type": "beacon_register", "beacon_id": 3, "addr": "[::1]:9001", "token": "btok"})
}

// §11: "`last_seen` is refreshed by `register`, `heartbeat` and `rotate_key`."
func TestConf_11_RotateRefreshesLastSeen(t *testing.T) {
	r := start(t, "-rate-limit", "off", "-stale-after", "1s")
	c := r.dial()
	a := c.register(nil)
	offline := func() bool {
		return strings.Contains(c.ok(obj{"type": "list_nodes", "network_id": 0, "admin_token": adminTok}).String(), `"offline":true`)
	}
	for deadline := time.Now().Add(10 * time.Second); !offline() && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond) // polling the registry, bounded
	}
	if !offline() {
		t.Fatal("node never went offline")
	}
	nk := newKey()
	req := a.sign(obj{"type": "rotate_key", "node_id": a.id, "new_public_key": nk.pubB64()})
	req["new_key_signature"] = signCanon(nk, req, a.id)
	c.ok(req)
	if offline() {
		t.Errorf("rotate_key did not refresh last_seen")
	}
}

// cli.md §1.1 defaults: `-data-dir` "`$PILOT_REGISTRY_DIR`, else
// `$HOME/.pilot/registry`"; `-beacon-token` "(env `PILOT_BEACON_TOKEN`)".
func TestConf_Cli_EnvDefaults(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "regdir")
	out, code := runFor(t, 30*time.Second, []string{"PILOT_REGISTRY_DIR=" + dir}, "tls", "fingerprint")
	if code != 0 {
		t.Fatalf("tls fingerprint with PILOT_REGISTRY_DIR: %d %q", code, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "tls", "cert.pem")); err != nil {
		t.Errorf("PILOT_REGISTRY_DIR not used: %v", err)
	}
	home := t.TempDir()
	out, code = runFor(t, 30*time.Second, []string{"PILOT_REGISTRY_DIR=", "HOME=" + home}, "tls", "fingerprint")
	if code != 0 {
		t.Fatalf("tls fingerprint with HOME: %d %q", code, out)
	}
	if _, err := os.Stat(filepath.Join(home, ".pilot", "registry", "tls", "cert.pem")); err != nil {
		t.Errorf("$HOME/.pilot/registry not used: %v", err)
	}
	r := &reg{t: t, dataDir: t.TempDir(), flags: []string{"-admin-token", adminTok}, env: []string{"PILOT_BEACON_TOKEN=env-beacon-token"}}
	r.launch(freePort(t))
	t.Cleanup(r.kill)
	c := r.dial()
	c.ok(obj{"type": "beacon_register", "beacon_id": 1, "addr": "127.0.0.1:9001", "token": "env-beacon-token"})
	c.fail(obj{"type": "beacon_register", "beacon_id": 1, "addr": "127.0.0.1:9001", "token": "other"}, "unauthenticated", "")
}

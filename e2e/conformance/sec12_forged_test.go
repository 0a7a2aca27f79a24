package conformance

import (
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// §12: "signer-keyed categories are charged after signature verification (an
// attacker cannot drain a node's bucket without its key)".
func TestConf_12_ForgedRequestsDoNotDrainSigner(t *testing.T) {
	r := start(t)
	c := r.dial()
	a := c.register(nil)
	attacker := r.dialFrom("127.0.0.2")
	var reqs []obj
	for i := 0; i < 25; i++ {
		req := a.sign(obj{"type": "heartbeat", "node_id": a.id})
		req["ts"] = req["ts"].(int64) + 1 // signature no longer verifies
		reqs = append(reqs, req)
	}
	for i := 0; i < 25; i++ {
		req := a.sign(obj{"type": "set_visibility", "node_id": a.id, "public": true})
		req["public"] = false
		reqs = append(reqs, req)
	}
	for _, p := range attacker.pipeline(reqs[:29]) {
		if p.code() != "unauthenticated" {
			t.Fatalf("forged request: %s", p)
		}
	}
	// the genuine node still has its full heartbeat burst (6) and mutation budget
	reqs = nil
	for i := 0; i < 6; i++ {
		reqs = append(reqs, a.sign(obj{"type": "heartbeat", "node_id": a.id}))
	}
	for i, p := range c.pipeline(reqs) {
		if p.typ() != "heartbeat_ok" {
			t.Errorf("genuine heartbeat %d after forgeries: %s", i+1, p)
		}
	}
	c.ok(a.sign(obj{"type": "set_visibility", "node_id": a.id, "public": true}))
}

// §3.1 `pilot_auth_failures_total` reasons `expired_key` and `unknown_node`.
func TestConf_3_1_AuthFailureReasons(t *testing.T) {
	r := start(t, "-rate-limit", "off")
	c := r.dial()
	a := c.register(nil)
	g := newKey()
	g.id = 4000
	c.fail(g.sign(obj{"type": "heartbeat", "node_id": g.id}), "not_found", "")
	exp := time.Now().Add(2 * time.Second).UTC().Truncate(time.Second).Add(time.Second)
	c.ok(a.sign(obj{"type": "set_key_expiry", "node_id": a.id, "expires_at": exp.Format(time.RFC3339)}))
	time.Sleep(time.Until(exp) + 200*time.Millisecond)
	c.fail(a.sign(obj{"type": "heartbeat", "node_id": a.id}), "unauthenticated", "expired")
	m := metricsText(t, r)
	for _, want := range []string{`pilot_auth_failures_total{reason="expired_key"} 1`, `pilot_auth_failures_total{reason="unknown_node"} 1`} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s:\n%s", want, grep(m, "pilot_auth_failures_total"))
		}
	}
}

// §1.1: only `GET ` (with the space) and `HEAD` are HTTP; "anything else —
// Close without reply".
func TestConf_1_1_SniffExactPrefixes(t *testing.T) {
	r := start(t)
	for _, first := range []string{"GETX / HTTP/1.1\r\n\r\n", "get / HTTP/1.1\r\n\r\n", "HEA", "\x00\x00"} {
		c, err := net.Dial("tcp", r.addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(45 * time.Second))
		io.WriteString(c, first)
		if first == "HEA" || first == "\x00\x00" {
			// fewer than 4 bytes: the registry waits (up to 30 s); close our side
			c.(*net.TCPConn).CloseWrite()
		}
		b, _ := io.ReadAll(c)
		if len(b) != 0 {
			t.Errorf("%q: got a reply %q", first, b)
		}
		c.Close()
	}
}

// §8.1 network name "1–63 chars, required"; §13.3 backup "written to a
// temporary name in the target directory, fsynced, then renamed".
func TestConf_8_1_EmptyNetworkNameAndBackupTemp(t *testing.T) {
	r := start(t, "-rate-limit", "off")
	c := r.dial()
	o := c.register(nil)
	c.fail(obj{"type": "create_network", "node_id": o.id, "name": "", "admin_token": adminTok}, "invalid_argument", "")
	c.fail(obj{"type": "create_network", "node_id": o.id, "admin_token": adminTok}, "invalid_argument", "")
	net := c.createNet(o, "n63-"+strings.Repeat("a", 59), "", nil)
	c.fail(o.sign(obj{"type": "rename_network", "node_id": o.id, "network_id": net, "name": ""}), "invalid_argument", "")
	c.fail(o.sign(obj{"type": "rename_network", "node_id": o.id, "network_id": net, "name": strings.Repeat("a", 64)}), "invalid_argument", "")
	c.fail(o.sign(obj{"type": "rename_network", "node_id": o.id, "network_id": net}), "invalid_argument", "")
	dir := t.TempDir()
	if _, errs, code := run(t, "backup", filepath.Join(dir, "b.jsonl"), "-data-dir", r.dataDir); code != 0 {
		t.Fatalf("backup: %d %q", code, errs)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 || ents[0].Name() != "b.jsonl" {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("backup directory holds %v", names)
	}
}

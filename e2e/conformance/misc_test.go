package conformance

import (
	"bufio"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// cli.md §1.1 start-up log.
func TestConf_StartupLog(t *testing.T) {
	r := start(t)
	var rec map[string]any
	for _, l := range r.logLines() {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == "registry listening" {
			rec = m
		}
	}
	if rec == nil || rec["level"] != "INFO" || rec["addr"] != r.addr || rec["tls"] != false || rec["auth"] != "v2" ||
		rec["admin_token"] != "configured" || !strings.HasPrefix(rec["store"].(string), "sqlite:") {
		t.Errorf("registry listening: %v", rec)
	}
	if strings.Contains(r.logText(), adminTok) {
		t.Errorf("admin token logged")
	}
}

// §2 / §14 items 10, 11.
func TestConf_10_TLS(t *testing.T) {
	r := start(t, "-tls")
	fp := ""
	for _, l := range r.logLines() {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == "tls fingerprint" {
			fp, _ = m["sha256"].(string)
		}
	}
	tc, err := tls.Dial("tcp", r.addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(tc.ConnectionState().PeerCertificates[0].Raw)
	tc.Close()
	if hex.EncodeToString(sum[:]) != fp {
		t.Errorf("logged fingerprint %q, served %x", fp, sum)
	}
	out, _, code := run(t, "tls", "fingerprint", "-data-dir", r.dataDir)
	if code != 0 || strings.TrimSpace(out) != fp {
		t.Errorf("tls fingerprint: %d %q want %s", code, out, fp)
	}
	// plaintext frame → failed_precondition, then closed
	c := r.dial()
	p := c.send(obj{"type": "beacon_list"})
	if p.code() != "failed_precondition" || !strings.Contains(p.msg(), "this registry requires TLS; connect with -registry-tls") {
		t.Errorf("plaintext: %s", p)
	}
	c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.readFrame(); err == nil {
		t.Error("connection not closed")
	}
	resp, err := http.Get("http://" + r.addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("plain healthz: %d", resp.StatusCode)
	}
	// over TLS, the registry protocol works
	tc, err = tls.Dial("tcp", r.addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	tc.Write(frame([]byte(`{"type":"beacon_list"}`)))
	tcc := &conn{t: t, c: tc, r: bufio.NewReader(tc)}
	if p := tcc.read(); p.typ() != "beacon_list_ok" {
		t.Errorf("tls request: %s", p)
	}
	// restart: same fingerprint
	r.restart()
	tc2, err := tls.Dial("tcp", r.addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	sum2 := sha256.Sum256(tc2.ConnectionState().PeerCertificates[0].Raw)
	tc2.Close()
	if sum2 != sum {
		t.Errorf("fingerprint changed across restarts")
	}
	if st, err := os.Stat(filepath.Join(r.dataDir, "tls", "key.pem")); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("key.pem: %v %v", st, err)
	}
}

// §9.1: text format and -audit-file.
func TestConf_AuditTextAndFile(t *testing.T) {
	dir := t.TempDir()
	af := filepath.Join(dir, "audit.jsonl")
	r := &reg{t: t, dataDir: t.TempDir(), flags: []string{"-admin-token", adminTok, "-audit-file", af, "-log-level", "error"}}
	// text format: replace json in args by a custom launch
	r.flags = append(r.flags, "-log-format", "text")
	r.launch(freePort(t))
	t.Cleanup(r.kill)
	c := r.dial()
	n := c.register(nil)
	c.ok(n.sign(obj{"type": "set_visibility", "node_id": n.id, "public": true}))
	deadline := time.Now().Add(5 * time.Second)
	var textLines []string
	for time.Now().Before(deadline) {
		textLines = nil
		for _, l := range r.logLines() {
			if strings.Contains(l, "msg=audit") {
				textLines = append(textLines, l)
			}
		}
		if len(textLines) >= 2 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(textLines) != 2 || !strings.Contains(textLines[1], "level=INFO msg=audit audit_action=visibility.changed node_id="+fmtInt(n.id)+" public=true old_public=false new_public=true actor_node_id="+fmtInt(n.id)+" auth_via=self audit_seq=2 audit_hash=") {
		t.Errorf("text audit lines: %q", textLines)
	}
	var b []byte
	for time.Now().Before(deadline) {
		b, _ = os.ReadFile(af)
		if strings.Count(string(b), "\n") >= 2 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	fl := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(fl) != 2 {
		t.Fatalf("audit file: %q", b)
	}
	keys, _ := orderedKeys(t, fl[1])
	if strings.Join(keys, ",") != "time,level,msg,audit_action,node_id,public,old_public,new_public,actor_node_id,auth_via,audit_seq,audit_hash" {
		t.Errorf("audit file keys: %v", keys)
	}
	if st, _ := os.Stat(af); st.Mode().Perm() != 0o600 {
		t.Errorf("audit file mode %v", st.Mode())
	}
}

// §7.10 beacon directory.
func TestConf_Beacon(t *testing.T) {
	r := start(t)
	c := r.dial()
	c.fail(obj{"type": "beacon_register", "beacon_id": 1, "addr": "127.0.0.1:9001"}, "failed_precondition", "")
	r2 := start(t, "-beacon-token", "btok")
	c2 := r2.dial()
	c2.fail(obj{"type": "beacon_register", "beacon_id": 1, "addr": "127.0.0.1:9001"}, "unauthenticated", "")
	c2.fail(obj{"type": "beacon_register", "beacon_id": 1, "addr": "127.0.0.1:9001", "token": "x"}, "unauthenticated", "")
	c2.fail(obj{"type": "beacon_register", "beacon_id": 0, "addr": "127.0.0.1:9001", "token": "btok"}, "invalid_argument", "")
	p := c2.ok(obj{"type": "beacon_register", "beacon_id": 7, "addr": "127.0.0.1:9001", "token": "btok"})
	if p.num("beacon_id") != 7 {
		t.Errorf("beacon_register_ok: %s", p)
	}
	p = c2.ok(obj{"type": "beacon_list"})
	if !strings.Contains(p.String(), `"beacons":[{"id":7,"addr":"127.0.0.1:9001"}]`) {
		t.Errorf("beacon_list: %s", p)
	}
	p = c.ok(obj{"type": "beacon_list"})
	if !strings.Contains(p.String(), `"beacons":[]`) {
		t.Errorf("empty beacon_list: %s", p)
	}
}

// §7.1.3 deregister effects; §11 node TTL purge.
func TestConf_DeregisterAndPurge(t *testing.T) {
	r := start(t, "-rate-limit", "off", "-stale-after", "1s", "-node-ttl", "2s", "-reap-interval", "300ms")
	c := r.dial()
	a := c.register(obj{"hostname": "gone"})
	o := c.register(nil)
	net := c.createNet(o, "dn", "", nil)
	c.join(a, net)
	// a keeps heartbeating while o goes stale; o owns a network: kept.
	for i := 0; i < 8; i++ {
		time.Sleep(500 * time.Millisecond)
		c.ok(a.sign(obj{"type": "heartbeat", "node_id": a.id}))
	}
	c.ok(obj{"type": "lookup", "node_id": o.id})
	warned := func() bool {
		for _, l := range r.logLines() {
			if strings.Contains(l, `"level":"WARN"`) && strings.Contains(l, "purge") {
				return true
			}
		}
		return false
	}
	// The sweeper runs every 300 ms; wait for its WARN, bounded.
	for deadline := time.Now().Add(10 * time.Second); !warned() && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond) // polling the log, not synchronising
	}
	if !warned() {
		t.Errorf("no WARN for the skipped owner")
	}
	// a stops: purged like deregister once -node-ttl (2 s) has passed; poll
	// for it, bounded, instead of sleeping a fixed time.
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); {
		if c.send(obj{"type": "lookup", "node_id": a.id}).code() == "not_found" {
			break
		}
		time.Sleep(100 * time.Millisecond) // polling the registry, not synchronising
	}
	c.fail(obj{"type": "lookup", "node_id": a.id}, "not_found", "")
	rec := auditRec(t, r, c.auditHead())
	if rec["audit_action"] != "node.deregistered" || rec["reason"] != "purge" || rec["auth_via"] != "system" || rec["actor_node_id"] != json.Number("0") ||
		string(mustJSON(rec["networks"])) != "["+fmtInt(net)+"]" {
		t.Errorf("purge event: %v", rec)
	}
	// hostname released
	b := c.register(nil)
	c.ok(b.sign(obj{"type": "set_hostname", "node_id": b.id, "hostname": "gone"}))
}

// §7.1.2 polo updates do not refresh last_seen, lookup with global token.
func TestConf_LookupGlobalToken(t *testing.T) {
	r := start(t, "-rate-limit", "off")
	c := r.dial()
	a := c.register(obj{"hostname": "tokl"})
	o := c.register(nil)
	net := c.createNet(o, "lg", "", nil)
	c.join(a, net)
	p := c.ok(obj{"type": "lookup", "node_id": a.id, "admin_token": adminTok})
	if p.str("hostname") != "tokl" || string(mustJSON(p.m["networks"])) != "[0,"+fmtInt(net)+"]" {
		t.Errorf("lookup with token: %s", p)
	}
	if _, ok := p.m["real_addr"]; ok {
		t.Errorf("real_addr of private node: %s", p)
	}
	p = c.ok(o.sign(obj{"type": "lookup", "requester_id": o.id, "node_id": a.id}))
	if p.str("hostname") != "tokl" || string(mustJSON(p.m["networks"])) != "[0,"+fmtInt(net)+"]" {
		t.Errorf("lookup by network peer: %s", p)
	}
	c.fail(obj{"type": "lookup", "node_id": 999}, "not_found", "")
}

// §1.1 TLS row: the decrypted stream is sniffed again (HTTP over TLS);
// §2.2 -tls-allow-plain.
func TestConf_TLSSniffAndAllowPlain(t *testing.T) {
	r := start(t, "-tls", "-tls-allow-plain")
	cl := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := cl.Get("https://" + r.addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("https healthz: %d", resp.StatusCode)
	}
	c := r.dial()
	c.ok(obj{"type": "beacon_list"})
	c.ok(obj{"type": "beacon_list"})
}

// cli.md §1.1 -admin-token: empty disables every token-only operation.
func TestConf_NoAdminToken(t *testing.T) {
	r := startRaw(t)
	c := r.dial()
	n := c.register(nil)
	c.fail(obj{"type": "create_network", "node_id": n.id, "name": "x", "admin_token": ""}, "unauthenticated", "")
	c.fail(obj{"type": "create_network", "node_id": n.id, "name": "x", "admin_token": "anything-at-all-here"}, "unauthenticated", "")
	c.fail(n.sign(obj{"type": "create_network", "node_id": n.id, "name": "x", "admin_token": "anything-at-all-here"}), "permission_denied", "")
	c.fail(obj{"type": "get_audit_log", "admin_token": "x"}, "invalid_argument", "")
	c.fail(obj{"type": "set_polo_score", "node_id": n.id, "polo_score": 1, "admin_token": "x"}, "unauthenticated", "")
}

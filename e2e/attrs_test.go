package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// hasKeys fails the test when data lacks one of keys.
func hasKeys(t *testing.T, what string, data map[string]any, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if _, ok := data[k]; !ok {
			t.Errorf("%s: data lacks %q (cli.md §4): %v", what, k, data)
		}
	}
	if _, ok := data["type"]; ok {
		t.Errorf("%s: data keeps the registry's \"type\": %v", what, data)
	}
}

// The commands of cli.md §4.5–§4.9 that the other suites do not drive, on
// real daemons: names, visibility, tags, find, lookup, peers, keys,
// webhook, recv/send, send-message, handshake reject, untrust not_found.
func TestE2E_NodeAttributesKeysWebhook(t *testing.T) {
	c := newCluster(t)
	a := c.startDaemon("a")
	b := c.startDaemon("b")
	aID, bID := strconv.Itoa(a.id), strconv.Itoa(b.id)
	host := "e2e-alpha-" + aID

	// §4.7 names, visibility, tags.
	r := a.ok("set-hostname", host)
	hasKeys(t, "set-hostname", r.data, "node_id", "hostname")
	if r.int("node_id") != a.id || r.str("hostname") != host {
		t.Errorf("set-hostname data %v", r.data)
	}
	if r := a.ok("set-public"); r.int("node_id") != a.id || r.str("visibility") != "public" {
		t.Errorf("set-public data %v", r.data)
	}
	f := b.ok("find", host)
	hasKeys(t, "find", f.data, "node_id", "address", "public", "hostname")
	if f.int("node_id") != a.id || f.data["public"] != true || f.str("hostname") != host {
		t.Errorf("find data %v", f.data)
	}
	// A hostname target resolves through the daemon (cli.md §4.1).
	if r := b.ok("lookup", host); r.int("node_id") != a.id {
		t.Errorf("lookup by hostname %v", r.data)
	}
	r = a.ok("set-tags", "gpu", "eu-west")
	if tags, _ := r.data["tags"].([]any); len(tags) != 2 || tags[0] != "gpu" || r.int("node_id") != a.id {
		t.Errorf("set-tags data %v", r.data)
	}
	if tags, ok := a.ok("clear-tags").data["tags"].([]any); !ok || len(tags) != 0 {
		t.Errorf("clear-tags: tags must be [] (cli.md §4.7)")
	}
	if r := a.ok("clear-hostname"); r.int("node_id") != a.id || r.str("hostname") != "" {
		t.Errorf("clear-hostname data %v", r.data)
	}
	b.fails(5, "not_found", "find", host)

	// §4.5 recv and send between the two daemons (b is public).
	if r := b.ok("set-public"); r.str("visibility") != "public" {
		t.Fatalf("set-public data %v", r.data)
	}
	recv := b.startStream("recv", "5000", "--count", "1", "--timeout", "60s")
	eventually(t, "recv to get a message", waitTimeout, func() bool {
		if recv.exited() {
			return true
		}
		a.run("send", bID, "5000", "--data", "hello recv", "--timeout", "5s")
		return recv.exited()
	})
	var rl struct {
		Status string `json:"status"`
		Data   struct {
			Port     int `json:"port"`
			Messages []struct {
				From string `json:"from"`
				Data string `json:"data"`
				Size int    `json:"size"`
			} `json:"messages"`
		} `json:"data"`
	}
	if lines := recv.Lines(); len(lines) != 1 || json.Unmarshal([]byte(lines[0]), &rl) != nil || rl.Data.Port != 5000 ||
		len(rl.Data.Messages) != 1 || rl.Data.Messages[0].Data != "hello recv" || rl.Data.Messages[0].Size != 10 ||
		!strings.HasPrefix(rl.Data.Messages[0].From, "0:") {
		t.Errorf("recv output %q (stderr %q)", recv.Lines(), recv.errb.String())
	}

	// §4.6 send-message with JSON: the peer's ACK.
	sm := a.ok("send-message", bID, "--data", `{"task":"sync"}`, "--type", "json")
	if sm.str("type") != "json" || sm.int("size") != 15 || !strings.HasPrefix(sm.str("ack"), "ACK JSON") {
		t.Errorf("send-message data %v", sm.data)
	}
	a.fails(2, "invalid_argument", "send-message", bID, "--data", "{", "--type", "json")

	// §4.5 peers after traffic.
	p := a.ok("peers")
	hasKeys(t, "peers", p.data, "peers", "total")
	for _, e := range p.list("peers") {
		hasKeys(t, "peers entry", e, "node_id", "endpoint", "path", "relay", "encrypted", "authenticated", "auth",
			"key_age_s", "rekeys", "last_rx_ms", "last_tx_ms", "frames_sent", "frames_recv", "decrypt_failures", "replays", "queued")
	}
	if p.int("total") < 1 {
		t.Errorf("peers after traffic: %v", p.data)
	}

	// §4.7 handshake reject, untrust of a node not trusted.
	a.ok("handshake", bID, "e2e reject me")
	eventually(t, "b to hold a's request", waitTimeout, func() bool { return len(b.ok("pending").list("pending")) > 0 })
	if r := b.ok("reject", aID, "not", "expected"); r.str("status") != "rejected" || r.int("node_id") != a.id {
		t.Errorf("reject data %v", r.data)
	}
	b.fails(5, "not_found", "untrust", aID)

	// §4.8 key info, expiry.
	k := a.ok("key", "info")
	hasKeys(t, "key info", k.data, "node_id", "created_at", "rotate_count", "key_age_days", "expired")
	if k.int("node_id") != a.id || k.data["expired"] != false {
		t.Errorf("key info data %v", k.data)
	}
	if r := a.ok("key", "info", bID); r.int("node_id") != b.id {
		t.Errorf("key info of b %v", r.data)
	}
	e := a.ok("key", "expiry", "90d")
	exp, err := time.Parse(time.RFC3339, e.str("expires_at"))
	if err != nil || e.int("node_id") != a.id || time.Until(exp) < 89*24*time.Hour || time.Until(exp) > 91*24*time.Hour {
		t.Errorf("key expiry 90d data %v", e.data)
	}
	if r := a.ok("key", "expiry", "never"); r.data["expires_at"] != nil {
		t.Errorf("key expiry never data %v", r.data)
	}

	// §4.8 key rotate: a new key, signed requests keep working with it.
	oldKey := a.ok("info").str("public_key")
	kr := a.ok("key", "rotate", "--expires-in", "30d")
	hasKeys(t, "key rotate", kr.data, "node_id", "public_key", "rotate_count", "rotated_at", "expires_at")
	if kr.int("node_id") != a.id || kr.str("public_key") == oldKey || kr.int("rotate_count") != 1 {
		t.Errorf("key rotate data %v (old key %s)", kr.data, oldKey)
	}
	if got := a.ok("info").str("public_key"); got != kr.str("public_key") {
		t.Errorf("info public_key %s after rotation to %s", got, kr.str("public_key"))
	}
	if r := a.ok("set-hostname", host); r.str("hostname") != host {
		t.Errorf("set-hostname after rotation %v", r.data)
	}

	// §4.8 key reclaim: a fresh daemon adopts b's node after b's key is lost.
	b.p.stop(t)
	fresh := c.startDaemon("fresh")
	fresh.fails(4, "auth_required", "key", "reclaim", bID)
	rc := fresh.ok("key", "reclaim", bID, "--admin-token", adminToken)
	if rc.int("node_id") != b.id || rc.int("previous_node_id") != fresh.id || rc.str("address") != fmt.Sprintf("0:0000.0000.%04X", b.id) {
		t.Errorf("key reclaim data %v (fresh was node %d)", rc.data, fresh.id)
	}
	if got := fresh.ok("info").int("node_id"); got != b.id {
		t.Errorf("info node_id %d after reclaiming node %d", got, b.id)
	}

	// §4.9 webhook set / status / clear.
	ws := a.ok("webhook", "status")
	hasKeys(t, "webhook status", ws.data, "configured", "url", "signed", "queued", "delivered", "failed", "dropped", "last_event_id")
	if ws.data["configured"] != false {
		t.Errorf("webhook status before set %v", ws.data)
	}
	if r := a.ok("webhook", "set", "http://127.0.0.1:9/hook", "--secret", "whsec_"+strings.Repeat("A", 32)); r.str("webhook") != "http://127.0.0.1:9/hook" || r.data["signed"] != true {
		t.Errorf("webhook set data %v", r.data)
	}
	if ws := a.ok("webhook", "status"); ws.data["configured"] != true || ws.str("url") != "http://127.0.0.1:9/hook" || ws.data["signed"] != true {
		t.Errorf("webhook status after set %v", ws.data)
	}
	if r := a.ok("clear-webhook"); r.str("webhook") != "" {
		t.Errorf("clear-webhook data %v", r.data)
	}
	if ws := a.ok("webhook", "status"); ws.data["configured"] != false {
		t.Errorf("webhook status after clear %v", ws.data)
	}
}

// cli.md §4.9: daemon start (pilot-daemon found next to pilotctl, log and
// PID under ~/.pilot), status, status --check, stop.
func TestE2E_DaemonStartStatusStop(t *testing.T) {
	c := newCluster(t)
	home := filepath.Join(c.dir, "home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		t.Fatal(err)
	}
	env := []string{"HOME=" + home}
	sock := filepath.Join(c.dir, "started.sock")
	ctl := func(args ...string) result { return runCtlEnv(t, env, sock, args...) }
	t.Cleanup(func() {
		if r := ctl("daemon", "stop"); r.exit != 0 {
			t.Errorf("cleanup: %v", r)
		}
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(home, ".pilot", "pilot.log"))
			t.Logf("---- pilot.log ----\n%s", b)
		}
	})
	st := ctl("daemon", "status")
	if st.exit != 0 || st.data["running"] != false {
		t.Fatalf("status before start: %v", st)
	}
	if r := ctl("daemon", "status", "--check"); r.exit != 3 || r.stdout != "" || r.stderr != "" {
		t.Fatalf("status --check before start: %v", r)
	}
	r := ctl("daemon", "start", "--registry", c.regAddr, "--beacon", c.bcnAddr, "--listen", "127.0.0.1:0",
		"--state-dir", filepath.Join(c.dir, "started"), "--heartbeat", "1s")
	if r.exit != 0 || r.int("node_id") == 0 {
		t.Fatalf("daemon start: %v", r)
	}
	hasKeys(t, "daemon start", r.data, "node_id", "address", "uptime_secs", "networks", "version")
	pidFile, err := os.ReadFile(filepath.Join(home, ".pilot", "pilot.pid"))
	if err != nil {
		t.Fatalf("pid file: %v", err)
	}
	st = ctl("daemon", "status")
	hasKeys(t, "daemon status", st.data, "running", "pid", "node_id", "address", "uptime_secs")
	if st.data["running"] != true || strconv.Itoa(st.int("pid")) != strings.TrimSpace(string(pidFile)) || st.int("node_id") != r.int("node_id") {
		t.Fatalf("status after start: %v (pid file %q)", st, pidFile)
	}
	if r := ctl("daemon", "status", "--check"); r.exit != 0 || r.stdout != "" {
		t.Fatalf("status --check while running: %v", r)
	}
	if r := ctl("daemon", "start", "--registry", c.regAddr); r.exit != 1 || r.code != "already_exists" {
		t.Errorf("second start: %v", r)
	}
	sp := ctl("daemon", "stop")
	if sp.exit != 0 || sp.data["stopped"] != true || sp.int("pid") != st.int("pid") {
		t.Fatalf("daemon stop: %v", sp)
	}
	if r := ctl("daemon", "status", "--check"); r.exit != 3 {
		t.Fatalf("status --check after stop: %v", r)
	}
	if _, err := os.Stat(filepath.Join(home, ".pilot", "pilot.pid")); err == nil {
		t.Errorf("pid file left after stop")
	}
	if r := ctl("info"); r.exit != 3 || r.code != "not_running" {
		t.Errorf("info after stop: %v", r)
	}
}

package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// trustPair runs the handshake of cli.md §4.7: a asks, b approves, and
// both end up trusting each other.
func trustPair(t *testing.T, a, b *daemon) {
	t.Helper()
	r := a.ok("handshake", strconv.Itoa(b.id), "e2e: please trust me")
	if r.str("status") != "sent" || r.int("node_id") != b.id {
		t.Fatalf("handshake data %v", r.data)
	}
	eventually(t, "b to hold a's request", waitTimeout, func() bool {
		for _, p := range b.ok("pending").list("pending") {
			if num(p, "node_id") == a.id {
				if p["justification"] != "e2e: please trust me" {
					t.Fatalf("pending entry %v", p)
				}
				return true
			}
		}
		return false
	})
	if r := b.ok("approve", strconv.Itoa(a.id)); r.str("status") != "approved" {
		t.Fatalf("approve data %v", r.data)
	}
	trusts := func(x, y *daemon) bool {
		for _, e := range x.ok("trust").list("trusted") {
			if num(e, "node_id") == y.id {
				return true
			}
		}
		return false
	}
	eventually(t, "mutual trust", waitTimeout, func() bool { return trusts(a, b) && trusts(b, a) })
}

// Two daemons: trust, ping, echo (port 7), bench, file transfer (port
// 1001), pub/sub (port 1002) and untrust, all through pilotctl --json.
func TestE2E_TrustPingEchoFilePubSub(t *testing.T) {
	c := newCluster(t)
	a := c.startDaemon("a")
	b := c.startDaemon("b")
	bID := strconv.Itoa(b.id)

	// A private node cannot be reached by an untrusted peer: the registry
	// refuses to resolve it, and the dial keeps the registry's code
	// (ipc.md §5.2 "resolve node N: <reason>" with the registry code;
	// cli.md §4.3 permission_denied exits 4).
	a.fails(4, "permission_denied", "send", bID, "7", "--data", "before trust", "--timeout", "20s")

	trustPair(t, a, b)

	ping := a.ok("ping", bID, "--count", "3", "--interval", "100ms")
	if ping.int("sent") != 3 || ping.int("received") != 3 {
		t.Fatalf("ping data %v", ping.data)
	}
	for _, res := range ping.list("results") {
		if res["ok"] != true {
			t.Fatalf("ping result %v", res)
		}
	}

	echo := a.ok("send", bID, "7", "--data", "hello pilot")
	if echo.str("response") != "hello pilot" || echo.int("sent") != len("hello pilot") {
		t.Fatalf("echo data %v", echo.data)
	}

	bench := a.ok("bench", bID, "2")
	if bench.int("bytes") != 2<<20 {
		t.Fatalf("bench data %v", bench.data)
	}

	// File transfer: the file lands in b's received/ directory intact.
	content := bytes.Repeat([]byte("pilot file transfer e2e\n"), 20000) // ~470 KiB
	src := filepath.Join(t.TempDir(), "report.txt")
	if err := os.WriteFile(src, content, 0o600); err != nil {
		t.Fatal(err)
	}
	sf := a.ok("send-file", bID, src)
	if sf.str("filename") != "report.txt" || sf.int("size") != len(content) || !strings.HasPrefix(sf.str("ack"), "ACK") {
		t.Fatalf("send-file data %v", sf.data)
	}
	eventually(t, "the file in b's received/", waitTimeout, func() bool {
		matches, _ := filepath.Glob(filepath.Join(b.dir, "received", "report*.txt"))
		for _, m := range matches {
			if got, err := os.ReadFile(m); err == nil && bytes.Equal(got, content) {
				return true
			}
		}
		return false
	})

	// Pub/sub on b's event stream: a subscribes, a publishes (again until
	// the subscription is in place), the subscriber prints one line.
	sub := a.startStream("subscribe", bID, "jobs", "--count", "1", "--timeout", "60s")
	eventually(t, "the published event at the subscriber", waitTimeout, func() bool {
		if len(sub.Lines()) > 0 {
			return true
		}
		if sub.exited() {
			t.Fatalf("subscribe exited early: %s", sub.errb.String())
		}
		pub := a.ok("publish", bID, "jobs", "--data", "batch 7 finished")
		if pub.str("topic") != "jobs" || pub.int("size") != len("batch 7 finished") {
			t.Fatalf("publish data %v", pub.data)
		}
		return len(sub.Lines()) > 0
	})
	var ev struct {
		Status string `json:"status"`
		Data   struct {
			Topic   string `json:"topic"`
			Payload string `json:"payload"`
			Size    int    `json:"size"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(sub.Lines()[0]), &ev); err != nil || ev.Status != "ok" ||
		ev.Data.Topic != "jobs" || ev.Data.Payload != "batch 7 finished" || ev.Data.Size != 16 {
		t.Fatalf("subscribe line %q (%v)", sub.Lines()[0], err)
	}

	// Revocation: after untrust, b no longer accepts a's streams.
	if r := b.ok("untrust", strconv.Itoa(a.id)); r.str("status") != "revoked" {
		t.Fatalf("untrust data %v", r.data)
	}
	eventually(t, "a's streams to be refused after revocation", waitTimeout, func() bool {
		r := a.run("send", bID, "7", "--data", "after revoke", "--timeout", "10s")
		return r.exit != 0
	})
	info := a.ok("info")
	for _, k := range []string{"node_id", "address", "public_key", "peer_list", "conn_list", "networks", "version"} {
		if _, ok := info.data[k]; !ok {
			t.Errorf("info lacks %q", k)
		}
	}
	if got := info.str("address"); got != fmt.Sprintf("0:0000.0000.%04X", a.id) {
		t.Errorf("info address %q for node %d", got, a.id)
	}
	h := a.ok("health")
	if h.str("status") != "ok" || h.str("registry") != "ok" {
		t.Errorf("health %v", h.data)
	}
	if wh, ok := h.data["webhook"].(map[string]any); !ok || wh["configured"] != false {
		t.Errorf("health webhook object %v", h.data["webhook"])
	}
}

// With the daemon stopped, every IPC command fails with not_running and
// exit 3 (cli.md §5 item 11).
func TestE2E_NotRunning(t *testing.T) {
	r := runCtl(t, filepath.Join(t.TempDir(), "absent.sock"), "info")
	if r.exit != 3 || r.code != "not_running" {
		t.Fatalf("%v", r)
	}
}

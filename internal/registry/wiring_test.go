package registry

import (
	"crypto/rand"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pilot-go/pilot/internal/identity"
	"github.com/pilot-go/pilot/internal/wire/regmsg"
)

// wire is a raw registry-protocol client for the loopback tests.
type wire struct {
	t *testing.T
	c net.Conn
}

func dialWire(t *testing.T, addr string) *wire {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &wire{t: t, c: c}
}

func (w *wire) call(req regmsg.Request) map[string]json.RawMessage {
	w.t.Helper()
	frame, err := regmsg.AppendFrame(nil, regmsg.AppendRequest(nil, req))
	if err != nil {
		w.t.Fatal(err)
	}
	if _, err := w.c.Write(frame); err != nil {
		w.t.Fatal(err)
	}
	body, err := regmsg.ReadFrame(w.c, nil)
	if err != nil {
		w.t.Fatal(err)
	}
	var out map[string]json.RawMessage
	if err := json.Unmarshal(body, &out); err != nil {
		w.t.Fatal(err)
	}
	return out
}

func sign(req regmsg.Request, id *identity.Identity) regmsg.Request {
	a := req.AuthFields()
	ts := time.Now().UnixMilli()
	nonce := identity.NewNonce(nil)
	a.TS, a.Nonce = &ts, &nonce
	sig := id.SignBase64(regmsg.CanonicalV2(req))
	a.Signature = &sig
	return req
}

func replyType(m map[string]json.RawMessage) string {
	var s string
	_ = json.Unmarshal(m["type"], &s)
	if s == "error" {
		var code string
		_ = json.Unmarshal(m["code"], &code)
		return "error:" + code
	}
	return s
}

// The handlers are wired into the server: a signed register and heartbeat
// over TCP, /healthz counts the node online, a mutation replayed after a
// restart is refused (§14 item 17), and the sweeper removes an expired
// invite (item 45).
func TestRegistry_HandlersWired(t *testing.T) {
	dir := t.TempDir()
	args := []string{"-data-dir", dir, "-admin-token", "wired-admin-token-123", "-invite-ttl", "200ms", "-reap-interval", "50ms"}
	addr, _, stop := startServe(t, args...)
	w := dialWire(t, addr)
	id, err := identity.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	r := w.call(sign(&regmsg.Register{PublicKey: id.PublicKeyBase64()}, id))
	if replyType(r) != "register_ok" {
		t.Fatalf("register: %v", r)
	}
	var nodeID uint32
	_ = json.Unmarshal(r["node_id"], &nodeID)
	if got := replyType(w.call(sign(&regmsg.Heartbeat{NodeID: 4}, id))); got != "heartbeat_ok" || nodeID != 4 {
		t.Fatalf("heartbeat: %s (node %d)", got, nodeID)
	}
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&h)
	resp.Body.Close()
	if h["requests_total"].(float64) < 2 {
		t.Fatalf("healthz %v", h)
	}
	mut := sign(&regmsg.SetHostname{NodeID: 4, Hostname: "wired"}, id)
	if got := replyType(w.call(mut)); got != "set_hostname_ok" {
		t.Fatal(got)
	}
	tok := "wired-admin-token-123"
	create := &regmsg.CreateNetwork{NodeID: 4, Name: "wired-net", JoinRule: "invite"}
	create.AdminToken = &tok
	if got := replyType(w.call(create)); got != "create_network_ok" {
		t.Fatal(got)
	}
	id2, _ := identity.Generate(rand.Reader)
	if got := replyType(w.call(sign(&regmsg.Register{PublicKey: id2.PublicKeyBase64()}, id2))); got != "register_ok" {
		t.Fatal(got)
	}
	inv := &regmsg.InviteToNetwork{NetworkID: 1, TargetNodeID: 5}
	inv.AdminToken = &tok
	if got := replyType(w.call(inv)); got != "invite_to_network_ok" {
		t.Fatal(got)
	}
	if code := stop(); code != 0 {
		t.Fatalf("exit %d", code)
	}
	addr, logs, _ := startServe(t, args...)
	w = dialWire(t, addr)
	if got := replyType(w.call(mut)); got != "error:unauthenticated" {
		t.Fatalf("replay after restart: %s", got)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), `audit_action=invite.removed`) {
		if time.Now().After(deadline) {
			t.Fatalf("sweeper did not remove the expired invite:\n%s", logs)
		}
		time.Sleep(20 * time.Millisecond) // polling the log, bounded by deadline
	}
}

package registrye2e

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/identity"
	"github.com/pilot-go/pilot/internal/regclient"
	"github.com/pilot-go/pilot/internal/registry"
	"github.com/pilot-go/pilot/internal/registry/config"
	"github.com/pilot-go/pilot/internal/wire/regmsg"
)

// The fuzz targets drive an in-process registry built the way
// cmd/pilot-registry builds it (config.Load, registry.New, Run), with a
// small population (nodes 4 and 5, network 1) so that fuzzed requests
// reach the signed and role-gated paths. Nothing an attacker without keys
// or tokens sends may crash it, get an `internal` reply, leak the admin
// token, or change its state: the audit chain head (every state change
// appends to it, §9.1) must be the same before and after each input.

type fuzzEnv struct {
	addr  string
	c     *regclient.Client
	nodes []Node
	dir   string
	stop  func()
}

var (
	fuzzOnce sync.Once
	fuzzE    *fuzzEnv
	fuzzErr  error
)

// fuzzRegistry starts the shared in-process registry on first use; it
// lives until the test binary exits (cleanupFuzz, from TestMain).
func fuzzRegistry(tb testing.TB) *fuzzEnv {
	fuzzOnce.Do(func() { fuzzE, fuzzErr = startFuzzRegistry() })
	if fuzzErr != nil {
		tb.Fatal(fuzzErr)
	}
	return fuzzE
}

func startFuzzRegistry() (*fuzzEnv, error) {
	dir, err := os.MkdirTemp("", "pilot-registry-fuzz-")
	if err != nil {
		return nil, err
	}
	cfg, _, err := config.Load([]string{"-data-dir", dir, "-admin-token", adminToken, "-rate-limit", "off",
		"-frame-timeout", "2s", "-log-format", "json"}, func(string) string { return "" })
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	reg, err := registry.New(ctx, cfg, registry.Options{Listener: ln, AuditWriter: io.Discard})
	if err != nil {
		cancel()
		return nil, err
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = reg.Run(ctx) }()
	<-reg.Server().Ready()
	env := &fuzzEnv{addr: ln.Addr().String(), dir: dir}
	env.stop = func() { cancel(); <-done; os.RemoveAll(dir) }
	if env.c, err = NewClient(env.addr, 20*time.Second); err != nil {
		return nil, err
	}
	// Deterministic keys, so seeds can carry their node IDs and keys.
	for i := range 2 {
		id, _ := identity.FromSeed(fuzzSeed(byte(i)))
		n, err := RegisterNode(ctx, env.c, id, "")
		if err != nil {
			return nil, err
		}
		env.nodes = append(env.nodes, n)
	}
	var rep regmsg.CreateNetworkOK
	req := &regmsg.CreateNetwork{NodeID: env.nodes[0].ID, Name: "fuzz-net", JoinRule: "token", Token: "fuzz-join",
		NetworkAdminToken: "fuzz-network-admin-token"}
	if err := env.c.Call(ctx, req, &rep, regclient.Unsigned(), tok()); err != nil {
		return nil, err
	}
	return env, nil
}

func fuzzSeed(b byte) []byte {
	s := make([]byte, 32)
	s[0] = b
	return s
}

func cleanupFuzz() {
	if fuzzE != nil {
		fuzzE.stop()
	}
}

// head returns the audit chain head.
func (e *fuzzEnv) head(tb testing.TB) string {
	seq, h, err := AuditHead(context.Background(), e.c, adminToken)
	if err != nil {
		tb.Fatalf("get_audit_log: %v", err)
	}
	return fmt.Sprint(seq, " ", h)
}

// checkReply fails for a reply a fuzzed request must never get.
func checkReply(tb testing.TB, body []byte) {
	tb.Helper()
	if len(body) > regmsg.MaxFrame {
		tb.Fatalf("reply of %d bytes", len(body))
	}
	r, err := ParseReply(body)
	if err != nil {
		tb.Fatalf("malformed reply %.300q: %v", body, err)
	}
	if strings.Contains(string(body), adminToken) || strings.Contains(string(body), "fuzz-network-admin-token") {
		tb.Fatalf("reply leaks a token: %s", body)
	}
	if r.Type == "error" {
		if r.Code == regmsg.CodeInternal || !r.Code.Valid() || r.Msg == "" {
			tb.Fatalf("error reply %s", body)
		}
		return
	}
	if !strings.HasSuffix(r.Type, "_ok") {
		tb.Fatalf("reply type %q", r.Type)
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil || m["error"] != nil {
		tb.Fatalf("success reply with an error key: %s", body)
	}
}

// fuzzSeeds are well-shaped requests of many types that must all fail
// authentication or authorization: signed by the wrong key, stale, or
// carrying wrong tokens, plus malformed bodies.
func fuzzSeeds(tb testing.TB) [][]byte {
	e := fuzzRegistry(tb)
	n4, n5 := e.nodes[0], e.nodes[1]
	stale := time.Now().Add(-10 * time.Minute)
	wrong, _ := identity.FromSeed(fuzzSeed(99))
	sign := func(req regmsg.Request, id *identity.Identity, at time.Time) []byte {
		Sign(req, id, at, nil)
		b, err := regmsg.MarshalRequest(req)
		if err != nil {
			tb.Fatal(err)
		}
		return b
	}
	net1 := addr.NetworkID(1)
	bad := "bad-token"
	seeds := [][]byte{
		sign(&regmsg.Heartbeat{NodeID: n4.ID}, wrong, time.Now()),
		sign(&regmsg.Heartbeat{NodeID: n4.ID}, n4.Key, stale),
		sign(&regmsg.SetHostname{NodeID: n4.ID, Hostname: "fz"}, n5.Key, time.Now()),
		sign(&regmsg.SetTags{NodeID: n5.ID, Tags: []string{"a", "#b"}}, n5.Key, stale),
		sign(&regmsg.Register{PublicKey: n4.Key.PublicKeyBase64(), Hostname: "fz"}, n4.Key, stale),
		sign(&regmsg.Register{PublicKey: n5.Key.PublicKeyBase64()}, wrong, time.Now()),
		sign(&regmsg.JoinNetwork{NodeID: n5.ID, NetworkID: net1, Token: "fuzz-join"}, wrong, time.Now()),
		sign(&regmsg.KickMember{MemberTarget: regmsg.MemberTarget{NodeID: n5.ID, NetworkID: net1, TargetNodeID: n4.ID}}, n5.Key, time.Now()),
		sign(&regmsg.DeleteNetwork{NetworkRef: regmsg.NetworkRef{NodeID: n5.ID, NetworkID: net1}}, n5.Key, time.Now()),
		sign(&regmsg.CreateNetwork{NodeID: n5.ID, Name: "x", JoinRule: "open"}, n5.Key, time.Now()),
		sign(&regmsg.ReportTrust{TrustPair: regmsg.TrustPair{NodeID: n4.ID, PeerID: n5.ID}}, n4.Key, stale),
		sign(&regmsg.RequestHandshake{FromNodeID: n5.ID, ToNodeID: n4.ID, Justification: "hi"}, wrong, time.Now()),
		sign(&regmsg.PollHandshakes{NodeID: n4.ID}, n4.Key, stale),
		sign(&regmsg.SetNetworkPolicy{NodeID: n5.ID, NetworkID: net1, Description: &bad}, n5.Key, time.Now()),
		sign(&regmsg.GetAuditLog{NodeID: n5.ID, NetworkID: &net1}, n5.Key, time.Now()),
		sign(&regmsg.InviteToNetwork{InviterID: n5.ID, NetworkID: net1, TargetNodeID: n4.ID}, n5.Key, time.Now()),
		[]byte(`{"type":"lookup","node_id":4}`),
		[]byte(`{"type":"resolve","node_id":4,"requester_id":5}`),
		[]byte(`{"type":"set_visibility","node_id":4,"public":true,"admin_token":"` + bad + `"}`),
		[]byte(`{"type":"deregister","node_id":4,"admin_token":"fuzz-network-admin-token"}`),
		[]byte(`{"type":"update_polo_score","node_id":4,"delta":5}`),
		[]byte(`{"type":"beacon_register","beacon_id":1,"addr":"1.2.3.4:5"}`),
		[]byte(`{"type":"list_nodes","network_id":0}`),
		[]byte(`{"type":"get_key_info","node_id":4,"node_id":5}`),
		[]byte(`{"type":"heartbeat","node_id":null}`),
		[]byte(`{"type":"rotate_key","node_id":4,"new_public_key":"AAAA","ts":1,"nonce":"x","signature":"y"}`),
		[]byte(`{"type":"subscribe_replication"}`),
		[]byte(`[1,2,3]`), []byte(`null`), []byte(``), []byte("{\"type\":\"lookup\",\"node_id\":1e3}"),
	}
	return seeds
}

// FuzzRegistryRequestBody frames each input as one request body, followed
// on the same connection by a probe request; the registry answers both,
// never with `internal`, and its audit head does not move.
func FuzzRegistryRequestBody(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if len(body) > regmsg.MaxFrame {
			return
		}
		e := fuzzRegistry(t)
		before := e.head(t)
		frame, _ := regmsg.AppendFrame(nil, body)
		probe, err := Frame(&regmsg.GetKeyInfo{NodeID: e.nodes[0].ID})
		if err != nil {
			t.Fatal(err)
		}
		conn, err := net.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := conn.Write(append(frame, probe...)); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(conn)
		for i := range 2 {
			rep, err := regmsg.ReadFrame(br, nil)
			if err != nil {
				t.Fatalf("reply %d to %.200q: %v", i+1, body, err)
			}
			checkReply(t, rep)
			if i == 1 && !strings.Contains(string(rep), `"get_key_info_ok"`) {
				t.Fatalf("probe after %.200q got %s", body, rep)
			}
		}
		if after := e.head(t); after != before {
			t.Fatalf("state changed by %.300q", body)
		}
	})
}

// FuzzRegistryRawStream writes each input as raw bytes on a new connection
// (any first byte: frames, HTTP, TLS, junk; truncated and oversized
// frames) and half-closes it; every reply frame is well formed, the
// registry then still serves, and its audit head does not move.
func FuzzRegistryRawStream(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		fr, _ := regmsg.AppendFrame(nil, s)
		f.Add(fr)
		f.Add(append(fr, fr[:len(fr)/2]...))
	}
	f.Add([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"))
	f.Add([]byte("POST / HTTP/1.1\r\n\r\n"))
	f.Add([]byte("PILT\x00\x00"))
	f.Add([]byte{0x16, 3, 1, 0, 5})
	f.Add(binary.BigEndian.AppendUint32(nil, regmsg.MaxFrame+1))
	f.Add(binary.BigEndian.AppendUint32(nil, 10))
	f.Fuzz(func(t *testing.T, data []byte) {
		e := fuzzRegistry(t)
		before := e.head(t)
		conn, err := net.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := conn.Write(data); err != nil && !isReset(err) {
			t.Fatal(err)
		}
		conn.(*net.TCPConn).CloseWrite()
		if len(data) > 0 && data[0] == 0 {
			br := bufio.NewReader(conn)
			for {
				rep, err := regmsg.ReadFrame(br, nil)
				if errors.Is(err, io.EOF) || isReset(err) {
					break
				}
				if err != nil {
					t.Fatalf("reading replies to %.200q: %v", data, err)
				}
				checkReply(t, rep)
			}
		} else if _, err := io.Copy(io.Discard, conn); err != nil && !isReset(err) {
			t.Fatalf("reading the answer to %.200q: %v", data, err)
		}
		if after := e.head(t); after != before {
			t.Fatalf("state changed by %.300q", data)
		}
	})
}

func isReset(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "connection reset") || strings.Contains(err.Error(), "broken pipe"))
}

package handlers

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/identity"
	"github.com/pilot-go/pilot/internal/registry/auditlog"
	"github.com/pilot-go/pilot/internal/registry/metrics"
	"github.com/pilot-go/pilot/internal/registry/ratelimit"
	"github.com/pilot-go/pilot/internal/registry/server"
	"github.com/pilot-go/pilot/internal/registry/store"
	"github.com/pilot-go/pilot/internal/registry/store/sqlite"
	"github.com/pilot-go/pilot/internal/wire/regmsg"
)

const globalToken = "global-admin-token-0123456789"

// clock is an injectable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// env is a handler over a real SQLite store in a temporary directory.
type env struct {
	t      testing.TB
	dir    string
	st     store.Store
	h      *Handler
	clk    *clock
	audit  *syncBuf
	m      *metrics.Metrics
	lim    *ratelimit.Limiter
	cfg    Config
	ip     netip.Addr
	rateOn bool
	// template, when set, is a closed store directory copied before open.
	template string
}

type option func(*env)

func withLegacy(e *env)     { e.cfg.LegacyV1 = true }
func withRateLimits(e *env) { e.rateOn = true }

func newEnv(t testing.TB, opts ...option) *env {
	t.Helper()
	e := &env{t: t, dir: testDir(t), clk: &clock{t: time.Date(2026, 3, 27, 10, 0, 0, 0, time.UTC)},
		audit: &syncBuf{}, m: metrics.New(), ip: netip.MustParseAddr("192.0.2.10")}
	e.cfg = Config{AdminToken: globalToken, Version: "1.5.0", BeaconToken: "beacon-secret"}
	for _, o := range opts {
		o(e)
	}
	lim, err := ratelimit.New(ratelimit.Config{Disabled: !e.rateOn, Now: e.clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	e.lim = lim
	if e.template != "" {
		if err := os.CopyFS(e.dir, os.DirFS(e.template)); err != nil {
			t.Fatal(err)
		}
		_ = os.Remove(filepath.Join(e.dir, "registry.lock"))
	}
	e.open()
	t.Cleanup(func() { _ = e.st.Close() })
	return e
}

// testDir is a temporary store directory, on tmpfs when the machine has
// one: the handlers' tests exercise logic, not fsync latency (durability
// is the store's tests' business).
func testDir(t testing.TB) string {
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		if dir, err := os.MkdirTemp("/dev/shm", "pilot-handlers-"); err == nil {
			t.Cleanup(func() { _ = os.RemoveAll(dir) })
			return dir
		}
	}
	return t.TempDir()
}

func (e *env) open() {
	e.t.Helper()
	st, err := sqlite.Open(context.Background(), sqlite.Options{DataDir: e.dir, Now: e.clk.Now})
	if err != nil {
		e.t.Fatal(err)
	}
	al, err := auditlog.New(auditlog.Config{Format: "json", Writer: e.audit, Counter: e.m})
	if err != nil {
		e.t.Fatal(err)
	}
	cfg := e.cfg
	cfg.Store, cfg.Metrics, cfg.Limiter, cfg.Audit, cfg.Now = st, e.m, e.lim, al, e.clk.Now
	h, err := New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	e.st, e.h = st, h
}

// reopen closes the store and builds a new handler on it (a restart: the
// in-memory nonce cache is lost).
func (e *env) reopen() {
	e.t.Helper()
	if err := e.st.Close(); err != nil {
		e.t.Fatal(err)
	}
	e.open()
}

// result is a decoded reply.
type result struct {
	typ    string
	body   []byte
	fields map[string]json.RawMessage
	err    *regmsg.Error
}

func (r result) code() regmsg.Code {
	if r.err == nil {
		return ""
	}
	return r.err.Code
}

func (r result) get(t testing.TB, key string, v any) {
	t.Helper()
	raw, ok := r.fields[key]
	if !ok {
		t.Fatalf("reply %s has no %q: %s", r.typ, key, r.body)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("reply field %q: %v", key, err)
	}
}

func (r result) has(key string) bool { _, ok := r.fields[key]; return ok }

func (r result) int(t testing.TB, key string) int64 {
	t.Helper()
	var v int64
	r.get(t, key, &v)
	return v
}

// sendRaw handles a raw body and checks the envelope rules of §4.1
// (conformance item 12, 14) on every reply.
func (e *env) sendRaw(body []byte) result {
	e.t.Helper()
	resp := e.h.Handle(context.Background(), &server.Request{Body: body, RemoteIP: e.ip,
		Remote: netip.AddrPortFrom(e.ip, 40000)})
	if len(resp.Body) > server.MaxFrame {
		e.t.Fatalf("reply of %d bytes exceeds the frame cap", len(resp.Body))
	}
	var r result
	r.body = resp.Body
	if err := json.Unmarshal(resp.Body, &r.fields); err != nil {
		e.t.Fatalf("reply is not a JSON object: %s", resp.Body)
	}
	if err := json.Unmarshal(r.fields["type"], &r.typ); err != nil {
		e.t.Fatalf("reply has no type: %s", resp.Body)
	}
	if r.typ == "error" {
		var er regmsg.ErrorReply
		if err := json.Unmarshal(resp.Body, &er); err != nil || er.Message == "" || !er.Code.Valid() {
			e.t.Fatalf("malformed error reply: %s", resp.Body)
		}
		if string(er.Code) != resp.Code {
			e.t.Fatalf("Response.Code %q, reply code %q", resp.Code, er.Code)
		}
		if strings.EqualFold(er.Message, "request failed") {
			e.t.Fatalf("generic error text: %s", resp.Body)
		}
		r.err = &regmsg.Error{Code: er.Code, Message: er.Message, RetryAfterMS: er.RetryAfterMS}
		e.checkNoSecrets(body, er.Message)
	} else {
		if r.has("error") {
			e.t.Fatalf("success reply with an error key: %s", resp.Body)
		}
		if resp.Code != "" {
			e.t.Fatalf("success reply with Response.Code %q", resp.Code)
		}
	}
	return r
}

// checkNoSecrets: an error text never contains a token, nonce or signature.
func (e *env) checkNoSecrets(body []byte, msg string) {
	var m map[string]any
	if json.Unmarshal(body, &m) != nil {
		return
	}
	for _, k := range []string{"admin_token", "nonce", "signature", "token", "network_admin_token", "new_key_signature"} {
		if v, ok := m[k].(string); ok && len(v) >= 8 && strings.Contains(msg, v) {
			e.t.Fatalf("error message leaks %s: %q", k, msg)
		}
	}
}

// send marshals and handles req as is.
func (e *env) send(req regmsg.Request) result {
	e.t.Helper()
	return e.sendRaw(regmsg.AppendRequest(nil, req))
}

// sign fills ts, nonce and signature of req with id's key (v2).
func (e *env) sign(req regmsg.Request, id *identity.Identity) regmsg.Request {
	a := req.AuthFields()
	ts := e.clk.Now().UnixMilli()
	nonce := identity.NewNonce(nil)
	a.TS, a.Nonce = &ts, &nonce
	if r, ok := req.(*regmsg.RotateKey); ok && r.NewKeySignature == nil {
		placeholder := ""
		r.NewKeySignature = &placeholder
	}
	sig := id.SignBase64(regmsg.CanonicalV2(req))
	a.Signature = &sig
	return req
}

// signed signs req with id and sends it.
func (e *env) signed(req regmsg.Request, id *identity.Identity) result {
	e.t.Helper()
	return e.send(e.sign(req, id))
}

func tok(req regmsg.Request, token string) regmsg.Request {
	req.AuthFields().AdminToken = &token
	return req
}

// node is a registered test node.
type node struct {
	id *identity.Identity
	ID addr.NodeID
}

func newIdentity(t testing.TB) *identity.Identity {
	t.Helper()
	id, err := identity.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// register registers a fresh identity and returns it.
func (e *env) register(mods ...func(*regmsg.Register)) *node {
	e.t.Helper()
	id := newIdentity(e.t)
	req := &regmsg.Register{PublicKey: id.PublicKeyBase64(), ListenAddr: "0.0.0.0:4000", Version: "1.5.0"}
	for _, m := range mods {
		m(req)
	}
	r := e.signed(req, id)
	e.ok(r, "register")
	return &node{id: id, ID: addr.NodeID(r.int(e.t, "node_id"))}
}

// ok fails unless r is the success reply of typ.
func (e *env) ok(r result, typ string) {
	e.t.Helper()
	if r.typ != typ+"_ok" {
		e.t.Fatalf("want %s_ok, got %s", typ, r.body)
	}
}

// fail fails unless r is an error with code.
func (e *env) fail(r result, code regmsg.Code) {
	e.t.Helper()
	if r.code() != code {
		e.t.Fatalf("want %s, got %s", code, r.body)
	}
}

// head returns the audit head seq.
func (e *env) head() uint64 {
	e.t.Helper()
	var seq uint64
	if err := e.st.View(context.Background(), func(tx store.ReadTx) error {
		var err error
		seq, _, err = tx.AuditHead()
		return err
	}); err != nil {
		e.t.Fatal(err)
	}
	return seq
}

// lastAudit returns the newest audit entry.
func (e *env) lastAudit() store.AuditEntry {
	e.t.Helper()
	var out []store.AuditEntry
	if err := e.st.View(context.Background(), func(tx store.ReadTx) error {
		var err error
		out, err = tx.QueryAudit(store.AuditFilter{Limit: 1})
		return err
	}); err != nil {
		e.t.Fatal(err)
	}
	if len(out) == 0 {
		e.t.Fatal("no audit entry")
	}
	return out[0]
}

// auditSince returns the entries after seq, oldest first.
func (e *env) auditSince(seq uint64) []store.AuditEntry {
	e.t.Helper()
	var out []store.AuditEntry
	if err := e.st.View(context.Background(), func(tx store.ReadTx) error {
		all, err := tx.QueryAudit(store.AuditFilter{})
		for i := len(all) - 1; i >= 0; i-- {
			if all[i].Seq > seq {
				out = append(out, all[i])
			}
		}
		return err
	}); err != nil {
		e.t.Fatal(err)
	}
	return out
}

// network creates a network owned by owner with the global token.
func (e *env) network(owner *node, name, rule string, mods ...func(*regmsg.CreateNetwork)) addr.NetworkID {
	e.t.Helper()
	req := &regmsg.CreateNetwork{NodeID: owner.ID, Name: name, JoinRule: rule}
	if rule == "token" {
		req.Token = "join-secret"
	}
	for _, m := range mods {
		m(req)
	}
	r := e.signed(tok(req, globalToken), owner.id)
	e.ok(r, "create_network")
	return addr.NetworkID(r.int(e.t, "network_id"))
}

// join makes n a member of an open network.
func (e *env) join(n *node, nw addr.NetworkID) {
	e.t.Helper()
	e.ok(e.signed(&regmsg.JoinNetwork{NodeID: n.ID, NetworkID: nw}, n.id), "join_network")
}

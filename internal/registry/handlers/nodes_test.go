package handlers

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/wire/regmsg"
)

func TestRegistry_C12_EnvelopeAndCodes(t *testing.T) {
	e := newEnv(t)
	e.fail(e.sendRaw(nil), regmsg.CodeInvalidArgument)
	e.fail(e.sendRaw([]byte(`[1]`)), regmsg.CodeInvalidArgument)
	e.fail(e.sendRaw([]byte(`{"type":"set_expr_policy"}`)), regmsg.CodeInvalidArgument)
	e.fail(e.sendRaw([]byte(`{"type":"subscribe_replication"}`)), regmsg.CodeFailedPrecondition)
	n := e.register()
	e.ok(e.signed(&regmsg.Heartbeat{NodeID: n.ID}, n.id), "heartbeat")
}

func TestRegistry_C13_ShapeBeforeAuth(t *testing.T) {
	e := newEnv(t)
	for _, body := range []string{
		`{"type":"lookup","node_id":"5"}`, `{"type":"lookup","node_id":5.5}`,
		`{"type":"lookup","node_id":-1}`, `{"type":"join_network","node_id":5,"network_id":70000}`,
		`{"type":"lookup","node_id":5,"node_id":5}`, `{"type":"lookup","node_id":null}`,
	} {
		r := e.sendRaw([]byte(body))
		e.fail(r, regmsg.CodeInvalidArgument)
		if !strings.Contains(r.err.Message, "node_id") && !strings.Contains(r.err.Message, "network_id") && !strings.Contains(r.err.Message, "duplicate") {
			t.Errorf("%s: message does not name the field: %q", body, r.err.Message)
		}
	}
	// Unsigned heartbeat without node_id: not a shape error.
	e.fail(e.sendRaw([]byte(`{"type":"heartbeat"}`)), regmsg.CodeUnauthenticated)
	// Node_ID is an unknown field, ignored.
	e.fail(e.sendRaw([]byte(`{"type":"heartbeat","Node_ID":5}`)), regmsg.CodeUnauthenticated)
	// null tags accepted in set_tags.
	n := e.register()
	r := e.signed(&regmsg.SetTags{NodeID: n.ID}, n.id)
	e.ok(r, "set_tags")
	// A correctly signed request missing a required bool is invalid_argument.
	req := e.sign(&regmsg.SetVisibility{NodeID: n.ID, Public: true}, n.id)
	body := strings.Replace(string(regmsg.AppendRequest(nil, req)), `"public":true,`, ``, 1)
	e.fail(e.sendRaw([]byte(body)), regmsg.CodeInvalidArgument)
}

func TestRegistry_C15_SignatureCoversEverything(t *testing.T) {
	e := newEnv(t)
	n := e.register()
	other := e.register()
	good := e.sign(&regmsg.SetHostname{NodeID: n.ID, Hostname: "alpha"}, n.id).(*regmsg.SetHostname)
	tamper := []func(r *regmsg.SetHostname){
		func(r *regmsg.SetHostname) { r.Hostname = "beta" },
		func(r *regmsg.SetHostname) { *r.TS++ },
		func(r *regmsg.SetHostname) { s := identityNonceFlip(*r.Nonce); r.Nonce = &s },
		func(r *regmsg.SetHostname) { r.NodeID = other.ID },
	}
	for i, f := range tamper {
		c := *good
		ts, nonce := *good.TS, *good.Nonce
		c.TS, c.Nonce = &ts, &nonce
		f(&c)
		e.fail(e.send(&c), regmsg.CodeUnauthenticated)
		_ = i
	}
	e.ok(e.send(good), "set_hostname")
}

// identityNonceFlip returns another valid nonce.
func identityNonceFlip(s string) string {
	if s[0] == 'A' {
		return "B" + s[1:]
	}
	return "A" + s[1:]
}

func TestRegistry_C16_ClockSkew(t *testing.T) {
	e := newEnv(t)
	n := e.register()
	for _, c := range []struct {
		off  time.Duration
		code regmsg.Code
	}{{61 * time.Second, regmsg.CodeUnauthenticated}, {-61 * time.Second, regmsg.CodeUnauthenticated},
		{59 * time.Second, ""}, {-59 * time.Second, ""}} {
		req := e.sign(&regmsg.Heartbeat{NodeID: n.ID}, n.id)
		_ = req
		// Re-sign with a shifted ts.
		e.clk.Add(c.off)
		req = e.sign(&regmsg.Heartbeat{NodeID: n.ID}, n.id)
		e.clk.Add(-c.off)
		r := e.send(req)
		if r.code() != c.code {
			t.Fatalf("offset %v: got %s", c.off, r.body)
		}
		if c.code != "" && !strings.Contains(r.err.Message, "NTP") {
			t.Errorf("skew message does not suggest NTP: %q", r.err.Message)
		}
	}
}

func TestRegistry_C17_ReplayRefusedAcrossRestart(t *testing.T) {
	e := newEnv(t)
	n := e.register()
	read := e.sign(&regmsg.Heartbeat{NodeID: n.ID}, n.id)
	e.ok(e.send(read), "heartbeat")
	e.fail(e.send(read), regmsg.CodeUnauthenticated)
	mut := e.sign(&regmsg.SetHostname{NodeID: n.ID, Hostname: "replayed"}, n.id)
	e.ok(e.send(mut), "set_hostname")
	e.fail(e.send(mut), regmsg.CodeUnauthenticated)
	e.reopen()
	r := e.send(mut)
	e.fail(r, regmsg.CodeUnauthenticated)
	if !strings.Contains(r.err.Message, "replayed") {
		t.Fatalf("message: %q", r.err.Message)
	}
	// A fresh nonce is fine.
	e.ok(e.signed(&regmsg.SetHostname{NodeID: n.ID, Hostname: "replayed"}, n.id), "set_hostname")
}

func TestRegistry_C18_V1RefusedByDefault(t *testing.T) {
	e := newEnv(t)
	n := e.register()
	sig := n.id.SignBase64([]byte("heartbeat:" + itoa(n.ID)))
	r := e.send(&regmsg.Heartbeat{NodeID: n.ID, Auth: regmsg.Auth{Signature: &sig}})
	e.fail(r, regmsg.CodeUnauthenticated)
	if !strings.Contains(r.err.Message, "-legacy-v1-auth") {
		t.Fatalf("message: %q", r.err.Message)
	}
}

func itoa[T ~uint32 | ~uint16](v T) string { return strconv.FormatUint(uint64(v), 10) }

func fmtUint(v uint64) string { return strconv.FormatUint(v, 10) }

func TestRegistry_C19_LegacyV1Accepted(t *testing.T) {
	e := newEnv(t, withLegacy)
	a := e.register()
	b := e.register()
	nw := e.network(a, "legacy-net", "open")
	v1 := func(req regmsg.Request, id interface{ SignBase64([]byte) string }) result {
		ch, ok := regmsg.V1Challenge(req)
		if !ok {
			t.Fatalf("%s has no challenge", req.Type())
		}
		sig := id.SignBase64([]byte(ch))
		req.AuthFields().Signature = &sig
		return e.send(req)
	}
	e.ok(v1(&regmsg.Heartbeat{NodeID: a.ID}, a.id), "heartbeat")
	e.ok(v1(&regmsg.SetVisibility{NodeID: a.ID, Public: true}, a.id), "set_visibility")
	e.ok(v1(&regmsg.JoinNetwork{NodeID: b.ID, NetworkID: nw}, b.id), "join_network")
	e.ok(v1(&regmsg.ReportTrust{TrustPair: regmsg.TrustPair{NodeID: a.ID, PeerID: b.ID}}, a.id), "report_trust")
	e.ok(v1(&regmsg.Resolve{RequesterID: b.ID, NodeID: a.ID}, b.id), "resolve")
	// A v1 signature by the wrong key fails.
	e.fail(v1(&regmsg.Heartbeat{NodeID: a.ID}, b.id), regmsg.CodeUnauthenticated)
	// Legacy unsigned register is accepted; unsigned role management never is.
	id := newIdentity(t)
	e.ok(e.send(&regmsg.Register{PublicKey: id.PublicKeyBase64()}), "register")
	e.fail(e.send(&regmsg.PromoteMember{MemberTarget: regmsg.MemberTarget{NodeID: a.ID, NetworkID: nw, TargetNodeID: b.ID}}), regmsg.CodeUnauthenticated)
	if got := counter(t, e, "pilot_legacy_auth_total"); got < 5 {
		t.Fatalf("pilot_legacy_auth_total = %v", got)
	}
}

func TestRegistry_C20_RegisterNeedsProof(t *testing.T) {
	e := newEnv(t)
	id := newIdentity(t)
	e.fail(e.send(&regmsg.Register{PublicKey: id.PublicKeyBase64()}), regmsg.CodeUnauthenticated)
	other := newIdentity(t)
	e.fail(e.signed(&regmsg.Register{PublicKey: id.PublicKeyBase64()}, other), regmsg.CodeUnauthenticated)
	if e.head() != 0 {
		t.Fatal("a refused register was audited")
	}
}

func TestRegistry_C21_RegisterIdentity(t *testing.T) {
	e := newEnv(t)
	a := e.register(func(r *regmsg.Register) { r.Owner = "ops@example.com"; r.Hostname = "alpha" })
	if a.ID != 4 {
		t.Fatalf("first node ID %d, want 4", a.ID)
	}
	r := e.signed(&regmsg.Register{PublicKey: a.id.PublicKeyBase64(), Owner: "other@example.com"}, a.id)
	e.ok(r, "register")
	if addr.NodeID(r.int(t, "node_id")) != a.ID {
		t.Fatal("known key got a new ID")
	}
	var host string
	r.get(t, "hostname", &host)
	if host != "alpha" {
		t.Fatalf("returning node lost its hostname: %s", r.body)
	}
	b := e.register(func(r *regmsg.Register) { r.Owner = "ops@example.com" })
	if b.ID == a.ID {
		t.Fatal("owner selected an identity")
	}
	// Hostname errors do not fail the registration.
	for _, h := range []string{"Bad_Name", "localhost", "alpha"} {
		id := newIdentity(t)
		r := e.signed(&regmsg.Register{PublicKey: id.PublicKeyBase64(), Hostname: h}, id)
		e.ok(r, "register")
		if !r.has("hostname_error") || r.has("hostname") {
			t.Fatalf("hostname %q: %s", h, r.body)
		}
	}
	var versions []string
	r.get(t, "auth_versions", &versions)
	if len(versions) != 1 || versions[0] != "v2" || r.int(t, "heartbeat_interval_s") != 30 {
		t.Fatalf("reply: %s", r.body)
	}
	// deregister: unknown and repeated are not_found.
	e.fail(e.send(tok(&regmsg.Deregister{NodeID: 999}, globalToken)), regmsg.CodeNotFound)
	e.ok(e.signed(&regmsg.Deregister{NodeID: b.ID}, b.id), "deregister")
	e.fail(e.signed(&regmsg.Deregister{NodeID: b.ID}, b.id), regmsg.CodeNotFound)
	// Registering the tombstone's key reclaims the ID with a fresh record.
	r = e.signed(&regmsg.Register{PublicKey: b.id.PublicKeyBase64()}, b.id)
	e.ok(r, "register")
	if addr.NodeID(r.int(t, "node_id")) != b.ID {
		t.Fatal("tombstone not reclaimed")
	}
	if ev := e.lastAudit(); ev.Action != regmsg.ActionNodeRegistered || Details(ev.Attrs) != "node_id="+itoa(b.ID)+", mode=reclaimed_identity" {
		t.Fatalf("audit: %s %s", ev.Action, Details(ev.Attrs))
	}
}

func TestRegistry_C22_ExpiredKey(t *testing.T) {
	e := newEnv(t)
	n := e.register()
	exp := e.clk.Now().Add(time.Hour).Format(time.RFC3339)
	e.ok(e.signed(&regmsg.SetKeyExpiry{NodeID: n.ID, ExpiresAt: exp}, n.id), "set_key_expiry")
	r := e.signed(&regmsg.Heartbeat{NodeID: n.ID}, n.id)
	e.ok(r, "heartbeat")
	var warn bool
	r.get(t, "key_expiry_warning", &warn)
	if !warn || !r.has("key_expires_at") {
		t.Fatalf("no expiry warning: %s", r.body)
	}
	e.clk.Add(2 * time.Hour)
	newKey := newIdentity(t)
	for _, req := range []regmsg.Request{
		&regmsg.Heartbeat{NodeID: n.ID},
		&regmsg.SetHostname{NodeID: n.ID, Hostname: "late"},
		e.rotateReq(n, newKey),
		&regmsg.Register{PublicKey: n.id.PublicKeyBase64()},
	} {
		var r result
		if rk, ok := req.(*regmsg.RotateKey); ok {
			r = e.send(rk)
		} else {
			r = e.signed(req, n.id)
		}
		e.fail(r, regmsg.CodeUnauthenticated)
		if !strings.Contains(r.err.Message, "key expired at") {
			t.Fatalf("%s: %q", req.Type(), r.err.Message)
		}
	}
	// The operator clears the expiry with the global token.
	e.ok(e.send(tok(&regmsg.SetKeyExpiry{NodeID: n.ID, ExpiresAt: "never"}, globalToken)), "set_key_expiry")
	e.ok(e.signed(&regmsg.Heartbeat{NodeID: n.ID}, n.id), "heartbeat")
}

// rotateReq builds a signed rotate_key of n to newKey with the new-key proof.
func (e *env) rotateReq(n *node, newKey interface {
	PublicKeyBase64() string
	SignBase64([]byte) string
}) *regmsg.RotateKey {
	req := &regmsg.RotateKey{NodeID: n.ID, NewPublicKey: newKey.PublicKeyBase64()}
	e.sign(req, n.id)
	nks := newKey.SignBase64(regmsg.CanonicalV2(req))
	req.NewKeySignature = &nks
	return req
}

func TestRegistry_C23_RotateKey(t *testing.T) {
	e := newEnv(t)
	n := e.register()
	newKey := newIdentity(t)
	// Missing new_key_signature: invalid_argument.
	req := &regmsg.RotateKey{NodeID: n.ID, NewPublicKey: newKey.PublicKeyBase64()}
	e.sign(req, n.id)
	req.NewKeySignature = nil
	e.fail(e.send(req), regmsg.CodeInvalidArgument)
	// A new-key signature that does not verify: unauthenticated.
	bad := e.rotateReq(n, newKey)
	wrong := n.id.SignBase64(regmsg.CanonicalV2(bad))
	bad.NewKeySignature = &wrong
	e.fail(e.send(bad), regmsg.CodeUnauthenticated)
	r := e.send(e.rotateReq(n, newKey))
	e.ok(r, "rotate_key")
	if r.int(t, "rotate_count") != 1 {
		t.Fatalf("reply: %s", r.body)
	}
	if ev := e.lastAudit(); ev.Action != regmsg.ActionKeyRotated {
		t.Fatalf("audit %s", ev.Action)
	}
	// The old key can neither sign nor register.
	e.fail(e.signed(&regmsg.Heartbeat{NodeID: n.ID}, n.id), regmsg.CodeUnauthenticated)
	r = e.signed(&regmsg.Register{PublicKey: n.id.PublicKeyBase64()}, n.id)
	e.fail(r, regmsg.CodeUnauthenticated)
	if !strings.Contains(r.err.Message, "replaced on") {
		t.Fatalf("message %q", r.err.Message)
	}
	e.ok(e.signed(&regmsg.Heartbeat{NodeID: n.ID}, newKey), "heartbeat")
	// get_key_info reflects the rotation.
	r = e.send(&regmsg.GetKeyInfo{NodeID: n.ID})
	e.ok(r, "get_key_info")
	if r.int(t, "rotate_count") != 1 || !r.has("rotated_at") {
		t.Fatalf("key info %s", r.body)
	}
}

func TestRegistry_C24_ReassignKey(t *testing.T) {
	e := newEnv(t)
	n := e.register()
	newKey := newIdentity(t)
	req := func(token string) result {
		r := &regmsg.ReassignKey{NodeID: n.ID, NewPublicKey: newKey.PublicKeyBase64()}
		if token != "" {
			tok(r, token)
		}
		return e.signed(r, newKey)
	}
	e.fail(req(""), regmsg.CodePermissionDenied)
	e.fail(req("wrong-token-wrong-token"), regmsg.CodePermissionDenied)
	r := req(globalToken)
	e.ok(r, "reassign_key")
	ev := e.lastAudit()
	if ev.Action != regmsg.ActionKeyReassigned || ev.AuthVia != "global_token" || ev.ActorNodeID != 0 {
		t.Fatalf("audit %+v", ev)
	}
	e.ok(e.signed(&regmsg.Heartbeat{NodeID: n.ID}, newKey), "heartbeat")
	e.fail(e.signed(&regmsg.Heartbeat{NodeID: n.ID}, n.id), regmsg.CodeUnauthenticated)
	// A key bound to a live node cannot be reassigned.
	other := e.register()
	r = e.signed(tok(&regmsg.ReassignKey{NodeID: n.ID, NewPublicKey: other.id.PublicKeyBase64()}, globalToken), other.id)
	e.fail(r, regmsg.CodeAlreadyExists)
	// The target is checked before the key (§6.4 state rules): a node
	// that was never registered is not_found, whatever the key.
	r = e.signed(tok(&regmsg.ReassignKey{NodeID: 9999, NewPublicKey: other.id.PublicKeyBase64()}, globalToken), other.id)
	e.fail(r, regmsg.CodeNotFound)
}

func TestRegistry_C25_TokenNeverExcusesBadSignature(t *testing.T) {
	e := newEnv(t)
	n := e.register()
	other := e.register()
	// Valid global token, signature by the wrong key.
	e.fail(e.signed(tok(&regmsg.SetHostname{NodeID: n.ID, Hostname: "x1"}, globalToken), other.id), regmsg.CodeUnauthenticated)
	// Global token, no signature: authorized on the node's behalf.
	e.ok(e.send(tok(&regmsg.SetHostname{NodeID: n.ID, Hostname: "x1"}, globalToken)), "set_hostname")
	ev := e.lastAudit()
	if ev.Action != regmsg.ActionHostnameChanged || ev.AuthVia != "global_token" || ev.ActorNodeID != 0 {
		t.Fatalf("audit %+v", ev)
	}
	if got := Details(ev.Attrs); got != "node_id="+itoa(n.ID)+", hostname=x1, old_hostname=, new_hostname=x1" {
		t.Fatalf("details %q", got)
	}
}

func TestRegistry_C57_AnonymousLookup(t *testing.T) {
	e := newEnv(t)
	a := e.register(func(r *regmsg.Register) { r.Hostname = "private-a" })
	e.ok(e.signed(&regmsg.SetTags{NodeID: a.ID, Tags: []string{"gpu"}}, a.id), "set_tags")
	r := e.send(&regmsg.Lookup{NodeID: a.ID})
	e.ok(r, "lookup")
	var nets []int
	r.get(t, "networks", &nets)
	if r.has("real_addr") || r.has("hostname") || r.has("tags") || len(nets) != 1 || nets[0] != 0 || !r.has("public_key") {
		t.Fatalf("anonymous lookup of a private node: %s", r.body)
	}
	// The node itself sees everything.
	r = e.signed(&regmsg.Lookup{NodeID: a.ID, RequesterID: a.ID}, a.id)
	e.ok(r, "lookup")
	if !r.has("hostname") || !r.has("tags") {
		t.Fatalf("self lookup: %s", r.body)
	}
	e.fail(e.send(&regmsg.Lookup{NodeID: 999}), regmsg.CodeNotFound)
}

func TestRegistry_C56_ResolveRules(t *testing.T) {
	e := newEnv(t)
	a, b, c := e.register(), e.register(), e.register()
	e.fail(e.signed(&regmsg.Resolve{RequesterID: b.ID, NodeID: a.ID}, b.id), regmsg.CodePermissionDenied)
	nw := e.network(a, "shared", "open")
	e.join(b, nw)
	r := e.signed(&regmsg.Resolve{RequesterID: b.ID, NodeID: a.ID}, b.id)
	e.ok(r, "resolve")
	if !r.has("real_addr") || !r.has("public_key") {
		t.Fatalf("resolve: %s", r.body)
	}
	// Trust pair.
	e.ok(e.signed(&regmsg.ReportTrust{TrustPair: regmsg.TrustPair{NodeID: a.ID, PeerID: c.ID}}, a.id), "report_trust")
	e.fail(e.signed(&regmsg.Resolve{RequesterID: c.ID, NodeID: a.ID}, c.id), regmsg.CodePermissionDenied)
	e.ok(e.signed(&regmsg.ReportTrust{TrustPair: regmsg.TrustPair{NodeID: c.ID, PeerID: a.ID}}, c.id), "report_trust")
	e.ok(e.signed(&regmsg.Resolve{RequesterID: c.ID, NodeID: a.ID}, c.id), "resolve")
	// Offline target.
	e.clk.Add(DefaultStaleAfter + time.Second)
	r = e.signed(&regmsg.Resolve{RequesterID: c.ID, NodeID: a.ID}, c.id)
	e.fail(r, regmsg.CodeFailedPrecondition)
	if !strings.Contains(r.err.Message, "offline") {
		t.Fatalf("message %q", r.err.Message)
	}
}

func TestRegistry_C59_PunchRequester(t *testing.T) {
	e := newEnv(t)
	a, b, c := e.register(), e.register(), e.register()
	e.fail(e.signed(&regmsg.Punch{RequesterID: c.ID, NodeA: a.ID, NodeB: b.ID}, c.id), regmsg.CodePermissionDenied)
	e.fail(e.signed(&regmsg.Punch{RequesterID: a.ID, NodeA: a.ID, NodeB: b.ID}, a.id), regmsg.CodePermissionDenied)
	e.ok(e.signed(&regmsg.SetVisibility{NodeID: b.ID, Public: true}, b.id), "set_visibility")
	r := e.signed(&regmsg.Punch{RequesterID: a.ID, NodeA: a.ID, NodeB: b.ID}, a.id)
	e.ok(r, "punch")
}

func TestRegistry_C61_OfflineKeepsHostname(t *testing.T) {
	e := newEnv(t)
	a := e.register(func(r *regmsg.Register) { r.Hostname = "keeper" })
	b := e.register()
	e.clk.Add(time.Hour)
	e.fail(e.signed(&regmsg.SetHostname{NodeID: b.ID, Hostname: "keeper"}, b.id), regmsg.CodeAlreadyExists)
	e.ok(e.signed(&regmsg.Deregister{NodeID: a.ID}, a.id), "deregister")
	e.ok(e.signed(&regmsg.SetHostname{NodeID: b.ID, Hostname: "keeper"}, b.id), "set_hostname")
}

func TestRegistry_C60_SetTags(t *testing.T) {
	e := newEnv(t)
	n := e.register()
	r := e.signed(&regmsg.SetTags{NodeID: n.ID, Tags: []string{"#gpu", "gpu", "eu"}}, n.id)
	e.ok(r, "set_tags")
	var tags []string
	r.get(t, "tags", &tags)
	if strings.Join(tags, ",") != "gpu,eu" {
		t.Fatalf("tags %v", tags)
	}
	r = e.signed(&regmsg.SetTags{NodeID: n.ID, Tags: []string{}}, n.id)
	e.ok(r, "set_tags")
	if string(r.fields["tags"]) != "[]" {
		t.Fatalf("tags: %s", r.body)
	}
	many := make([]string, 11)
	for i := range many {
		many[i] = "t" + fmtUint(uint64(i))
	}
	e.fail(e.signed(&regmsg.SetTags{NodeID: n.ID, Tags: many}, n.id), regmsg.CodeInvalidArgument)
}

// TestRegister_KnownKeyWithTakenHostname: a known key re-registering with
// a hostname that another node holds keeps its ID and record and gets a
// hostname_error; a new key asking for it is registered without one.
func TestRegister_KnownKeyWithTakenHostname(t *testing.T) {
	e := newEnv(t)
	a := e.register(func(r *regmsg.Register) { r.Hostname = "alpha" })
	b := e.register(func(r *regmsg.Register) { r.Hostname = "beta" })
	head := e.head()
	r := e.signed(&regmsg.Register{PublicKey: b.id.PublicKeyBase64(), Hostname: "alpha"}, b.id)
	e.ok(r, "register")
	var host string
	r.get(t, "hostname", &host)
	if addr.NodeID(r.int(t, "node_id")) != b.ID || host != "beta" || !r.has("hostname_error") {
		t.Fatalf("re-register with a taken hostname: %s", r.body)
	}
	if ev := e.lastAudit(); ev.Action != regmsg.ActionNodeReRegistered || e.head() != head+1 {
		t.Fatalf("audit: %s, head %d -> %d", ev.Action, head, e.head())
	}
	c := e.register(func(r *regmsg.Register) { r.Hostname = "alpha" })
	if c.ID == a.ID || c.ID == b.ID {
		t.Fatalf("new key got ID %d", c.ID)
	}
	if ev := e.lastAudit(); ev.Action != regmsg.ActionNodeRegistered || Details(ev.Attrs) != "node_id="+itoa(c.ID)+", mode=new_node" {
		t.Fatalf("audit: %s %s", ev.Action, Details(ev.Attrs))
	}
}

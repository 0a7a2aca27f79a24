package handlers

import (
	"strings"
	"testing"

	"github.com/pilot-go/pilot/internal/wire/regmsg"
)

func trustPair(a, b *node) regmsg.TrustPair { return regmsg.TrustPair{NodeID: a.ID, PeerID: b.ID} }

func (e *env) checkTrust(a, b *node) (trusted, pair bool) {
	e.t.Helper()
	r := e.signed(&regmsg.CheckTrust{TrustPair: trustPair(a, b)}, a.id)
	e.ok(r, "check_trust")
	r.get(e.t, "trusted", &trusted)
	r.get(e.t, "trust_pair", &pair)
	return
}

func TestRegistry_C52_ReportTrustConsent(t *testing.T) {
	e := newEnv(t)
	a, b := e.register(), e.register()
	r := e.signed(&regmsg.ReportTrust{TrustPair: trustPair(a, b)}, a.id)
	e.ok(r, "report_trust")
	if _, pair := e.checkTrust(a, b); pair {
		t.Fatal("one-sided report made a pair")
	}
	ev := e.lastAudit()
	if Details(ev.Attrs) != "node_a="+itoa(a.ID)+", node_b="+itoa(b.ID)+", mutual=false" {
		t.Fatalf("audit %q", Details(ev.Attrs))
	}
	head := e.head()
	e.ok(e.signed(&regmsg.ReportTrust{TrustPair: trustPair(a, b)}, a.id), "report_trust")
	if e.head() != head {
		t.Fatal("repeat report audited")
	}
	r = e.signed(&regmsg.ReportTrust{TrustPair: trustPair(b, a)}, b.id)
	e.ok(r, "report_trust")
	var trusted bool
	r.get(t, "trusted", &trusted)
	if !trusted {
		t.Fatal("pair not reported")
	}
	if _, pair := e.checkTrust(a, b); !pair {
		t.Fatal("a→b not a pair")
	}
	if _, pair := e.checkTrust(b, a); !pair {
		t.Fatal("b→a not a pair")
	}
	e.fail(e.signed(&regmsg.ReportTrust{TrustPair: trustPair(a, &node{ID: 999})}, a.id), regmsg.CodeNotFound)
}

func TestRegistry_C53_RespondHandshakePair(t *testing.T) {
	e := newEnv(t)
	a, b, c := e.register(), e.register(), e.register()
	// B accepts A without any request from A: no pair.
	e.ok(e.signed(&regmsg.RespondHandshake{NodeID: b.ID, PeerID: a.ID, Accept: true}, b.id), "respond_handshake")
	if _, pair := e.checkTrust(a, b); pair {
		t.Fatal("pair without A's consent")
	}
	// C requests B, B accepts: pair.
	r := e.signed(&regmsg.RequestHandshake{FromNodeID: c.ID, ToNodeID: b.ID, Justification: "need\nyour GPU"}, c.id)
	e.ok(r, "request_handshake")
	var status string
	r.get(t, "status", &status)
	if status != "delivered" {
		t.Fatalf("status %s", r.body)
	}
	r = e.signed(&regmsg.RequestHandshake{FromNodeID: c.ID, ToNodeID: b.ID}, c.id)
	r.get(t, "status", &status)
	if status != "already_pending" {
		t.Fatalf("status %s", r.body)
	}
	head := e.head()
	e.ok(e.signed(&regmsg.RespondHandshake{NodeID: b.ID, PeerID: c.ID, Accept: true}, b.id), "respond_handshake")
	if _, pair := e.checkTrust(c, b); !pair {
		t.Fatal("no pair after request + accept")
	}
	ev := e.auditSince(head)
	if len(ev) != 2 || ev[0].Action != regmsg.ActionHandshakeResponded || ev[1].Action != regmsg.ActionTrustCreated {
		t.Fatalf("audit %+v", ev)
	}
	// C polls B's response.
	r = e.signed(&regmsg.PollHandshakes{NodeID: c.ID}, c.id)
	e.ok(r, "poll_handshakes")
	var resps []regmsg.HandshakeResponse
	r.get(t, "responses", &resps)
	if len(resps) != 1 || resps[0].FromNodeID != b.ID || !resps[0].Accept {
		t.Fatalf("responses %s", r.body)
	}
}

func TestRegistry_C54_PollHandshakesDrainsOnce(t *testing.T) {
	e := newEnv(t)
	a, b := e.register(), e.register()
	e.ok(e.signed(&regmsg.RequestHandshake{FromNodeID: a.ID, ToNodeID: b.ID, Justification: "hello"}, a.id), "request_handshake")
	r := e.signed(&regmsg.PollHandshakes{NodeID: b.ID}, b.id)
	var reqs []regmsg.HandshakeRequest
	r.get(t, "requests", &reqs)
	if len(reqs) != 1 || reqs[0].Justification != "hello" || reqs[0].FromNodeID != a.ID {
		t.Fatalf("poll %s", r.body)
	}
	e.reopen() // a crash right after the reply
	r = e.signed(&regmsg.PollHandshakes{NodeID: b.ID}, b.id)
	if string(r.fields["requests"]) != "[]" || string(r.fields["responses"]) != "[]" {
		t.Fatalf("second poll %s", r.body)
	}
}

func TestRegistry_PollHandshakesStaysUnderCap(t *testing.T) {
	e := newEnv(t)
	b := e.register()
	just := strings.Repeat("\x01", 1024) // escapes to 6 bytes each
	for i := 0; i < 30; i++ {
		a := e.register()
		e.ok(e.signed(&regmsg.RequestHandshake{FromNodeID: a.ID, ToNodeID: b.ID, Justification: just}, a.id), "request_handshake")
	}
	total := 0
	for i := 0; i < 5 && total < 30; i++ {
		r := e.signed(&regmsg.PollHandshakes{NodeID: b.ID}, b.id)
		var reqs []regmsg.HandshakeRequest
		r.get(t, "requests", &reqs)
		total += len(reqs)
		if total < 30 && !r.has("next_cursor") {
			t.Fatalf("partial page without next_cursor")
		}
	}
	if total != 30 {
		t.Fatalf("drained %d of 30", total)
	}
}

func TestRegistry_C55_RevokeTrust(t *testing.T) {
	e := newEnv(t)
	a, b := e.register(), e.register()
	e.ok(e.signed(&regmsg.ReportTrust{TrustPair: trustPair(a, b)}, a.id), "report_trust")
	e.ok(e.signed(&regmsg.ReportTrust{TrustPair: trustPair(b, a)}, b.id), "report_trust")
	r := e.signed(&regmsg.RevokeTrust{TrustPair: trustPair(b, a)}, b.id)
	e.ok(r, "revoke_trust")
	var revoked bool
	r.get(t, "revoked", &revoked)
	if !revoked {
		t.Fatal("not revoked")
	}
	if _, pair := e.checkTrust(a, b); pair {
		t.Fatal("pair survived")
	}
	head := e.head()
	r = e.signed(&regmsg.RevokeTrust{TrustPair: trustPair(b, a)}, b.id)
	r.get(t, "revoked", &revoked)
	if revoked || e.head() != head {
		t.Fatalf("repeat %s", r.body)
	}
	for _, req := range []regmsg.Request{
		&regmsg.ReportTrust{TrustPair: trustPair(a, a)}, &regmsg.RevokeTrust{TrustPair: trustPair(a, a)},
		&regmsg.CheckTrust{TrustPair: trustPair(a, a)}, &regmsg.RespondHandshake{NodeID: a.ID, PeerID: a.ID},
		&regmsg.RequestHandshake{FromNodeID: a.ID, ToNodeID: a.ID},
	} {
		e.fail(e.signed(req, a.id), regmsg.CodeInvalidArgument)
	}
}

func TestRegistry_C58_ResolveHostnameHidesPrivate(t *testing.T) {
	e := newEnv(t)
	a := e.register(func(r *regmsg.Register) { r.Hostname = "secret-host" })
	b := e.register()
	unknown := e.signed(&regmsg.ResolveHostname{RequesterID: b.ID, Hostname: "no-such-host"}, b.id)
	private := e.signed(&regmsg.ResolveHostname{RequesterID: b.ID, Hostname: "secret-host"}, b.id)
	e.fail(unknown, regmsg.CodeNotFound)
	e.fail(private, regmsg.CodeNotFound)
	if strings.ReplaceAll(unknown.err.Message, "no-such-host", "X") != strings.ReplaceAll(private.err.Message, "secret-host", "X") {
		t.Fatalf("distinguishable: %q vs %q", unknown.err.Message, private.err.Message)
	}
	// An unsigned requester_id is ignored.
	e.fail(e.send(&regmsg.ResolveHostname{RequesterID: a.ID, Hostname: "secret-host"}), regmsg.CodeNotFound)
	r := e.signed(&regmsg.ResolveHostname{RequesterID: a.ID, Hostname: "secret-host"}, a.id)
	e.ok(r, "resolve_hostname")
	e.ok(e.signed(&regmsg.SetVisibility{NodeID: a.ID, Public: true}, a.id), "set_visibility")
	e.ok(e.send(&regmsg.ResolveHostname{Hostname: "secret-host"}), "resolve_hostname")
}

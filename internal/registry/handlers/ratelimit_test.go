package handlers

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/pilot-go/pilot/internal/wire/regmsg"
)

func TestRegistry_C68_HeartbeatBurst(t *testing.T) {
	e := newEnv(t, withRateLimits)
	n := e.register()
	for i := 0; i < 6; i++ {
		e.ok(e.signed(&regmsg.Heartbeat{NodeID: n.ID}, n.id), "heartbeat")
	}
	r := e.signed(&regmsg.Heartbeat{NodeID: n.ID}, n.id)
	e.fail(r, regmsg.CodeRateLimited)
	if r.err.RetryAfterMS <= 0 || r.err.RetryAfterMS > 5000 {
		t.Fatalf("retry_after_ms %d", r.err.RetryAfterMS)
	}
	want := "rate limited: too many heartbeats from node " + itoa(n.ID) + " (12/min); retry in 5 s"
	if r.err.Message != want {
		t.Fatalf("message %q", r.err.Message)
	}
	// One every 5 s is never limited.
	for i := 0; i < 20; i++ {
		e.clk.Add(5 * time.Second)
		e.ok(e.signed(&regmsg.Heartbeat{NodeID: n.ID}, n.id), "heartbeat")
	}
	if counter(t, e, "pilot_rate_limited_total") != 1 {
		t.Fatal("rate limit not counted")
	}
}

func TestRegistry_C67_ManyNodesOneIP(t *testing.T) {
	e := newEnv(t, withRateLimits)
	var nodes []*node
	for i := 0; i < 50; i++ {
		nodes = append(nodes, e.register())
	}
	for round := 0; round < 3; round++ {
		for _, n := range nodes {
			e.ok(e.signed(&regmsg.Heartbeat{NodeID: n.ID}, n.id), "heartbeat")
		}
		e.clk.Add(30 * time.Second)
	}
}

func TestRegistry_C69_AuthFailureLimits(t *testing.T) {
	e := newEnv(t, withRateLimits)
	good, x, y := e.register(), e.register(), e.register()
	o := e.register()
	nw := e.network(o, "limits", "open")
	// A signed join with a non-matching admin_token to an open network
	// succeeds and counts no bad_token.
	e.ok(e.signed(tok(&regmsg.JoinNetwork{NodeID: x.ID, NetworkID: nw}, "not-the-token"), x.id), "join_network")
	if counter(t, e, "pilot_auth_failures_total") != 0 {
		t.Fatal("ignored token counted")
	}
	// 30 signed requests refused for a non-matching admin_token.
	rename := func(n *node) result {
		return e.signed(tok(&regmsg.RenameNetwork{NodeID: n.ID, NetworkID: nw, Name: "stolen"}, "not-the-token"), n.id)
	}
	for i := 0; i < 30; i++ {
		r := rename(x)
		e.fail(r, regmsg.CodePermissionDenied)
		if !strings.Contains(r.err.Message, "admin token not accepted") {
			t.Fatalf("message %q", r.err.Message)
		}
	}
	e.fail(rename(x), regmsg.CodeRateLimited)
	// Only x's token-dependent requests are limited.
	e.ok(e.signed(&regmsg.Heartbeat{NodeID: x.ID}, x.id), "heartbeat")
	e.fail(rename(y), regmsg.CodePermissionDenied)

	// 30 failed authentications from one IP.
	bad := func() result {
		return e.signed(&regmsg.SetHostname{NodeID: good.ID, Hostname: "h"}, x.id)
	}
	for i := 0; i < 30; i++ {
		e.fail(bad(), regmsg.CodeUnauthenticated)
	}
	e.fail(bad(), regmsg.CodeRateLimited)
	e.fail(e.send(tok(&regmsg.SetHostname{NodeID: good.ID, Hostname: "h"}, globalToken)), regmsg.CodeRateLimited)
	e.ok(e.signed(&regmsg.SetHostname{NodeID: good.ID, Hostname: "h"}, good.id), "set_hostname")
	// Another IP is unaffected.
	e.ip = netip.MustParseAddr("198.51.100.7")
	e.ok(e.send(tok(&regmsg.SetHostname{NodeID: good.ID, Hostname: "h2"}, globalToken)), "set_hostname")
}

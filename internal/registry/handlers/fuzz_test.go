package handlers

import (
	"testing"

	"github.com/pilot-go/pilot/internal/wire/regmsg"
)

// FuzzHandle feeds arbitrary bodies to the dispatcher: it never panics,
// every reply is one well-formed envelope under the frame cap (checked by
// sendRaw), and without credentials nothing changes (audit head and state
// digest are unchanged).
func FuzzHandle(f *testing.F) {
	e := newEnv(f)
	e.cfg.BeaconToken = ""
	e.reopen()
	o := e.register()
	a := e.register()
	nw := e.network(o, "fuzzed", "open")
	e.join(a, nw)
	seeds := []regmsg.Request{
		&regmsg.Heartbeat{NodeID: o.ID},
		&regmsg.SetHostname{NodeID: o.ID, Hostname: "x"},
		&regmsg.KickMember{MemberTarget: regmsg.MemberTarget{NodeID: o.ID, NetworkID: nw, TargetNodeID: a.ID}},
		&regmsg.CreateNetwork{NodeID: o.ID, Name: "n"},
		&regmsg.Register{PublicKey: o.id.PublicKeyBase64()},
		&regmsg.SetNetworkPolicy{NodeID: o.ID, NetworkID: nw, AllowedPorts: nil, Description: new(string)},
		&regmsg.GetAuditLog{NodeID: o.ID},
		&regmsg.ListNodes{NetworkID: nw, Page: regmsg.Page{Cursor: "12"}},
		&regmsg.BeaconRegister{BeaconID: 1, Addr: "192.0.2.1:1", Token: "t"},
		&regmsg.UpdatePoloScore{NodeID: o.ID, Delta: 1},
	}
	for _, s := range seeds {
		f.Add(regmsg.AppendRequest(nil, s))
	}
	// A stale signed request and a v1 one.
	stale := &regmsg.Deregister{NodeID: a.ID}
	e.clk.Add(-5 * 60e9)
	e.sign(stale, a.id)
	e.clk.Add(5 * 60e9)
	f.Add(regmsg.AppendRequest(nil, stale))
	f.Add([]byte(`{"type":"heartbeat","node_id":4,"signature":"AAAA"}`))
	f.Add([]byte(`{"type":"lookup","node_id":4,"requester_id":5,"ts":1,"nonce":"AAAAAAAAAAAAAAAAAAAAAA==","signature":""}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`null`))
	before := e.digest()
	f.Fuzz(func(t *testing.T, body []byte) {
		e.t = t
		e.sendRaw(body)
		if got := e.digest(); got != before {
			t.Fatalf("state changed by %q:\n%s\n%s", body, before, got)
		}
	})
}

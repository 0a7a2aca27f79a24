package trust

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/wire/regmsg"
	"github.com/pilot-go/pilot/internal/wire/svcmsg/handshake"
)

var ctx = context.Background()

// Row "Operator request", direct path, then "Operator approve" of a
// pending direct request and "Accept received" from a node we asked.
func TestRow_RequestApproveDirect(t *testing.T) {
	w := newWorld(t)
	a, b := w.add(1, true, nil), w.add(2, true, nil)
	rep, err := a.m.Request(ctx, 2, "summarise papers")
	if err != nil || rep != (StatusReply{Status: "sent", NodeID: 2}) {
		t.Fatalf("request: %+v %v", rep, err)
	}
	if w.called("1 report_trust 2") != 1 || w.called("1 request_handshake 2") != 0 {
		t.Errorf("calls %q", w.calls)
	}
	expectEvents(t, b, "handshake.received", "handshake.pending")
	p := b.m.Pending().Pending
	if len(p) != 1 || p[0].NodeID != 1 || p[0].Justification != "summarise papers" ||
		p[0].PublicKey != w.identity(1).PublicKeyBase64() || p[0].ReceivedAt != w.clock().Unix() {
		t.Fatalf("pending %+v", p)
	}
	rep, err = b.m.Approve(ctx, 1)
	if err != nil || rep != (StatusReply{Status: "approved", NodeID: 1}) {
		t.Fatalf("approve: %+v %v", rep, err)
	}
	expectEvents(t, b, "handshake.approved")
	expectEvents(t, a, "handshake.approved")
	if !a.m.IsTrusted(2) || !b.m.IsTrusted(1) || !w.pair(1, 2) {
		t.Error("trust pair not formed")
	}
	if w.called("2 respond_handshake 1 true") != 0 {
		t.Error("respond_handshake used although the direct accept worked")
	}
	tr := a.m.Trusted().Trusted
	if len(tr) != 1 || !tr[0].Mutual || tr[0].Network != 0 || tr[0].PublicKey != w.identity(2).PublicKeyBase64() {
		t.Errorf("trusted %+v", tr)
	}
	if len(b.m.Pending().Pending) != 0 {
		t.Error("approved request still pending")
	}
	// Already trusted: sent, nothing else.
	n := len(w.messages(1, 2))
	if rep, err := a.m.Request(ctx, 2, ""); err != nil || rep.Status != "sent" || len(w.messages(1, 2)) != n {
		t.Errorf("request to a trusted peer: %+v %v, sent a message", rep, err)
	}
}

// Row "Operator request" when the direct send fails: request_handshake
// through the registry; the relayed request lands in pending and the
// operator's approval answers with respond_handshake(accept) and a direct
// accept; the relayed response completes the requester's side.
func TestRow_RequestThroughRelay(t *testing.T) {
	w := newWorld(t)
	a, b := w.add(1, true, nil), w.add(2, true, nil)
	w.unreachable[2] = true
	if _, err := a.m.Request(ctx, 2, "relay me"); err != nil {
		t.Fatal(err)
	}
	if w.called("1 request_handshake 2") != 1 {
		t.Fatalf("calls %q", w.calls)
	}
	if err := b.m.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	expectEvents(t, b, "handshake.received", "handshake.pending")
	w.unreachable[2] = false
	w.unreachable[1] = true
	if _, err := b.m.Approve(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if w.called("2 respond_handshake 1 true") != 1 {
		t.Errorf("relayed request not answered through the registry exactly once: %q", w.calls)
	}
	if err := a.m.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	expectEvents(t, a, "handshake.approved")
	if !a.m.IsTrusted(2) || !b.m.IsTrusted(1) || !w.pair(1, 2) {
		t.Error("relayed handshake did not form the pair")
	}
}

// Row "Request received": peer in outgoing → mutual.
func TestRow_RequestReceivedMutual(t *testing.T) {
	w := newWorld(t)
	a, b := w.add(1, true, nil), w.add(2, true, nil)
	w.unreachable[1] = true
	b.m.Request(ctx, 1, "") // relayed, b has 1 in outgoing
	w.unreachable[1] = false
	a.events.reset()
	a.m.Request(ctx, 2, "") // direct: b sees a request from a node it asked
	expectEvents(t, b, "handshake.received", "handshake.auto_approved:mutual")
	expectEvents(t, a, "handshake.approved")
	if !a.m.IsTrusted(2) || !b.m.IsTrusted(1) {
		t.Error("mutual requests did not create trust")
	}
	if tr := b.m.Trusted().Trusted; len(tr) != 1 || !tr[0].Mutual {
		t.Errorf("trusted %+v", tr)
	}
}

// Row "Request received": already trusted → send accept.
func TestRow_RequestReceivedAlreadyTrusted(t *testing.T) {
	w := newWorld(t)
	a, b := w.add(1, true, nil), w.add(2, true, nil)
	a.m.Request(ctx, 2, "")
	b.m.Approve(ctx, 1)
	n := len(w.messages(2, 1))
	raw := craft(w, handshake.Request, 1, 2, w.identity(1), nil, false, false)
	if err := b.m.HandleMessage(ctx, 1, raw); err != nil {
		t.Fatal(err)
	}
	if got := w.messages(2, 1); len(got) != n+1 || got[n].Type != handshake.Accept {
		t.Error("no accept sent to an already trusted peer")
	}
}

// services.md §9 item 12 and row "check_trust shows shared networks": a
// relayed request from a peer sharing a network is auto-approved with
// reason same_network, and the trust entry names the network.
func TestServices_12_RelayedSameNetworkAutoApproved(t *testing.T) {
	w := newWorld(t)
	a, b := w.add(1, true, nil), w.add(2, true, nil)
	w.share(1, 2, 5, 9)
	w.unreachable[2] = true
	a.m.Request(ctx, 2, "")
	w.unreachable[2] = false
	if err := b.m.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	expectEvents(t, b, "handshake.received", "handshake.auto_approved:same_network")
	tr := b.m.Trusted().Trusted
	if len(tr) != 1 || tr[0].NodeID != 1 || tr[0].Network != 5 || !tr[0].Mutual {
		t.Errorf("trusted %+v", tr)
	}
	if w.called("2 respond_handshake 1 true") != 1 || w.called("2 report_trust 1") != 1 {
		t.Errorf("relayed auto-approval calls %q", w.calls)
	}
	if !a.m.IsTrusted(2) {
		t.Error("the requester did not receive the accept")
	}
}

// Row "-trust-auto-approve set".
func TestRow_AutoApprove(t *testing.T) {
	w := newWorld(t)
	a := w.add(1, true, nil)
	b := w.add(2, true, func(c *Config) { c.AutoApprove = true })
	a.m.Request(ctx, 2, "")
	expectEvents(t, b, "handshake.received", "handshake.auto_approved:auto_approve")
	if !a.m.IsTrusted(2) || !b.m.IsTrusted(1) {
		t.Error("auto-approve did not trust")
	}
}

// Row "Request received": pending is bounded at 256 in total.
func TestRow_PendingFullDropsRequest(t *testing.T) {
	w := newWorld(t)
	b := w.add(2, true, nil)
	for i := range MaxPending + 1 {
		id := addr.NodeID(100 + i)
		w.add(id, true, nil)
		raw := craft(w, handshake.Request, id, 2, w.identity(id), nil, false, false)
		if err := b.m.HandleMessage(ctx, id, raw); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(b.m.Pending().Pending); n != MaxPending {
		t.Errorf("pending %d, want %d", n, MaxPending)
	}
	if b.m.HandshakePendingCount() != MaxPending {
		t.Error("HandshakePendingCount disagrees")
	}
}

// services.md §9 item 11 and row "Accept received": an unsolicited accept
// does not create trust, direct or relayed.
func TestServices_11_UnsolicitedAcceptIgnored(t *testing.T) {
	w := newWorld(t)
	a := w.add(1, true, nil)
	w.add(2, true, nil)
	raw := craft(w, handshake.Accept, 2, 1, w.identity(2), nil, false, false)
	if err := a.m.HandleMessage(ctx, 2, raw); err != nil {
		t.Fatal(err)
	}
	w.inbox[1] = &regmsg.PollHandshakesOK{Responses: []regmsg.HandshakeResponse{{FromNodeID: 2, Accept: true}}}
	a.m.Poll(ctx)
	if a.m.IsTrusted(2) || len(a.events.names()) != 0 || w.called("1 report_trust 2") != 0 {
		t.Errorf("unsolicited accept had an effect: trusted %v events %q", a.m.IsTrusted(2), a.events.names())
	}
}

// Row "Reject received" and "Operator reject".
func TestRow_Reject(t *testing.T) {
	w := newWorld(t)
	a, b := w.add(1, true, nil), w.add(2, true, nil)
	a.m.Request(ctx, 2, "")
	b.events.reset()
	rep, err := b.m.Reject(ctx, 1, "not expected")
	if err != nil || rep != (StatusReply{Status: "rejected", NodeID: 1}) {
		t.Fatalf("reject: %+v %v", rep, err)
	}
	expectEvents(t, b, "handshake.rejected:not expected")
	expectEvents(t, a, "handshake.rejected:not expected")
	if w.called("2 respond_handshake 1 false") != 1 || len(b.m.Pending().Pending) != 0 {
		t.Errorf("reject: calls %q pending %+v", w.calls, b.m.Pending())
	}
	// A later accept from 2 is unsolicited now.
	a.m.HandleMessage(ctx, 2, craft(w, handshake.Accept, 2, 1, w.identity(2), nil, false, false))
	if a.m.IsTrusted(2) {
		t.Error("accept after a reject created trust")
	}
	if _, err := b.m.Reject(ctx, 1, strings.Repeat("r", 257)); CodeOf(err) != regmsg.CodeInvalidArgument {
		t.Errorf("oversized reason: %v", err)
	}
}

// Rows "Operator revoke" and "Revoke received".
func TestRow_Revoke(t *testing.T) {
	w := newWorld(t)
	a, b := w.add(1, true, nil), w.add(2, true, nil)
	a.m.Request(ctx, 2, "")
	b.m.Approve(ctx, 1)
	a.events.reset()
	b.events.reset()
	rep, err := a.m.Revoke(ctx, 2)
	if err != nil || rep != (StatusReply{Status: "revoked", NodeID: 2}) {
		t.Fatalf("revoke: %+v %v", rep, err)
	}
	expectEvents(t, a, "trust.revoked")
	expectEvents(t, b, "trust.revoked_by_peer")
	if a.m.IsTrusted(2) || b.m.IsTrusted(1) || w.pair(1, 2) {
		t.Error("trust survived the revoke")
	}
	if len(a.down) != 1 || a.down[0] != 2 || len(b.down) != 1 || b.down[0] != 1 {
		t.Errorf("tunnels torn down: a %v b %v", a.down, b.down)
	}
	if w.called("1 revoke_trust 2") != 1 || w.called("2 revoke_trust 1") != 1 {
		t.Errorf("calls %q", w.calls)
	}
	_, err = a.m.Revoke(ctx, 2)
	if !errors.Is(err, ErrNotTrusted) || CodeOf(err) != regmsg.CodeNotFound ||
		err.Error() != "handshake revoke: node 2 was not trusted" {
		t.Errorf("revoke of an untrusted node: %v", err)
	}
}

// Row "Operator approve" with nothing pending: our approval only.
func TestRow_ApproveNothingPending(t *testing.T) {
	w := newWorld(t)
	a := w.add(1, true, nil)
	w.add(2, true, nil)
	if _, err := a.m.Approve(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if w.called("1 report_trust 2") != 1 || len(w.messages(1, 2)) != 0 || w.called("1 respond_handshake 2 true") != 0 {
		t.Errorf("approval with nothing pending: calls %q messages %d", w.calls, len(w.messages(1, 2)))
	}
	if tr := a.m.Trusted().Trusted; len(tr) != 1 || tr[0].Mutual {
		t.Errorf("trusted %+v, want one non-mutual entry", tr)
	}
}

// Row "Operator approve" of a direct request when the direct accept fails.
func TestRow_ApproveDirectFailsUsesRelay(t *testing.T) {
	w := newWorld(t)
	a, b := w.add(1, true, nil), w.add(2, true, nil)
	a.m.Request(ctx, 2, "")
	w.unreachable[1] = true
	b.m.Approve(ctx, 1)
	if w.called("2 respond_handshake 1 true") != 1 {
		t.Errorf("calls %q", w.calls)
	}
}

// Sending rules (services.md §5.2): nonce and sig_v2 always; the v1
// signature only toward a peer without handshake-v2; oversized encodings
// refused with invalid_argument.
func TestSendingRules(t *testing.T) {
	w := newWorld(t)
	a := w.add(1, true, nil)
	w.add(2, true, nil)
	w.add(3, false, nil)
	a.m.Request(ctx, 2, "x")
	a.m.Request(ctx, 3, "x")
	m2, m3 := w.messages(1, 2), w.messages(1, 3)
	if len(m2) != 1 || m2[0].Signature != "" || m2[0].SigV2 == "" || m2[0].Nonce == "" || m2[0].PublicKey == "" {
		t.Errorf("to a v2 peer: %+v", m2)
	}
	if len(m3) != 1 || m3[0].Signature == "" || m3[0].SigV2 == "" {
		t.Errorf("to an original peer: %+v", m3)
	}
	if err := m3[0].VerifyV1(w.identity(1).PublicKey(), 3); err != nil {
		t.Error(err)
	}
	_, err := a.m.Request(ctx, 3, strings.Repeat("\x01", handshake.MaxJustification))
	if CodeOf(err) != regmsg.CodeInvalidArgument || !errors.Is(err, handshake.ErrTooLarge) {
		t.Errorf("oversized encoding: %v", err)
	}
	if _, err := a.m.Request(ctx, 3, strings.Repeat("j", handshake.MaxJustification+1)); CodeOf(err) != regmsg.CodeInvalidArgument {
		t.Errorf("oversized justification: %v", err)
	}
	if _, err := a.m.Request(ctx, 0, ""); CodeOf(err) != regmsg.CodeInvalidArgument {
		t.Errorf("missing node: %v", err)
	}
}

// IPC shapes of ipc.md §5.10: arrays never null, Unix seconds.
func TestIPCShapes(t *testing.T) {
	w := newWorld(t)
	a := w.add(1, true, nil)
	for _, v := range []any{a.m.Pending(), a.m.Trusted()} {
		b, _ := json.Marshal(v)
		if s := string(b); s != `{"pending":[]}` && s != `{"trusted":[]}` {
			t.Errorf("empty list encodes as %s", s)
		}
	}
	w.add(2, true, nil)
	a.m.Approve(ctx, 2)
	b, _ := json.Marshal(a.m.Trusted())
	want := `{"trusted":[{"node_id":2,"public_key":"` + w.identity(2).PublicKeyBase64() +
		`","approved_at":1774606503,"mutual":false,"network":0}]}`
	if string(b) != want {
		t.Errorf("trusted JSON\n%s\nwant\n%s", b, want)
	}
	b, _ = json.Marshal(StatusReply{Status: "sent", NodeID: 686})
	if string(b) != `{"status":"sent","node_id":686}` {
		t.Errorf("status JSON %s", b)
	}
}

// services.md §5.1: toward a peer without handshake-v2, a message longer
// than the MSS goes through the registry relay.
func TestOriginalPeerOverMSSUsesRelay(t *testing.T) {
	w := newWorld(t)
	a := w.add(1, true, func(c *Config) { c.MSS = 512 })
	w.add(3, false, nil)
	w.add(4, true, nil)
	if _, err := a.m.Request(ctx, 3, strings.Repeat("j", 600)); err != nil {
		t.Fatal(err)
	}
	if len(w.messages(1, 3)) != 0 || w.called("1 request_handshake 3") != 1 {
		t.Errorf("long request to an original peer: %d direct, calls %q", len(w.messages(1, 3)), w.calls)
	}
	a.m.Request(ctx, 4, strings.Repeat("j", 600))
	if len(w.messages(1, 4)) != 1 {
		t.Error("long request to a handshake-v2 peer not sent directly")
	}
}

// Concurrent operator calls, messages and admission lookups (run with
// -race): the final state is consistent.
func TestConcurrentUse(t *testing.T) {
	w := newWorld(t)
	a := w.add(1, true, func(c *Config) { c.Path = t.TempDir() + "/" + FileName })
	for id := addr.NodeID(10); id < 30; id++ {
		w.add(id, true, nil)
	}
	done := make(chan struct{})
	for id := addr.NodeID(10); id < 30; id++ {
		go func() {
			defer func() { done <- struct{}{} }()
			w.nodes[id].m.Request(ctx, 1, "hi")
			a.m.IsTrusted(id)
			a.m.Approve(ctx, id)
			a.m.Trusted()
			if id%2 == 0 {
				a.m.Revoke(ctx, id)
			}
		}()
	}
	for range 20 {
		<-done
	}
	if n := len(a.m.Trusted().Trusted); n != 10 {
		t.Errorf("trusted %d, want 10", n)
	}
	if n := len(a.m.Pending().Pending); n != 0 {
		t.Errorf("pending %d, want 0", n)
	}
}

// ipc.md §4: a relayed request the registry refuses fails with the
// registry's code and its message alone (the code is not repeated in the
// text).
func TestRequestRefusedByRegistryKeepsMessage(t *testing.T) {
	w := newWorld(t)
	a := w.add(1, true, nil)
	w.unreachable[99] = true
	_, err := a.m.Request(ctx, 99, "")
	if err == nil || CodeOf(err) != regmsg.CodeNotFound || err.Error() != "handshake request: node 99 is not registered" {
		t.Fatalf("request to an unknown node: code %v, err %v", CodeOf(err), err)
	}
}

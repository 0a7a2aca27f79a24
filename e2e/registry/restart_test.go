package registrye2e

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/identity"
	"github.com/pilot-go/pilot/internal/regclient"
	"github.com/pilot-go/pilot/internal/wire/regmsg"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func newNodes(t *testing.T, ctx context.Context, c *regclient.Client, n int) []Node {
	t.Helper()
	out := make([]Node, n)
	for i := range out {
		id, err := identity.Generate(nil)
		if err != nil {
			t.Fatal(err)
		}
		if out[i], err = RegisterNode(ctx, c, id, ""); err != nil {
			t.Fatalf("register: %v", err)
		}
	}
	return out
}

// exchange1 sends one frame on a fresh connection and returns its reply.
func exchange1(t *testing.T, ctx context.Context, address string, frame []byte) Reply {
	t.Helper()
	reps, err := Exchange(ctx, address, frame)
	if err != nil {
		t.Fatal(err)
	}
	return reps[0]
}

// TestAuth_Item17_ReplayedMutationRefusedAcrossRestart is §14 item 17 and
// §5.2 step 5: a signed mutation replayed byte for byte is unauthenticated,
// in the same process and after a SIGKILL and after a graceful restart
// (the nonce was committed with the mutation).
func TestAuth_Item17_ReplayedMutationRefusedAcrossRestart(t *testing.T) {
	ctx := testCtx(t)
	r := startReg(t)
	c := r.client()
	n := newNodes(t, ctx, c, 1)[0]

	for i, restart := range []func(){r.kill, r.restartGraceful} {
		req := &regmsg.SetHostname{NodeID: n.ID, Hostname: []string{"replay-a", "replay-b"}[i]}
		frame, err := SignedFrame(req, n.Key)
		if err != nil {
			t.Fatal(err)
		}
		if rep := exchange1(t, ctx, r.addr(), frame); rep.Type != "set_hostname_ok" {
			t.Fatalf("first send: %+v %s", rep, rep.Body)
		}
		restart()
		for range 2 {
			rep := exchange1(t, ctx, r.addr(), frame)
			if rep.Code != regmsg.CodeUnauthenticated {
				t.Fatalf("replay after restart %d: got %s %s, want unauthenticated", i, rep.Type, rep.Body)
			}
		}
	}
	// A replayed register (proof of possession, signer 0) too.
	id, _ := identity.Generate(nil)
	frame, err := SignedFrame(&regmsg.Register{PublicKey: id.PublicKeyBase64()}, id)
	if err != nil {
		t.Fatal(err)
	}
	if rep := exchange1(t, ctx, r.addr(), frame); rep.Type != "register_ok" {
		t.Fatalf("register: %s", rep.Body)
	}
	r.kill()
	if rep := exchange1(t, ctx, r.addr(), frame); rep.Code != regmsg.CodeUnauthenticated {
		t.Fatalf("replayed register after SIGKILL: %s, want unauthenticated", rep.Body)
	}
	r.stopAndVerifyAudit()
}

// TestHandshake_Item54_PollOnceAcrossCrash is §14 item 54: a
// poll_handshakes drains what it returns in the transaction that builds
// the reply, so after a SIGKILL right after the reply the same requests
// are not returned again, and those not yet returned (paging) still are.
func TestHandshake_Item54_PollOnceAcrossCrash(t *testing.T) {
	ctx := testCtx(t)
	r := startReg(t)
	c := r.client()
	nodes := newNodes(t, ctx, c, 5)
	target, senders := nodes[0], nodes[1:]
	seen := map[addr.NodeID]int{}
	poll := func(limit int) []regmsg.HandshakeRequest {
		var rep regmsg.PollHandshakesOK
		req := &regmsg.PollHandshakes{NodeID: target.ID, Page: regmsg.Page{Limit: limit}}
		if err := c.Call(ctx, req, &rep, regclient.SignWith(target.Key)); err != nil {
			t.Fatalf("poll_handshakes: %v", err)
		}
		for _, h := range rep.Requests {
			seen[h.FromNodeID]++
		}
		return rep.Requests
	}
	for round := range 3 {
		for _, s := range senders {
			var rep regmsg.RequestHandshakeOK
			req := &regmsg.RequestHandshake{FromNodeID: s.ID, ToNodeID: target.ID, Justification: "round"}
			if err := c.Call(ctx, req, &rep, regclient.SignWith(s.Key)); err != nil {
				t.Fatalf("request_handshake: %v", err)
			}
		}
		got := poll(2) // two of four, then crash at once
		r.kill()
		if len(got) != 2 {
			t.Fatalf("round %d: first poll returned %d requests, want 2", round, len(got))
		}
		rest := poll(100)
		r.kill()
		if len(rest) != 2 {
			t.Fatalf("round %d: after the crash the poll returned %d requests, want the 2 not yet returned", round, len(rest))
		}
		if again := poll(100); len(again) != 0 {
			t.Fatalf("round %d: requests returned twice across a crash: %+v", round, again)
		}
		for _, s := range senders {
			if seen[s.ID] != round+1 {
				t.Fatalf("round %d: request of node %d returned %d times in total, want %d", round, s.ID, seen[s.ID], round+1)
			}
		}
	}
	r.stopAndVerifyAudit()
}

// TestInvite_Item45_PendingInvitesSurviveRestart is the first part of §14
// item 45: pending invites survive a SIGKILL and a graceful restart, are
// still returned by poll_invites, and can be accepted afterwards.
func TestInvite_Item45_PendingInvitesSurviveRestart(t *testing.T) {
	ctx := testCtx(t)
	r := startReg(t)
	c := r.client()
	nodes := newNodes(t, ctx, c, 4)
	owner, targets := nodes[0], nodes[1:]
	var nets []addr.NetworkID
	for _, name := range []string{"inv-one", "inv-two"} {
		var rep regmsg.CreateNetworkOK
		req := &regmsg.CreateNetwork{NodeID: owner.ID, Name: name, JoinRule: "invite"}
		if err := c.Call(ctx, req, &rep, regclient.SignWith(owner.Key), tok()); err != nil {
			t.Fatalf("create_network: %v", err)
		}
		nets = append(nets, rep.NetworkID)
		for _, tg := range targets {
			var ir regmsg.InviteToNetworkOK
			req := &regmsg.InviteToNetwork{InviterID: owner.ID, NetworkID: rep.NetworkID, TargetNodeID: tg.ID}
			if err := c.Call(ctx, req, &ir, regclient.SignWith(owner.Key)); err != nil || ir.Status != regmsg.InviteInvited {
				t.Fatalf("invite_to_network: %+v %v", ir, err)
			}
		}
	}
	check := func(when string) {
		t.Helper()
		for _, tg := range targets {
			var rep regmsg.PollInvitesOK
			if err := c.Call(ctx, &regmsg.PollInvites{NodeID: tg.ID}, &rep, regclient.SignWith(tg.Key)); err != nil {
				t.Fatalf("%s: poll_invites: %v", when, err)
			}
			var got []addr.NetworkID
			for _, e := range rep.Invites {
				got = append(got, e.NetworkID)
				if e.InviterID != owner.ID || e.ExpiresAt <= time.Now().Unix() {
					t.Errorf("%s: invite entry %+v", when, e)
				}
			}
			if !slices.Equal(got, nets) {
				t.Fatalf("%s: node %d has invites %v, want %v", when, tg.ID, got, nets)
			}
		}
	}
	check("before restart")
	r.kill()
	check("after SIGKILL")
	r.restartGraceful()
	check("after graceful restart")
	var rep regmsg.RespondInviteOK
	req := &regmsg.RespondInvite{NodeID: targets[0].ID, NetworkID: nets[0], Accept: true}
	if err := c.Call(ctx, req, &rep, regclient.SignWith(targets[0].Key)); err != nil || !rep.Accepted {
		t.Fatalf("respond_invite after restart: %+v %v", rep, err)
	}
	r.stopAndVerifyAudit()
}

package handlers

import (
	"math/rand/v2"
	"testing"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/registry/store/storetest"
	"github.com/pilot-go/pilot/internal/wire/regmsg"
)

// TestRegistry_C33_InvariantsAfterRandomOperations drives random requests
// (allowed or not) through the handlers, with restarts, and checks the
// invariants of §6.3 after each round.
func TestRegistry_C33_InvariantsAfterRandomOperations(t *testing.T) {
	e := newEnv(t)
	rng := rand.New(rand.NewPCG(1, 2))
	var nodes []*node
	for i := 0; i < 8; i++ {
		nodes = append(nodes, e.register())
	}
	rules := []string{"open", "token", "invite"}
	var nets []addr.NetworkID
	for i := 0; i < 4; i++ {
		nets = append(nets, e.network(nodes[i], "inv-net-"+fmtUint(uint64(i)), rules[i%3]))
	}
	pick := func() *node { return nodes[rng.IntN(len(nodes))] }
	pickNet := func() addr.NetworkID { return nets[rng.IntN(len(nets))] }
	for round := 0; round < 4; round++ {
		for i := 0; i < 60; i++ {
			a, b, nw := pick(), pick(), pickNet()
			mtg := regmsg.MemberTarget{NodeID: a.ID, NetworkID: nw, TargetNodeID: b.ID}
			reqs := []regmsg.Request{
				&regmsg.JoinNetwork{NodeID: a.ID, NetworkID: nw, Token: "join-secret"},
				&regmsg.LeaveNetwork{NetworkRef: regmsg.NetworkRef{NodeID: a.ID, NetworkID: nw}},
				&regmsg.KickMember{MemberTarget: mtg},
				&regmsg.PromoteMember{MemberTarget: mtg},
				&regmsg.DemoteMember{MemberTarget: mtg},
				&regmsg.TransferOwnership{NodeID: a.ID, NetworkID: nw, NewOwnerID: b.ID},
				&regmsg.InviteToNetwork{InviterID: a.ID, NetworkID: nw, TargetNodeID: b.ID},
				&regmsg.RespondInvite{NodeID: a.ID, NetworkID: nw, Accept: rng.IntN(2) == 0},
				&regmsg.ReportTrust{TrustPair: regmsg.TrustPair{NodeID: a.ID, PeerID: b.ID}},
				&regmsg.RevokeTrust{TrustPair: regmsg.TrustPair{NodeID: a.ID, PeerID: b.ID}},
				&regmsg.SetHostname{NodeID: a.ID, Hostname: "h" + fmtUint(uint64(rng.IntN(4)))},
				&regmsg.Deregister{NodeID: a.ID},
				&regmsg.Register{PublicKey: a.id.PublicKeyBase64()},
			}
			req := reqs[rng.IntN(len(reqs))]
			if rng.IntN(5) == 0 {
				tok(req, globalToken)
			}
			if _, ok := req.(*regmsg.Register); ok {
				e.signed(req, a.id)
				continue
			}
			if a.ID == b.ID {
				continue
			}
			e.signed(req, a.id)
		}
		storetest.CheckInvariants(t, e.st, e.clk.Now())
		e.reopen()
	}
}

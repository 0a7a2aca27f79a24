package registrye2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/identity"
	"github.com/pilot-go/pilot/internal/regclient"
	"github.com/pilot-go/pilot/internal/wire/regmsg"
)

// The checks of the campaign must be able to fail: these tests feed them
// facts that do not hold and state changes that did happen.

// TestHarness_CheckAckDetectsMissingFacts: every ack kind's check reports
// a fact the registry does not have.
func TestHarness_CheckAckDetectsMissingFacts(t *testing.T) {
	ctx := testCtx(t)
	r := startReg(t)
	c := r.client()
	nodes := newNodes(t, ctx, c, 2)
	a, b := nodes[0], nodes[1]
	ghostKey, _ := identity.Generate(nil)
	ghost := Node{ID: 999, Key: ghostKey}
	var net regmsg.CreateNetworkOK
	if err := c.Call(ctx, &regmsg.CreateNetwork{NodeID: a.ID, Name: "h-net", JoinRule: "invite"}, &net, regclient.Unsigned(), tok()); err != nil {
		t.Fatal(err)
	}
	all, err := c.ListNetworksAll(ctx, true, 0, regclient.Unsigned(), tok())
	if err != nil {
		t.Fatal(err)
	}
	nets := map[addr.NetworkID]regmsg.NetworkEntry{}
	for _, e := range all {
		nets[e.ID] = e
	}
	untrue := []ack{
		{kind: ackRegister, node: ghost},
		{kind: ackRegister, node: Node{ID: a.ID, Key: b.Key}},
		{kind: ackHostname, node: a, name: "never-set"},
		{kind: ackTags, node: a, tags: []string{"x"}},
		{kind: ackPublic, node: a},
		{kind: ackNetwork, node: a, net: net.NetworkID + 1, name: "h-other", rule: "open"},
		{kind: ackNetwork, node: b, net: net.NetworkID, name: "h-net", rule: "invite"}, // b is not the owner
		{kind: ackJoin, node: b, net: net.NetworkID},
		{kind: ackTrust, node: a, peer: b}, // a never approved b
		{kind: ackInvite, node: b, net: net.NetworkID},
	}
	for _, f := range untrue {
		if err := checkAck(ctx, c, f, nets); err == nil {
			t.Errorf("checkAck accepted %v, which does not hold", f)
		}
	}
	// And the true ones pass.
	if err := checkAck(ctx, c, ack{kind: ackNetwork, node: a, net: net.NetworkID, name: "h-net", rule: "invite"}, nets); err != nil {
		t.Errorf("true network fact: %v", err)
	}
	if err := checkAck(ctx, c, ack{kind: ackRegister, node: a}, nets); err != nil {
		t.Errorf("true register fact: %v", err)
	}
}

// TestHarness_AuditHeadMovesOnMutation: the fuzz targets' "state did not
// change" check sees a real mutation.
func TestHarness_AuditHeadMovesOnMutation(t *testing.T) {
	e := fuzzRegistry(t)
	before := e.head(t)
	id, _ := identity.FromSeed(fuzzSeed(0))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var rep regmsg.SetTagsOK
	tags := []string{fmt.Sprintf("t%d", time.Now().UnixNano())}
	if err := e.c.Call(ctx, &regmsg.SetTags{NodeID: e.nodes[0].ID, Tags: tags}, &rep, regclient.SignWith(id)); err != nil {
		t.Fatal(err)
	}
	if e.head(t) == before {
		t.Fatal("audit head unchanged by set_tags")
	}
}

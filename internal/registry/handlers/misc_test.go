package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pilot-go/pilot/internal/registry/store"
	"github.com/pilot-go/pilot/internal/wire/regmsg"
)

// bulkNodes inserts n live nodes with large entries in one transaction.
func (e *env) bulkNodes(n int) {
	e.t.Helper()
	tags := []string{strings.Repeat("a", 32), strings.Repeat("b", 32), strings.Repeat("c", 32)}
	err := e.st.Update(context.Background(), func(tx store.Tx) error {
		for i := 0; i < n; i++ {
			var k store.PublicKey
			k[0], k[1], k[2] = byte(i), byte(i>>8), 0xAB
			host := strings.Repeat("h", 50) + fmtUint(uint64(i))
			if _, err := tx.CreateNode(store.Node{PublicKey: k, RealAddr: "192.0.2.1:4000", LastSeen: e.clk.Now(),
				Hostname: host, Tags: tags, Version: strings.Repeat("v", 60), Public: true, KeyCreatedAt: e.clk.Now()}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

func TestRegistry_C3_ListNodesPagesUnderCap(t *testing.T) {
	e := newEnv(t)
	e.bulkNodes(1200)
	seen, pages := 0, 0
	cursor := ""
	for {
		r := e.send(tok(&regmsg.ListNodes{NetworkID: 0, Page: regmsg.Page{Limit: 500, Cursor: cursor}}, globalToken))
		e.ok(r, "list_nodes")
		var nodes []regmsg.NodeEntry
		r.get(t, "nodes", &nodes)
		seen += len(nodes)
		pages++
		if !r.has("next_cursor") {
			break
		}
		r.get(t, "next_cursor", &cursor)
	}
	if seen != 1200 || pages < 4 {
		t.Fatalf("%d nodes in %d pages", seen, pages)
	}
}

func TestRegistry_LegacyUnsignedReads(t *testing.T) {
	e := newEnv(t, withLegacy)
	o := e.register(func(r *regmsg.Register) { r.Hostname = "legacy-host" })
	a := e.register()
	nw := e.network(o, "legacy-reads", "open")
	e.join(a, nw)
	r := e.send(&regmsg.Lookup{NodeID: o.ID})
	var nets []int
	r.get(t, "networks", &nets)
	if len(nets) != 2 || !r.has("hostname") {
		t.Fatalf("legacy anonymous lookup %s", r.body)
	}
	e.ok(e.send(&regmsg.CheckTrust{TrustPair: regmsg.TrustPair{NodeID: a.ID, PeerID: o.ID}}), "check_trust")
	e.ok(e.send(&regmsg.GetMemberRole{MemberTarget: regmsg.MemberTarget{NetworkID: nw, TargetNodeID: a.ID}}), "get_member_role")
	e.ok(e.send(&regmsg.GetNetworkPolicy{NetworkRef: regmsg.NetworkRef{NetworkID: nw}}), "get_network_policy")
	e.ok(e.send(&regmsg.ListNodes{NetworkID: nw}), "list_nodes")
	e.fail(e.send(&regmsg.ListNodes{NetworkID: 0}), regmsg.CodeUnauthenticated)
	r = e.send(&regmsg.ListNetworks{})
	e.ok(r, "list_networks")
	e.ok(e.send(&regmsg.UpdatePoloScore{NodeID: a.ID, Delta: 3}), "update_polo_score")
	e.ok(e.send(&regmsg.BeaconRegister{BeaconID: 1, Addr: "192.0.2.9:9001"}), "beacon_register")
	r = e.signed(&regmsg.Register{PublicKey: newIdentity(t).PublicKeyBase64()}, newIdentity(t))
	e.fail(r, regmsg.CodeUnauthenticated) // a v2 signature must still verify
}

func TestRegistry_PoloScore(t *testing.T) {
	e := newEnv(t)
	n := e.register()
	e.fail(e.send(&regmsg.UpdatePoloScore{NodeID: n.ID, Delta: 5}), regmsg.CodeUnauthenticated)
	r := e.send(tok(&regmsg.UpdatePoloScore{NodeID: n.ID, Delta: 999999}, globalToken))
	e.ok(r, "update_polo_score")
	r = e.send(tok(&regmsg.UpdatePoloScore{NodeID: n.ID, Delta: 999999}, globalToken))
	if r.int(t, "polo_score") != 1000000 {
		t.Fatalf("not clamped: %s", r.body)
	}
	r = e.send(tok(&regmsg.SetPoloScore{NodeID: n.ID, PoloScore: -7}, globalToken))
	e.ok(r, "set_polo_score")
	r = e.send(&regmsg.GetPoloScore{NodeID: n.ID})
	e.ok(r, "get_polo_score")
	if r.int(t, "polo_score") != -7 {
		t.Fatalf("score %s", r.body)
	}
	e.fail(e.send(&regmsg.GetPoloScore{NodeID: 999}), regmsg.CodeNotFound)
	ev := e.lastAudit()
	if ev.Action != regmsg.ActionPoloScoreChanged || Details(ev.Attrs) != "node_id="+itoa(n.ID)+", old_score=1000000, new_score=-7" {
		t.Fatalf("audit %s", Details(ev.Attrs))
	}
}

func TestRegistry_BeaconDirectory(t *testing.T) {
	e := newEnv(t)
	e.fail(e.send(&regmsg.BeaconRegister{BeaconID: 7, Addr: "192.0.2.9:9001"}), regmsg.CodeUnauthenticated)
	e.fail(e.send(&regmsg.BeaconRegister{BeaconID: 7, Addr: "192.0.2.9:9001", Token: "wrong"}), regmsg.CodeUnauthenticated)
	e.ok(e.send(&regmsg.BeaconRegister{BeaconID: 7, Addr: "192.0.2.9:9001", Token: "beacon-secret"}), "beacon_register")
	r := e.send(&regmsg.BeaconList{})
	e.ok(r, "beacon_list")
	var bs []regmsg.BeaconEntry
	r.get(t, "beacons", &bs)
	if len(bs) != 1 || bs[0].ID != 7 {
		t.Fatalf("beacons %s", r.body)
	}
	e.clk.Add(61 * time.Second)
	r = e.send(&regmsg.BeaconList{})
	if string(r.fields["beacons"]) != "[]" {
		t.Fatalf("stale beacon listed %s", r.body)
	}
	e.cfg.BeaconToken = ""
	e.reopen()
	e.fail(e.send(&regmsg.BeaconRegister{BeaconID: 7, Addr: "192.0.2.9:9001", Token: "x"}), regmsg.CodeFailedPrecondition)
}

func TestRegistry_DeregisterAndPurge(t *testing.T) {
	e := newEnv(t)
	e.cfg.NodeTTL = time.Hour
	e.reopen()
	o, a, b := e.register(), e.register(), e.register()
	nw := e.network(o, "purge", "invite")
	e.invite(nw, a)
	e.ok(e.send(tok(&regmsg.InviteToNetwork{NetworkID: nw, TargetNodeID: b.ID}, globalToken)), "invite_to_network")
	r := e.signed(&regmsg.Deregister{NodeID: o.ID}, o.id)
	e.fail(r, regmsg.CodeFailedPrecondition)
	if !strings.Contains(r.err.Message, "owns network") {
		t.Fatalf("message %q", r.err.Message)
	}
	e.clk.Add(2 * time.Hour)
	e.ok(e.signed(&regmsg.Heartbeat{NodeID: a.ID}, a.id), "heartbeat")
	head := e.head()
	if err := e.h.Sweep(t.Context()); err != nil {
		t.Fatal(err)
	}
	ev := e.auditSince(head)
	// b is purged (its invite goes with it); o owns a network and stays; a is online.
	if len(ev) != 2 || ev[0].Action != regmsg.ActionInviteRemoved || ev[1].Action != regmsg.ActionNodeDeregistered ||
		Details(ev[1].Attrs) != "node_id="+itoa(b.ID)+", networks=[], reason=purge" || ev[1].AuthVia != "system" {
		t.Fatalf("purge audit %+v", ev)
	}
	e.fail(e.send(&regmsg.Lookup{NodeID: b.ID}), regmsg.CodeNotFound)
	e.ok(e.send(&regmsg.Lookup{NodeID: o.ID}), "lookup")
	// Deregister with the global token removes memberships.
	e.ok(e.send(tok(&regmsg.Deregister{NodeID: a.ID}, globalToken)), "deregister")
	if ev := e.lastAudit(); Details(ev.Attrs) != "node_id="+itoa(a.ID)+", networks=["+itoa(nw)+"], reason=request" || ev.AuthVia != "global_token" {
		t.Fatalf("deregister audit %q", Details(ev.Attrs))
	}
	e.fail(e.send(tok(&regmsg.Deregister{}, globalToken)), regmsg.CodeNotFound)
}

// §4.4 / §1: a beacon_list page of long addresses is cut below its limit
// to keep the reply within 65,536 bytes, with next_cursor set, and the
// pages together list every beacon once.
func TestRegistry_BeaconListFitsTheFrameCap(t *testing.T) {
	e := newEnv(t)
	const n = 400
	label := strings.Repeat("b", 59) // DNS labels of at most 63 bytes
	for i := 1; i <= n; i++ {
		addr := fmt.Sprintf("%04d%s.%s.%s.%s:65535", i, label[4:], label, label, label) // 245 bytes
		e.ok(e.send(&regmsg.BeaconRegister{BeaconID: regmsg.BeaconID(i), Addr: addr, Token: "beacon-secret"}), "beacon_register")
	}
	seen := map[regmsg.BeaconID]bool{}
	cursor, pages := "", 0
	for ; pages < n; pages++ {
		r := e.send(&regmsg.BeaconList{Page: regmsg.Page{Limit: 500, Cursor: cursor}})
		e.ok(r, "beacon_list")
		if len(r.body) > 65536 {
			t.Fatalf("page %d: reply of %d bytes", pages, len(r.body))
		}
		var bs []regmsg.BeaconEntry
		r.get(t, "beacons", &bs)
		for _, b := range bs {
			if seen[b.ID] {
				t.Fatalf("beacon %d listed twice", b.ID)
			}
			seen[b.ID] = true
		}
		cursor = ""
		if c, ok := r.fields["next_cursor"]; ok {
			_ = json.Unmarshal(c, &cursor)
		}
		if cursor == "" {
			break
		}
	}
	if len(seen) != n || pages == 0 {
		t.Fatalf("%d beacons listed over %d pages, want %d over more than one", len(seen), pages+1, n)
	}
}

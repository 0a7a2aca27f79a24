package storetest

import (
	"encoding/hex"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/identity"
	"github.com/pilot-go/pilot/internal/registry/store"
)

func testTrust(t *testing.T, b Backend) {
	s := open(t, b)
	a, c := mustCreate(t, s, "a"), mustCreate(t, s, "c")
	update(t, s, func(tx store.Tx) error {
		added, pair, err := tx.AddApproval(a, c, T0)
		if !added || pair {
			t.Errorf("first approval: added=%v pair=%v", added, pair)
		}
		added, pair, err2 := tx.AddApproval(a, c, T0)
		if added || pair {
			t.Errorf("repeat approval: added=%v pair=%v", added, pair)
		}
		return errors.Join(err, err2)
	})
	view(t, s, func(tx store.ReadTx) error {
		if p, _ := tx.TrustPair(a, c); p { // item 52: one side is no pair
			t.Error("one-sided approval forms a pair")
		}
		if ok, _ := tx.HasApproval(a, c); !ok {
			t.Error("HasApproval(a, c) = false")
		}
		return nil
	})
	update(t, s, func(tx store.Tx) error {
		_, pair, err := tx.AddApproval(c, a, T0)
		if !pair {
			t.Error("mutual approval forms no pair")
		}
		return err
	})
	view(t, s, func(tx store.ReadTx) error {
		p1, _ := tx.TrustPair(a, c)
		p2, _ := tx.TrustPair(c, a)
		if !p1 || !p2 {
			t.Error("pair not symmetric")
		}
		return nil
	})
	update(t, s, func(tx store.Tx) error {
		removed, pairRemoved, err := tx.RevokeTrust(c, a)
		if !removed || !pairRemoved {
			t.Errorf("revoke: %v %v", removed, pairRemoved)
		}
		removed, _, err2 := tx.RevokeTrust(a, c)
		if removed {
			t.Error("repeat revoke removed something")
		}
		return errors.Join(err, err2)
	})
	wantErr(t, s.Update(ctx(), func(tx store.Tx) error { _, _, err := tx.AddApproval(a, 99, T0); return err }), store.ErrNotFound)
}

func testHandshakes(t *testing.T, b Backend) {
	s := open(t, b)
	tgt := mustCreate(t, s, "target")
	var senders []addr.NodeID
	for i := range 101 {
		senders = append(senders, mustCreate(t, s, "s"+string(rune('A'+i%26))+string(rune('a'+i/26))))
	}
	ttl := time.Hour
	req := func(i int, at time.Time) store.HandshakeRequest {
		return store.HandshakeRequest{FromID: senders[i], ToID: tgt, Justification: "pls", Created: at, Expires: at.Add(ttl)}
	}
	update(t, s, func(tx store.Tx) error {
		for i := range 100 {
			q, err := tx.EnqueueHandshakeRequest(req(i, T0.Add(time.Duration(i)*time.Millisecond)))
			if err != nil || !q {
				t.Fatalf("enqueue %d: %v %v", i, q, err)
			}
		}
		q, err := tx.EnqueueHandshakeRequest(req(3, T0))
		if err != nil || q {
			t.Errorf("duplicate request queued=%v err=%v (already_pending)", q, err)
		}
		return nil
	})
	wantErr(t, s.Update(ctx(), func(tx store.Tx) error { _, err := tx.EnqueueHandshakeRequest(req(100, T0)); return err }), store.ErrInboxFull)
	update(t, s, func(tx store.Tx) error {
		for i := range 102 { // responses: ≤ 100, the oldest dropped
			r := store.HandshakeResponse{FromID: senders[i%101], ToID: tgt, Accept: i%2 == 0, Created: T0.Add(time.Duration(i) * time.Millisecond),
				Expires: T0.Add(ttl)}
			if err := tx.EnqueueHandshakeResponse(r); err != nil {
				return err
			}
		}
		return nil
	})
	// 100 requests and 100 responses, drained in pages of at most limit
	// items in all (§4.4): requests first, each kind oldest first.
	drain := func(limit int) (b store.HandshakeBatch) {
		t.Helper()
		update(t, s, func(tx store.Tx) error {
			var err error
			b, err = tx.DrainHandshakes(tgt, T0, limit)
			return err
		})
		return b
	}
	first := drain(60)
	if len(first.Requests) != 60 || len(first.Responses) != 0 || !first.More {
		t.Fatalf("first drain: %d requests, %d responses, more=%v", len(first.Requests), len(first.Responses), first.More)
	}
	if first.Requests[0].FromID != senders[0] || first.Requests[59].FromID != senders[59] || first.Requests[0].Justification != "pls" {
		t.Errorf("requests not oldest first: %+v", first.Requests[0])
	}
	// Drained entries are gone (item 54: each request is returned once).
	second := drain(100)
	if len(second.Requests) != 40 || len(second.Responses) != 60 || !second.More {
		t.Fatalf("second drain: %d, %d, more=%v", len(second.Requests), len(second.Responses), second.More)
	}
	if !second.Responses[0].Created.Equal(T0.Add(2*time.Millisecond)) || !second.Responses[0].Accept {
		t.Errorf("oldest responses not dropped: %+v", second.Responses[0])
	}
	third := drain(100)
	if len(third.Requests) != 0 || len(third.Responses) != 40 || third.More {
		t.Fatalf("third drain: %d, %d, more=%v", len(third.Requests), len(third.Responses), third.More)
	}
	// Expiry: entries past their expiry are neither returned nor counted.
	update(t, s, func(tx store.Tx) error {
		_, err := tx.EnqueueHandshakeRequest(req(0, T0))
		return err
	})
	view(t, s, func(tx store.ReadTx) error {
		p, _ := tx.HandshakePending(senders[0], tgt, T0.Add(ttl))
		if p {
			t.Error("expired request still pending")
		}
		return nil
	})
	update(t, s, func(tx store.Tx) error {
		got, err := tx.DrainHandshakes(tgt, T0.Add(ttl), 100)
		if len(got.Requests) != 0 {
			t.Errorf("expired request drained: %+v", got.Requests)
		}
		return err
	})
	update(t, s, func(tx store.Tx) error {
		if _, err := tx.EnqueueHandshakeRequest(req(1, T0)); err != nil {
			return err
		}
		n, err := tx.SweepHandshakes(T0.Add(ttl))
		if n != 1 {
			t.Errorf("SweepHandshakes = %d, want 1", n)
		}
		return err
	})
}

func testAudit(t *testing.T, b Backend) {
	s := open(t, b)
	type ev struct {
		action string
		attrs  []identity.AuditAttr
	}
	evs := []ev{
		{"network.created", []identity.AuditAttr{{Key: "network_id", Value: 3}, {Key: "name", Value: "prod-fleet"},
			{Key: "join_rule", Value: "token"}, {Key: "creator_node_id", Value: 685}}},
		{"tags.changed", []identity.AuditAttr{{Key: "node_id", Value: int64(686)}, {Key: "tags", Value: []string{"gpu", "eu-west"}},
			{Key: "old_tags_count", Value: 0}, {Key: "new_tags_count", Value: 2}}},
		{"network.policy_changed", []identity.AuditAttr{{Key: "network_id", Value: uint32(3)},
			{Key: "description", Value: "Prod <eu> & ü\tteam"}, {Key: "ports", Value: []int{80, 443}}, {Key: "mutual", Value: true}}},
		{"network.joined", []identity.AuditAttr{{Key: "node_id", Value: 7}, {Key: "network_id", Value: 4}, {Key: "join_rule", Value: "open"}}},
	}
	var appended []store.AuditEntry
	update(t, s, func(tx store.Tx) error {
		for i, e := range evs {
			at := T0.Add(time.Duration(i)*time.Second + 412*time.Millisecond)
			got, err := tx.AppendAudit(at, e.action, 685, "role", e.attrs)
			if err != nil {
				return err
			}
			appended = append(appended, got)
		}
		return nil
	})
	var prev [32]byte
	for i, e := range appended {
		if e.Seq != uint64(i+1) || e.Time != store.FormatAuditTime(T0.Add(time.Duration(i)*time.Second+412*time.Millisecond)) {
			t.Errorf("entry %d: seq %d time %s", i, e.Seq, e.Time)
		}
		h, err := identity.AuditHash(prev, e.Row())
		if err != nil || hex.EncodeToString(h[:]) != e.Hash {
			t.Errorf("entry %d hash %s, recomputed %x (%v)", i, e.Hash, h, err)
		}
		prev = h
	}
	if appended[0].Time != "2026-03-27T10:00:00.412Z" {
		t.Errorf("audit time = %q", appended[0].Time)
	}
	n, head, err := s.VerifyAudit(ctx())
	if err != nil || n != 4 || head != appended[3].Hash {
		t.Fatalf("VerifyAudit = %d %s %v", n, head, err)
	}
	view(t, s, func(tx store.ReadTx) error {
		all, err := tx.QueryAudit(store.AuditFilter{})
		if err != nil || len(all) != 4 || all[0].Seq != 4 {
			t.Fatalf("QueryAudit all = %d entries, %v", len(all), err)
		}
		// Attribute order (§9.3) and values survive storage.
		if got := all[3].Attrs; !reflect.DeepEqual(keys(got), []string{"network_id", "name", "join_rule", "creator_node_id"}) ||
			got[1].Value != "prod-fleet" || got[0].Value != int64(3) {
			t.Errorf("stored attrs = %#v", got)
		}
		if got := all[2].Attrs[1].Value; !reflect.DeepEqual(got, []string{"gpu", "eu-west"}) {
			t.Errorf("tags attr = %#v", got)
		}
		net3, _ := tx.QueryAudit(store.AuditFilter{Network: 3, HasNetwork: true})
		if len(net3) != 2 || net3[0].Seq != 3 || net3[1].Seq != 1 {
			t.Errorf("network 3 filter = %v", seqs(net3))
		}
		act, _ := tx.QueryAudit(store.AuditFilter{Action: "network.joined"})
		if len(act) != 1 || act[0].Seq != 4 {
			t.Errorf("action filter = %v", seqs(act))
		}
		page, _ := tx.QueryAudit(store.AuditFilter{Before: 4, Limit: 2})
		if !reflect.DeepEqual(seqs(page), []uint64{3, 2}) {
			t.Errorf("cursor page = %v", seqs(page))
		}
		if seq, h, _ := tx.AuditHead(); seq != 4 || h != appended[3].Hash {
			t.Errorf("AuditHead = %d %s", seq, h)
		}
		return nil
	})
	wantErr(t, s.Update(ctx(), func(tx store.Tx) error {
		_, err := tx.AppendAudit(T0, "x", 0, "system", []identity.AuditAttr{{Key: "bad", Value: 1.5}})
		return err
	}), store.ErrInvalid)
}

func keys(a []identity.AuditAttr) []string {
	var k []string
	for _, x := range a {
		k = append(k, x.Key)
	}
	return k
}

func seqs(es []store.AuditEntry) []uint64 {
	var out []uint64
	for _, e := range es {
		out = append(out, e.Seq)
	}
	return out
}

func testNonces(t *testing.T, b Backend) {
	s := open(t, b)
	k, n := Key("signer"), store.Nonce{1, 2, 3}
	exp := T0.Add(120 * time.Second)
	record := func(key store.PublicKey, nonce store.Nonce, now time.Time) bool {
		var seen bool
		update(t, s, func(tx store.Tx) error {
			var err error
			seen, err = tx.RecordNonce(key, nonce, now, now.Add(120*time.Second))
			return err
		})
		return seen
	}
	if record(k, n, T0) {
		t.Fatal("fresh nonce reported seen")
	}
	if !record(k, n, T0.Add(time.Second)) {
		t.Fatal("replayed nonce not seen (§5.2 step 5)")
	}
	if record(Key("other"), n, T0) || record(k, store.Nonce{9}, T0) {
		t.Fatal("distinct (key, nonce) reported seen")
	}
	if record(k, n, exp) {
		t.Fatal("nonce seen after its window")
	}
	update(t, s, func(tx store.Tx) error {
		c, err := tx.SweepNonces(exp.Add(time.Hour))
		if c != 3 {
			t.Errorf("SweepNonces = %d, want 3", c)
		}
		return err
	})
}

// testNoncesSurviveReopen: item 17, replay refused after a restart.
func testNoncesSurviveReopen(t *testing.T, b Backend) {
	s := b.New(t)
	k, n := Key("signer"), store.Nonce{7}
	update(t, s, func(tx store.Tx) error { _, err := tx.RecordNonce(k, n, T0, T0.Add(2*time.Minute)); return err })
	s = b.Reopen(t, s)
	defer s.Close()
	update(t, s, func(tx store.Tx) error {
		seen, err := tx.RecordNonce(k, n, T0.Add(time.Second), T0.Add(3*time.Minute))
		if !seen {
			t.Error("nonce forgotten across reopen")
		}
		return err
	})
}

func testEpochBeaconsStats(t *testing.T, b Backend) {
	s := open(t, b)
	update(t, s, func(tx store.Tx) error {
		for want := uint64(1); want <= 3; want++ {
			if got, err := tx.BumpPolicyEpoch(); err != nil || got != want {
				t.Errorf("BumpPolicyEpoch = %d, %v; want %d", got, err, want)
			}
		}
		must(t, tx.UpsertBeacon(store.Beacon{ID: 2, Addr: "b2:9001", Updated: T0}))
		must(t, tx.UpsertBeacon(store.Beacon{ID: 1, Addr: "b1:9001", Updated: T0.Add(-2 * time.Minute)}))
		return tx.UpsertBeacon(store.Beacon{ID: 1, Addr: "b1:9002", Updated: T0.Add(time.Second)})
	})
	a, c, d := mustCreate(t, s, "a"), mustCreate(t, s, "c"), mustCreate(t, s, "d")
	n := mustNetwork(t, s, "n", store.JoinInvite, a)
	update(t, s, func(tx store.Tx) error {
		must(t, tx.AddMember(n, c, store.RoleAdmin, T0))
		must(t, tx.SetLastSeen(d, T0.Add(-time.Hour)))
		nd, _ := tx.Node(c)
		nd.TaskExec = true
		must(t, tx.UpdateNode(nd))
		tx.AddApproval(a, c, T0)
		tx.AddApproval(c, a, T0)
		tx.AddApproval(a, d, T0)
		return tx.CreateInvite(store.Invite{NetworkID: n, TargetID: d, InviterID: a, Created: T0, Expires: T0.Add(time.Hour)})
	})
	view(t, s, func(tx store.ReadTx) error {
		if e, _ := tx.PolicyEpoch(); e != 3 {
			t.Errorf("PolicyEpoch = %d", e)
		}
		bs, err := tx.ListBeacons(T0.Add(-time.Minute), 0, 0)
		if err != nil || len(bs) != 2 || bs[0].ID != 1 || bs[0].Addr != "b1:9002" {
			t.Errorf("ListBeacons = %+v, %v", bs, err)
		}
		st, err := tx.Stats(T0, T0.Add(-3*time.Minute))
		want := store.Stats{NodesOnline: 2, NodesTotal: 3, Networks: 1, TrustLinks: 1, TaskExecutors: 1, InvitesPending: 1,
			Owners: 1, Admins: 1, Members: 0}
		if err != nil || st != want {
			t.Errorf("Stats = %+v, %v; want %+v", st, err, want)
		}
		return nil
	})
	update(t, s, func(tx store.Tx) error {
		c, err := tx.SweepBeacons(T0.Add(30 * time.Second))
		if c != 2 {
			t.Errorf("SweepBeacons = %d", c)
		}
		return err
	})
}

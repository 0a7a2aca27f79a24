package handlers

import (
	"bufio"
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/wire/regmsg"
)

// auditKeys is the attribute list of every action (registry.md §9.3).
var auditKeys = map[string][]string{
	"node.registered":        {"node_id", "mode"},
	"node.re_registered":     {"node_id", "mode", "endpoint_changed"},
	"node.deregistered":      {"node_id", "networks", "reason"},
	"network.created":        {"network_id", "name", "join_rule", "creator_node_id"},
	"network.deleted":        {"network_id", "name", "members", "invites_removed"},
	"network.renamed":        {"network_id", "old_name", "new_name"},
	"network.joined":         {"node_id", "network_id", "join_rule"},
	"network.left":           {"node_id", "network_id"},
	"network.policy_changed": {"network_id", "fields", "max_members", "allowed_ports_count", "description", "old_max_members", "new_max_members", "old_allowed_ports_count", "new_allowed_ports_count"},
	"member.promoted":        {"target_node_id", "network_id", "old_role", "new_role"},
	"member.demoted":         {"target_node_id", "network_id", "old_role", "new_role"},
	"member.kicked":          {"target_node_id", "network_id", "role"},
	"ownership.transferred":  {"network_id", "old_owner", "new_owner", "new_owner_old_role"},
	"trust.created":          {"node_a", "node_b", "mutual"},
	"trust.revoked":          {"node_a", "node_b"},
	"visibility.changed":     {"node_id", "public", "old_public", "new_public"},
	"task_exec.changed":      {"node_id", "enabled", "old_enabled", "new_enabled"},
	"hostname.changed":       {"node_id", "hostname", "old_hostname", "new_hostname"},
	"tags.changed":           {"node_id", "tags", "old_tags_count", "new_tags_count"},
	"handshake.relayed":      {"from_node_id", "to_node_id"},
	"handshake.responded":    {"node_id", "peer_id", "accept"},
	"key.rotated":            {"node_id", "rotate_count"},
	"key.expiry_set":         {"node_id", "expires_at", "old_expires_at"},
	"key.reassigned":         {"node_id", "rotate_count"},
	"invite.created":         {"network_id", "inviter_id", "target_node_id"},
	"invite.responded":       {"node_id", "network_id", "accepted"},
	"invite.removed":         {"network_id", "node_id", "inviter_id", "reason"},
	"polo_score.changed":     {"node_id", "old_score", "new_score"},
}

// everyAction runs a scenario that emits every action of §9.3.
func everyAction(t *testing.T, e *env) {
	o, a, b := e.register(), e.register(), e.register()
	e.ok(e.signed(&regmsg.Register{PublicKey: a.id.PublicKeyBase64(), Hostname: "re-reg"}, a.id), "register")
	nw := e.network(o, "every", "invite")
	e.invite(nw, a)
	e.ok(e.signed(&regmsg.PromoteMember{MemberTarget: regmsg.MemberTarget{NodeID: o.ID, NetworkID: nw, TargetNodeID: a.ID}}, o.id), "promote_member")
	e.ok(e.signed(&regmsg.DemoteMember{MemberTarget: regmsg.MemberTarget{NodeID: o.ID, NetworkID: nw, TargetNodeID: a.ID}}, o.id), "demote_member")
	e.ok(e.signed(&regmsg.TransferOwnership{NodeID: o.ID, NetworkID: nw, NewOwnerID: a.ID}, o.id), "transfer_ownership")
	e.ok(e.signed(&regmsg.TransferOwnership{NodeID: a.ID, NetworkID: nw, NewOwnerID: o.ID}, a.id), "transfer_ownership")
	e.ok(e.signed(&regmsg.KickMember{MemberTarget: regmsg.MemberTarget{NodeID: o.ID, NetworkID: nw, TargetNodeID: a.ID}}, o.id), "kick_member")
	e.invite(nw, b)
	e.ok(e.signed(&regmsg.LeaveNetwork{NetworkRef: regmsg.NetworkRef{NodeID: b.ID, NetworkID: nw}}, b.id), "leave_network")
	e.ok(e.signed(&regmsg.RenameNetwork{NodeID: o.ID, NetworkID: nw, Name: "every-renamed"}, o.id), "rename_network")
	d := "desc <&>"
	e.ok(e.signed(&regmsg.SetNetworkPolicy{NodeID: o.ID, NetworkID: nw, Description: &d, AllowedPorts: []addr.Port{80}}, o.id), "set_network_policy")
	e.ok(e.send(tok(&regmsg.InviteToNetwork{NetworkID: nw, TargetNodeID: a.ID}, globalToken)), "invite_to_network")
	e.ok(e.signed(&regmsg.RespondInvite{NodeID: a.ID, NetworkID: nw, Accept: false}, a.id), "respond_invite")
	e.ok(e.send(tok(&regmsg.InviteToNetwork{NetworkID: nw, TargetNodeID: b.ID}, globalToken)), "invite_to_network")
	e.ok(e.signed(&regmsg.SetVisibility{NodeID: a.ID, Public: true}, a.id), "set_visibility")
	e.ok(e.signed(&regmsg.SetTaskExec{NodeID: a.ID, Enabled: true}, a.id), "set_task_exec")
	e.ok(e.signed(&regmsg.SetHostname{NodeID: a.ID, Hostname: "host-a"}, a.id), "set_hostname")
	e.ok(e.signed(&regmsg.SetTags{NodeID: a.ID, Tags: []string{"x", "y"}}, a.id), "set_tags")
	e.ok(e.signed(&regmsg.ReportTrust{TrustPair: trustPair(a, b)}, a.id), "report_trust")
	e.ok(e.signed(&regmsg.RevokeTrust{TrustPair: trustPair(a, b)}, a.id), "revoke_trust")
	e.ok(e.signed(&regmsg.RequestHandshake{FromNodeID: a.ID, ToNodeID: b.ID}, a.id), "request_handshake")
	e.ok(e.signed(&regmsg.RespondHandshake{NodeID: b.ID, PeerID: a.ID, Accept: true}, b.id), "respond_handshake")
	newKey := newIdentity(t)
	e.ok(e.send(e.rotateReq(a, newKey)), "rotate_key")
	a.id = newKey
	exp := e.clk.Now().Add(48 * time.Hour).Format(time.RFC3339)
	e.ok(e.signed(&regmsg.SetKeyExpiry{NodeID: a.ID, ExpiresAt: exp}, a.id), "set_key_expiry")
	k2 := newIdentity(t)
	e.ok(e.signed(tok(&regmsg.ReassignKey{NodeID: a.ID, NewPublicKey: k2.PublicKeyBase64()}, globalToken), k2), "reassign_key")
	a.id = k2
	e.ok(e.send(tok(&regmsg.UpdatePoloScore{NodeID: a.ID, Delta: 5}, globalToken)), "update_polo_score")
	e.ok(e.signed(&regmsg.Deregister{NodeID: b.ID}, b.id), "deregister")
	e.ok(e.send(tok(&regmsg.DeleteNetwork{NetworkRef: regmsg.NetworkRef{NetworkID: nw}}, globalToken)), "delete_network")
}

func TestRegistry_C62_AuditAttributes(t *testing.T) {
	e := newEnv(t)
	everyAction(t, e)
	seen := map[string]bool{}
	for _, ev := range e.auditSince(0) {
		want, ok := auditKeys[ev.Action]
		if !ok {
			t.Fatalf("unknown action %q", ev.Action)
		}
		var keys []string
		for _, a := range ev.Attrs {
			keys = append(keys, a.Key)
		}
		if !slices.Equal(keys, want) {
			t.Errorf("%s: attrs %v, want %v", ev.Action, keys, want)
		}
		seen[ev.Action] = true
	}
	for _, a := range regmsg.AuditActions {
		if !seen[a] && a != regmsg.ActionInviteRemoved {
			t.Errorf("action %s never emitted", a)
		}
	}
	if !seen[regmsg.ActionInviteRemoved] {
		t.Error("invite.removed never emitted (deregister of an invited node)")
	}
	// Log records: msg audit at INFO, attributes in order.
	sc := bufio.NewScanner(strings.NewReader(e.audit.String()))
	sc.Buffer(nil, 1<<20)
	n := 0
	for sc.Scan() {
		keys := orderedKeys(t, sc.Bytes())
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatal(err)
		}
		if rec["msg"] != "audit" || rec["level"] != "INFO" {
			t.Fatalf("record %s", sc.Bytes())
		}
		action := rec["audit_action"].(string)
		want := append([]string{"time", "level", "msg", "audit_action"}, auditKeys[action]...)
		want = append(want, "actor_node_id", "auth_via", "audit_seq", "audit_hash")
		if !slices.Equal(keys, want) {
			t.Errorf("record keys %v, want %v", keys, want)
		}
		n++
	}
	if uint64(n) != e.head() {
		t.Fatalf("%d log records for %d rows", n, e.head())
	}
	if !strings.Contains(e.audit.String(), `"description":"desc <&>"`) {
		t.Error("audit record escapes HTML")
	}
}

func orderedKeys(t *testing.T, line []byte) []string {
	dec := json.NewDecoder(bytes.NewReader(line))
	if _, err := dec.Token(); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

func TestRegistry_C63_NoAuditForNoOpsAndFailures(t *testing.T) {
	e := newEnv(t)
	o, a := e.register(), e.register()
	nw := e.network(o, "noop", "open")
	e.ok(e.send(tok(&regmsg.SetPoloScore{NodeID: a.ID, PoloScore: 3}, globalToken)), "set_polo_score")
	head, logs := e.head(), e.audit.String()
	e.ok(e.signed(&regmsg.SetVisibility{NodeID: a.ID, Public: false}, a.id), "set_visibility")
	e.ok(e.signed(&regmsg.SetTaskExec{NodeID: a.ID, Enabled: false}, a.id), "set_task_exec")
	e.ok(e.signed(&regmsg.SetTags{NodeID: a.ID}, a.id), "set_tags")
	e.ok(e.signed(&regmsg.SetHostname{NodeID: a.ID, Hostname: ""}, a.id), "set_hostname")
	e.ok(e.signed(&regmsg.RenameNetwork{NodeID: o.ID, NetworkID: nw, Name: "noop"}, o.id), "rename_network")
	zero := uint32(0)
	e.ok(e.signed(&regmsg.SetNetworkPolicy{NodeID: o.ID, NetworkID: nw, MaxMembers: &zero}, o.id), "set_network_policy")
	e.ok(e.send(tok(&regmsg.SetPoloScore{NodeID: a.ID, PoloScore: 3}, globalToken)), "set_polo_score")
	e.ok(e.signed(&regmsg.SetKeyExpiry{NodeID: a.ID, ExpiresAt: ""}, a.id), "set_key_expiry")
	e.fail(e.signed(&regmsg.JoinNetwork{NodeID: o.ID, NetworkID: nw}, o.id), regmsg.CodeAlreadyExists)
	e.fail(e.signed(&regmsg.DeleteNetwork{NetworkRef: regmsg.NetworkRef{NodeID: a.ID, NetworkID: nw}}, a.id), regmsg.CodePermissionDenied)
	if e.head() != head || e.audit.String() != logs {
		t.Fatal("no-op or failed request was audited")
	}
}

func TestRegistry_C66_GetAuditLog(t *testing.T) {
	e := newEnv(t)
	o, a, m := e.register(), e.register(), e.register()
	nw := e.network(o, "audited", "open")
	e.join(a, nw)
	e.join(m, nw)
	e.ok(e.signed(&regmsg.PromoteMember{MemberTarget: regmsg.MemberTarget{NodeID: o.ID, NetworkID: nw, TargetNodeID: a.ID}}, o.id), "promote_member")
	e.fail(e.signed(&regmsg.GetAuditLog{NodeID: m.ID, NetworkID: &nw}, m.id), regmsg.CodePermissionDenied)
	e.fail(e.signed(&regmsg.GetAuditLog{NodeID: o.ID}, o.id), regmsg.CodeInvalidArgument)
	r := e.signed(&regmsg.GetAuditLog{NodeID: a.ID, NetworkID: &nw}, a.id)
	e.ok(r, "get_audit_log")
	var entries []regmsg.AuditEntry
	r.get(t, "entries", &entries)
	if len(entries) != 4 || entries[0].Action != regmsg.ActionMemberPromoted || entries[3].Action != regmsg.ActionNetworkCreated {
		t.Fatalf("entries %s", r.body)
	}
	if entries[0].Details != "target_node_id="+itoa(a.ID)+", network_id="+itoa(nw)+", old_role=member, new_role=admin" ||
		entries[0].NetworkID != nw || entries[0].AuthVia != "role" || entries[0].Hash == "" || len(entries[0].Timestamp) != 24 {
		t.Fatalf("entry %+v", entries[0])
	}
	if entries[1].NodeID != m.ID {
		t.Fatalf("node_id of network.joined: %+v", entries[1])
	}
	// Global token: every event, paged newest first.
	r = e.send(tok(&regmsg.GetAuditLog{Page: regmsg.Page{Limit: 3}}, globalToken))
	r.get(t, "entries", &entries)
	var cursor string
	r.get(t, "next_cursor", &cursor)
	first := entries[0].Seq
	if len(entries) != 3 || first != e.head() {
		t.Fatalf("page 1 %s", r.body)
	}
	r = e.send(tok(&regmsg.GetAuditLog{Page: regmsg.Page{Limit: 3, Cursor: cursor}}, globalToken))
	r.get(t, "entries", &entries)
	if entries[0].Seq != first-3 {
		t.Fatalf("page 2 %s", r.body)
	}
	// Cursors the registry never issues are refused (§4.4): sequence
	// numbers start at 1, so "0" is one (it must not mean "no bound").
	for _, bad := range []string{"0", "-1", "01", "x"} {
		e.fail(e.send(tok(&regmsg.GetAuditLog{Page: regmsg.Page{Limit: 3, Cursor: bad}}, globalToken)), regmsg.CodeInvalidArgument)
	}
	action := regmsg.ActionNodeRegistered
	r = e.send(tok(&regmsg.GetAuditLog{Action: action}, globalToken))
	r.get(t, "entries", &entries)
	if len(entries) != 3 {
		t.Fatalf("filter %s", r.body)
	}
}

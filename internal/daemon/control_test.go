package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/identity"
	"github.com/pilot-go/pilot/internal/regclient"
	"github.com/pilot-go/pilot/internal/wire/ipcmsg"
	"github.com/pilot-go/pilot/internal/wire/regmsg"
)

// kind names the JSON type of a decoded value ("int" for integers).
func kind(v any) string {
	switch x := v.(type) {
	case json.Number:
		if strings.ContainsAny(x.String(), ".eE") {
			return "float"
		}
		return "int"
	case string:
		return "str"
	case bool:
		return "bool"
	case []any:
		return "arr"
	case map[string]any:
		return "obj"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

func checkKeys(t *testing.T, what string, m map[string]any, want map[string]string) {
	t.Helper()
	for k, typ := range want {
		v, ok := m[k]
		if !ok {
			t.Errorf("%s: key %q missing", what, k)
			continue
		}
		if got := kind(v); got != typ {
			t.Errorf("%s: key %q is %s (%v), want %s", what, k, got, v, typ)
		}
	}
}

// ipc.md §12 item 8: every Info key of §6 is present with its type, also
// with no peers, connections or networks (networks is []).
func TestIPC_C8_InfoKeysWithNothing(t *testing.T) {
	reg := startRegistry(t)
	n := startNode(t, reg, "", "-hostname", "alpha", "-email", "ops@example.com")
	c := dialIPC(t, n.sock)
	info := object(t, c.body(ipcmsg.Info{}))
	checkKeys(t, "info", info, map[string]string{
		"node_id": "int", "address": "str", "hostname": "str", "uptime_secs": "int", "connections": "int",
		"ports": "int", "peers": "int", "encrypted_peers": "int", "authenticated_peers": "int",
		"encrypt": "bool", "identity": "bool", "public_key": "str", "email": "str", "bytes_sent": "int",
		"bytes_recv": "int", "pkts_sent": "int", "pkts_recv": "int", "tunnel_encryption_success": "int",
		"tunnel_encryption_failure": "int", "handshake_pending_count": "int", "version": "str",
		"networks": "arr", "peer_list": "arr", "conn_list": "arr",
	})
	if len(info) != 24 {
		t.Errorf("info has %d keys, want 24: %v", len(info), info)
	}
	for _, k := range []string{"networks", "peer_list", "conn_list"} {
		if l, _ := info[k].([]any); len(l) != 0 {
			t.Errorf("%s = %v, want []", k, info[k])
		}
	}
	self := n.d.NodeID()
	if info["node_id"].(json.Number).String() != fmt.Sprint(uint32(self)) ||
		info["address"] != addr.New(0, self).String() || info["hostname"] != "alpha" ||
		info["email"] != "ops@example.com" || info["encrypt"] != true || info["identity"] != true ||
		info["public_key"] != n.d.Identity().PublicKeyBase64() || info["version"] != Version {
		t.Errorf("info values: %v", info)
	}
	// Built-in services: 444, 7, 1001, 1002, 1003.
	if info["ports"].(json.Number).String() != "5" {
		t.Errorf("ports = %v, want the 5 built-in service ports", info["ports"])
	}
}

// ipc.md §7, §12 item 9: Health keys.
func TestIPC_C9_HealthKeys(t *testing.T) {
	reg := startRegistry(t)
	n := startNode(t, reg, "")
	h := object(t, dialIPC(t, n.sock).body(ipcmsg.Health{}))
	checkKeys(t, "health", h, map[string]string{
		"status": "str", "uptime_seconds": "int", "connections": "int", "peers": "int",
		"bytes_sent": "int", "bytes_recv": "int", "registry": "str", "webhook": "obj",
	})
	checkKeys(t, "health.webhook", h["webhook"].(map[string]any), map[string]string{
		"configured": "bool", "queued": "int", "delivered": "int", "failed": "int", "dropped": "int",
		"last_event_id": "int",
	})
	if h["status"] != "ok" || h["registry"] != "ok" {
		t.Errorf("health %v, want status ok, registry ok", h)
	}
	if _, ok := h["key_expires_at"]; ok {
		t.Errorf("key_expires_at present without an expiry: %v", h)
	}
}

// ipc.md §5.18: Network sub-commands answer with the registry's objects
// verbatim; failures carry "network <label>: <registry message>" and the
// registry's code; a join refreshes Info's networks before the reply.
func TestIPC_NetworkSubcommands(t *testing.T) {
	reg := startRegistry(t)
	a := startNode(t, reg, "")
	ca := dialIPC(t, a.sock)
	created := ca.opBody(`{"op":"network.create","name":"lab","join_rule":"open","admin_token":"` + testAdminToken + `"}`)
	nid, _ := created["network_id"].(json.Number).Int64()
	if nid == 0 || created["name"] != "lab" || created["join_rule"] != "open" {
		t.Fatalf("network.create data %v", created)
	}
	if _, ok := created["type"]; ok {
		t.Errorf("RegistryOp data keeps the registry's type: %v", created)
	}
	net := addr.NetworkID(nid)
	if got := a.d.Memberships().List(); len(got) != 1 || got[0] != net {
		t.Errorf("creator's memberships after network.create: %v", got)
	}

	b := startNode(t, reg, "")
	cb := dialIPC(t, b.sock)
	join := object(t, cb.body(ipcmsg.Network{Sub: ipcmsg.NetworkJoin, Network: net}))
	if join["type"] != "join_network_ok" || join["address"] != addr.New(net, b.d.NodeID()).String() {
		t.Errorf("join reply %v, want the registry's join_network_ok verbatim", join)
	}
	info := object(t, cb.body(ipcmsg.Info{}))
	nets, _ := info["networks"].([]any)
	if len(nets) != 1 || nets[0].(map[string]any)["address"] != addr.New(net, b.d.NodeID()).String() {
		t.Errorf("info networks after join: %v", info["networks"])
	}

	list := object(t, cb.body(ipcmsg.Network{Sub: ipcmsg.NetworkList}))
	if list["type"] != "list_networks_ok" {
		t.Errorf("list reply %v", list)
	}
	found := false
	for _, e := range list["networks"].([]any) {
		m := e.(map[string]any)
		if m["id"].(json.Number).String() == fmt.Sprint(nid) && m["name"] == "lab" {
			found = true
		}
	}
	if !found {
		t.Errorf("list reply lacks network %d: %v", nid, list)
	}
	members := object(t, cb.body(ipcmsg.Network{Sub: ipcmsg.NetworkMembers, Network: net}))
	if members["type"] != "list_nodes_ok" || len(members["nodes"].([]any)) != 2 {
		t.Errorf("members reply %v, want list_nodes_ok with 2 nodes", members)
	}
	invites := object(t, cb.body(ipcmsg.Network{Sub: ipcmsg.NetworkPollInvites}))
	if invites["type"] != "poll_invites_ok" {
		t.Errorf("poll invites reply %v", invites)
	}
	leave := object(t, cb.body(ipcmsg.Network{Sub: ipcmsg.NetworkLeave, Network: net}))
	if leave["type"] != "leave_network_ok" {
		t.Errorf("leave reply %v", leave)
	}
	if got := b.d.Memberships().List(); len(got) != 0 {
		t.Errorf("memberships after leave: %v", got)
	}

	for _, tc := range []struct {
		m     ipcmsg.Network
		label string
		code  ipcmsg.Code
	}{
		{ipcmsg.Network{Sub: ipcmsg.NetworkJoin, Network: 999}, "network join: ", ipcmsg.CodeNotFound},
		{ipcmsg.Network{Sub: ipcmsg.NetworkLeave, Network: 999}, "network leave: ", ipcmsg.CodeNotFound},
		{ipcmsg.Network{Sub: ipcmsg.NetworkMembers, Network: 999}, "network members: ", ipcmsg.CodeNotFound},
		{ipcmsg.Network{Sub: ipcmsg.NetworkInvite, Network: 999, Node: a.d.NodeID()}, "network invite: ", ipcmsg.CodeNotFound},
	} {
		e := cb.fail(tc.m)
		if !strings.HasPrefix(e.Text, tc.label) || len(e.Text) == len(tc.label) || e.Code != tc.code {
			t.Errorf("sub %d: error %d %q, want code %d and %q<registry message>", tc.m.Sub, e.Code, e.Text, tc.code, tc.label)
		}
	}
}

// ipc.md §12 item 12: RegistryOp network admin ops reach the registry
// signed with auth v2 (and without a token the op does not need); a
// registry refusal comes back with the registry's code and message.
func TestIPC_C12_RegistryOpSignedAndRefused(t *testing.T) {
	reg := startRegistry(t)
	a := startNode(t, reg, "")
	b := startNode(t, reg, "")
	ca, cb := dialIPC(t, a.sock), dialIPC(t, b.sock)
	created := ca.opBody(`{"op":"network.create","name":"ops","join_rule":"open","admin_token":"` + testAdminToken + `"}`)
	nid := created["network_id"].(json.Number).String()
	cb.opBody(`{"op":"network.join","network_id":` + nid + `}`)
	bid := fmt.Sprint(uint32(b.d.NodeID()))
	ops := []struct{ js, typ string }{
		{`{"op":"network.promote","network_id":` + nid + `,"node_id":` + bid + `}`, regmsg.TypePromoteMember},
		{`{"op":"network.role","network_id":` + nid + `,"node_id":` + bid + `}`, regmsg.TypeGetMemberRole},
		{`{"op":"network.demote","network_id":` + nid + `,"node_id":` + bid + `}`, regmsg.TypeDemoteMember},
		{`{"op":"network.set_policy","network_id":` + nid + `,"allowed_ports":[7,1000],"description":"d"}`, regmsg.TypeSetNetworkPolicy},
		{`{"op":"network.policy","network_id":` + nid + `}`, regmsg.TypeGetNetworkPolicy},
		{`{"op":"network.rename","network_id":` + nid + `,"name":"ops2"}`, regmsg.TypeRenameNetwork},
		{`{"op":"network.audit","network_id":` + nid + `}`, regmsg.TypeGetAuditLog},
		{`{"op":"network.kick","network_id":` + nid + `,"node_id":` + bid + `}`, regmsg.TypeKickMember},
		{`{"op":"network.transfer","network_id":` + nid + `,"node_id":` + bid + `}`, ""},
		{`{"op":"network.delete","network_id":` + nid + `}`, ""},
	}
	for _, op := range ops[:8] {
		data := ca.opBody(op.js)
		if _, ok := data["type"]; ok {
			t.Errorf("%s: data keeps type: %v", op.js, data)
		}
		reqs := a.rec.requests(t, op.typ)
		if len(reqs) == 0 {
			t.Fatalf("%s: no %s request recorded", op.js, op.typ)
		}
		r := reqs[len(reqs)-1]
		if regmsg.AuthVersion(r) != regmsg.AuthV2 || r.Signer() != a.d.NodeID() || r.AuthFields().AdminToken != nil {
			t.Errorf("%s: %s sent with auth %v signer %d admin token %v; want v2 by %d without a token",
				op.js, op.typ, regmsg.AuthVersion(r), r.Signer(), r.AuthFields().AdminToken != nil, a.d.NodeID())
		}
	}
	pol := ca.opBody(`{"op":"network.policy","network_id":` + nid + `}`)
	if pol["description"] != "d" || len(pol["allowed_ports"].([]any)) != 2 {
		t.Errorf("policy after set_policy: %v", pol)
	}
	// B is not an admin of the network and has no admin token: refused
	// with the registry's code and message.
	rep := cb.op(`{"op":"network.rename","network_id":` + nid + `,"name":"mine"}`)
	e, ok := rep.(ipcmsg.Error)
	if !ok || e.Code != ipcmsg.CodePermissionDenied || e.Text == "" || strings.Contains(e.Text, "rename:") {
		t.Errorf("refused rename: %#v, want code 5 with the registry's message", rep)
	}
	// Bad arguments are invalid_argument.
	if e, ok := cb.op(`{"op":"network.kick","network_id":` + nid + `}`).(ipcmsg.Error); !ok ||
		e.Code != ipcmsg.CodeInvalidArgument || e.Text != `missing argument "node_id"` {
		t.Errorf("missing node_id: %#v", e)
	}
}

// cli.md §4.4: least privilege: a join is sent signed without a token
// first and retried once with the daemon's -admin-token after
// permission_denied; without a token the refusal is returned.
func TestIPC_LeastPrivilegeTokenRetry(t *testing.T) {
	reg := startRegistry(t)
	a := startNode(t, reg, "")
	ca := dialIPC(t, a.sock)
	created := ca.opBody(`{"op":"network.create","name":"tok","join_rule":"token","token":"join-secret","admin_token":"` + testAdminToken + `"}`)
	nid, _ := created["network_id"].(json.Number).Int64()
	net := addr.NetworkID(nid)

	plain := startNode(t, reg, "")
	e := dialIPC(t, plain.sock).fail(ipcmsg.Network{Sub: ipcmsg.NetworkJoin, Network: net})
	if e.Code != ipcmsg.CodePermissionDenied || !strings.HasPrefix(e.Text, "network join: ") {
		t.Errorf("join without token: %d %q", e.Code, e.Text)
	}
	if n := len(plain.rec.requests(t, regmsg.TypeJoinNetwork)); n != 1 {
		t.Errorf("daemon without a token sent %d join requests, want 1", n)
	}

	admin := startNode(t, reg, "", "-admin-token", testAdminToken)
	rep := object(t, dialIPC(t, admin.sock).body(ipcmsg.Network{Sub: ipcmsg.NetworkJoin, Network: net}))
	if rep["type"] != "join_network_ok" {
		t.Errorf("join with the daemon's admin token: %v", rep)
	}
	joins := admin.rec.requests(t, regmsg.TypeJoinNetwork)
	if len(joins) != 2 || joins[0].AuthFields().AdminToken != nil || joins[1].AuthFields().AdminToken == nil ||
		*joins[1].AuthFields().AdminToken != testAdminToken {
		t.Fatalf("join requests: %d, want a tokenless one then one with the admin token", len(joins))
	}
	for i, j := range joins {
		if regmsg.AuthVersion(j) != regmsg.AuthV2 {
			t.Errorf("join %d not signed with v2", i)
		}
	}
}

// ipc.md §10.4 webhook.* ops and §5.16 SetWebhook.
func TestIPC_WebhookOps(t *testing.T) {
	reg := startRegistry(t)
	n := startNode(t, reg, "")
	c := dialIPC(t, n.sock)
	set := c.opBody(`{"op":"webhook.set","url":"http://127.0.0.1:9/hook","secret":"whsec_test"}`)
	if set["webhook"] != "http://127.0.0.1:9/hook" || set["signed"] != true {
		t.Errorf("webhook.set data %v", set)
	}
	st := c.opBody(`{"op":"webhook.status"}`)
	checkKeys(t, "webhook.status", st, map[string]string{"configured": "bool", "url": "str", "signed": "bool",
		"queued": "int", "delivered": "int", "failed": "int", "dropped": "int", "last_event_id": "int"})
	if st["configured"] != true || st["url"] != "http://127.0.0.1:9/hook" || st["signed"] != true {
		t.Errorf("webhook.status %v", st)
	}
	if clr := c.opBody(`{"op":"webhook.clear"}`); len(clr) != 1 || clr["webhook"] != "" {
		t.Errorf("webhook.clear data %v", clr)
	}
	if st := c.opBody(`{"op":"webhook.status"}`); st["configured"] != false {
		t.Errorf("status after clear %v", st)
	}
	if got := object(t, c.body(ipcmsg.SetWebhook{URL: "https://example.com/h"})); got["webhook"] != "https://example.com/h" {
		t.Errorf("SetWebhook reply %v", got)
	}
	e := c.fail(ipcmsg.SetWebhook{URL: "ftp://example.com/h"})
	if e.Code != ipcmsg.CodeInvalidArgument || e.Text != `webhook URL must use http or https scheme, got "ftp"` {
		t.Errorf("bad scheme: %d %q", e.Code, e.Text)
	}
}

// ipc.md §5.10–§5.15: node commands reply verbatim; SetHostname is
// remembered (Info); SetTags refuses more than 10; handshake lists are [].
func TestIPC_NodeCommands(t *testing.T) {
	reg := startRegistry(t)
	n := startNode(t, reg, "")
	c := dialIPC(t, n.sock)
	host := object(t, c.body(ipcmsg.SetHostname{Hostname: "bravo"}))
	if host["type"] != "set_hostname_ok" || host["hostname"] != "bravo" {
		t.Errorf("SetHostname reply %v", host)
	}
	if info := object(t, c.body(ipcmsg.Info{})); info["hostname"] != "bravo" {
		t.Errorf("Info hostname %v", info["hostname"])
	}
	res := object(t, c.body(ipcmsg.ResolveHostname{Hostname: "bravo"}))
	if res["type"] != "resolve_hostname_ok" || res["node_id"].(json.Number).String() != fmt.Sprint(uint32(n.d.NodeID())) {
		t.Errorf("ResolveHostname reply %v", res)
	}
	if e := c.fail(ipcmsg.ResolveHostname{Hostname: "nobody-here"}); !strings.HasPrefix(e.Text, "resolve_hostname: ") || e.Code != ipcmsg.CodeNotFound {
		t.Errorf("unknown hostname: %d %q", e.Code, e.Text)
	}
	vis := object(t, c.body(ipcmsg.SetVisibility{Public: true}))
	if vis["type"] != "set_visibility_ok" || !n.d.Registrar().Public() {
		t.Errorf("SetVisibility reply %v, public %v", vis, n.d.Registrar().Public())
	}
	tags := object(t, c.body(ipcmsg.SetTags{Tags: []string{"gpu", "eu"}}))
	if tags["type"] != "set_tags_ok" || len(tags["tags"].([]any)) != 2 {
		t.Errorf("SetTags reply %v", tags)
	}
	eleven := make([]string, 11)
	for i := range eleven {
		eleven[i] = fmt.Sprintf("t%d", i)
	}
	if e := c.fail(ipcmsg.SetTags{Tags: eleven}); e.Text != "set_tags: maximum 10 tags allowed" || e.Code != ipcmsg.CodeInvalidArgument {
		t.Errorf("11 tags: %d %q", e.Code, e.Text)
	}
	if p := string(c.body(ipcmsg.Handshake{Sub: ipcmsg.HandshakePending})); p != `{"pending":[]}` {
		t.Errorf("pending %s", p)
	}
	if p := string(c.body(ipcmsg.Handshake{Sub: ipcmsg.HandshakeTrusted})); p != `{"trusted":[]}` {
		t.Errorf("trusted %s", p)
	}
	if e := c.fail(ipcmsg.Handshake{Sub: ipcmsg.HandshakeRevoke, Node: 12345}); e.Code != ipcmsg.CodeNotFound ||
		!strings.HasPrefix(e.Text, "handshake revoke: ") {
		t.Errorf("revoke untrusted: %d %q", e.Code, e.Text)
	}
	ki := object(t, replyBody(t, c.op(`{"op":"key.info"}`)))
	checkKeys(t, "key.info", ki, map[string]string{"node_id": "int", "created_at": "str", "rotate_count": "int",
		"key_age_days": "int", "expired": "bool"})
	dereg := object(t, c.body(ipcmsg.Deregister{}))
	if dereg["type"] != "deregister_ok" {
		t.Errorf("Deregister reply %v", dereg)
	}
	self := n.d.NodeID()
	eventually(t, "re-registration after Deregister", func() bool {
		return len(n.rec.requests(t, regmsg.TypeRegister)) >= 2 && n.d.Registrar().Health().Registered
	})
	if n.d.NodeID() != self {
		t.Errorf("node ID after re-registration %d, want %d", n.d.NodeID(), self)
	}
}

// ipc.md §5.18: list replies follow next_cursor to the end (the registry's
// page is 100 nodes), and members of network 0 send the daemon's admin
// token at once (cli.md §4.4).
func TestIPC_ListFollowsPages(t *testing.T) {
	reg := startRegistry(t)
	const extra = 130
	for i := range extra {
		id, err := identity.Generate(nil)
		if err != nil {
			t.Fatal(err)
		}
		c, err := regclient.New(regclient.Config{Addr: reg, Identity: id})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Register(context.Background(), &regmsg.Register{}); err != nil {
			t.Fatalf("register %d: %v", i, err)
		}
		c.Close()
	}
	n := startNode(t, reg, "", "-admin-token", testAdminToken)
	c := dialIPC(t, n.sock)
	members := object(t, c.body(ipcmsg.Network{Sub: ipcmsg.NetworkMembers, Network: 0}))
	if members["type"] != "list_nodes_ok" || len(members["nodes"].([]any)) != extra+1 {
		t.Errorf("members of 0: type %v, %d nodes, want list_nodes_ok with %d", members["type"],
			len(members["nodes"].([]any)), extra+1)
	}
	if _, ok := members["next_cursor"]; ok {
		t.Errorf("complete list keeps next_cursor %v", members["next_cursor"])
	}
	lists := n.rec.requests(t, regmsg.TypeListNodes)
	if len(lists) < 2 {
		t.Fatalf("%d list_nodes requests, want one per page", len(lists))
	}
	for i, r := range lists {
		if r.AuthFields().AdminToken == nil || regmsg.AuthVersion(r) != regmsg.AuthV2 {
			t.Errorf("list_nodes %d: want signed and with the admin token at once", i)
		}
	}
	data := c.opBody(`{"op":"network.members","network_id":0}`)
	if len(data["nodes"].([]any)) != extra+1 || data["network_id"].(json.Number).String() != "0" {
		t.Errorf("network.members 0: %d nodes, network_id %v", len(data["nodes"].([]any)), data["network_id"])
	}
	for _, e := range data["nodes"].([]any) {
		if m := e.(map[string]any); m["online"] != true {
			t.Fatalf("network.members entry without online true: %v", m)
		}
	}
}

// services.md §1: -no-echo, -no-dataexchange, -no-eventstream and
// -no-tasksubmit leave only the trust port bound.
func TestServices_DisabledPortsStayFree(t *testing.T) {
	reg := startRegistry(t)
	n := startNode(t, reg, "", "-no-echo", "-no-dataexchange", "-no-eventstream", "-no-tasksubmit")
	info := object(t, dialIPC(t, n.sock).body(ipcmsg.Info{}))
	if info["ports"].(json.Number).String() != "1" {
		t.Errorf("ports = %v with every optional service disabled, want 1 (trust, 444)", info["ports"])
	}
}

// cli.md §4.8 key reclaim: a daemon with a fresh identity takes over a node
// ID with the admin token; a daemon with memberships is refused.
func TestIPC_KeyReclaim(t *testing.T) {
	reg := startRegistry(t)
	lost := startNode(t, reg, "")
	x := lost.d.NodeID()
	fresh := startNode(t, reg, "")
	y := fresh.d.NodeID()
	c := dialIPC(t, fresh.sock)
	// Neither the request nor the daemon has an admin token: auth_required
	// with a hint (cli.md §4.3), before any registry request.
	if e, ok := c.op(fmt.Sprintf(`{"op":"key.reclaim","node_id":%d}`, x)).(ipcmsg.Error); !ok ||
		e.Code != ipcmsg.CodeAuthRequired || !strings.Contains(e.Text, "hint: ") {
		t.Errorf("reclaim without token: %#v", e)
	}
	data := c.opBody(fmt.Sprintf(`{"op":"key.reclaim","node_id":%d,"admin_token":"%s"}`, x, testAdminToken))
	if data["node_id"].(json.Number).String() != fmt.Sprint(uint32(x)) ||
		data["previous_node_id"].(json.Number).String() != fmt.Sprint(uint32(y)) ||
		data["address"] != addr.New(0, x).String() {
		t.Errorf("reclaim data %v, want node %d from %d", data, x, y)
	}
	if fresh.d.NodeID() != x {
		t.Errorf("node ID after reclaim %d, want %d", fresh.d.NodeID(), x)
	}
	lk, err := fresh.d.Client().Lookup(context.Background(), x)
	if err != nil || lk.PublicKey != fresh.d.Identity().PublicKeyBase64() {
		t.Errorf("registry key of node %d after reclaim: %v %v", x, lk, err)
	}

	member := startNode(t, reg, "", "-hostname", "busy")
	e, ok := dialIPC(t, member.sock).op(fmt.Sprintf(`{"op":"key.reclaim","node_id":%d,"admin_token":"%s"}`, y, testAdminToken)).(ipcmsg.Error)
	if !ok || e.Code != ipcmsg.CodeFailedPrecondition {
		t.Errorf("reclaim by a daemon with a hostname: %#v", e)
	}
}

// cli.md §3.1: while the registry cannot be reached the daemon runs; Info
// and Health answer from local state and registry-backed commands answer
// unavailable (code 10) with their label.
func TestIPC_RegistryUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	dir := t.TempDir()
	sock := filepath.Join(dir, "pilot.sock")
	cfg, err := Parse([]string{"-registry", dead, "-beacon", "", "-listen", "127.0.0.1:0", "-socket", sock,
		"-state-dir", dir}, noEnv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	runDaemon(t, d)
	c := dialIPC(t, sock)
	info := object(t, c.body(ipcmsg.Info{}))
	if info["node_id"].(json.Number).String() != "0" || info["address"] != "0:0000.0000.0000" {
		t.Errorf("info before registration: %v", info)
	}
	for _, tc := range []struct {
		m     ipcmsg.Message
		label string
	}{
		{ipcmsg.Network{Sub: ipcmsg.NetworkList}, "network list: "},
		{ipcmsg.SetHostname{Hostname: "x"}, "set_hostname: "},
		{ipcmsg.ResolveHostname{Hostname: "x"}, "resolve_hostname: "},
	} {
		e := c.fail(tc.m)
		if e.Code != ipcmsg.CodeUnavailable || !strings.HasPrefix(e.Text, tc.label) {
			t.Errorf("%T: %d %q, want unavailable with %q", tc.m, e.Code, e.Text, tc.label)
		}
	}
	if e, ok := c.op(`{"op":"network.list"}`).(ipcmsg.Error); !ok || e.Code != ipcmsg.CodeUnavailable {
		t.Errorf("network.list: %#v", e)
	}
}

// cli.md §4.10: audit without <net> needs an admin token; without one
// anywhere the op fails with auth_required and a hint, before any
// registry request.
func TestIPC_AuditWithoutNetworkNeedsToken(t *testing.T) {
	reg := startRegistry(t)
	a := startNode(t, reg, "")
	ca := dialIPC(t, a.sock)
	e, ok := ca.op(`{"op":"network.audit"}`).(ipcmsg.Error)
	if !ok || e.Code != ipcmsg.CodeAuthRequired || !strings.Contains(e.Text, "hint: ") {
		t.Fatalf("audit without network and token: %#v, want auth_required with a hint", e)
	}
	if n := len(a.rec.requests(t, regmsg.TypeGetAuditLog)); n != 0 {
		t.Fatalf("%d get_audit_log requests sent without a token", n)
	}
	data := ca.opBody(`{"op":"network.audit","admin_token":"` + testAdminToken + `"}`)
	if _, ok := data["entries"]; !ok {
		t.Fatalf("audit with a token: %v", data)
	}
}

// cli.md §4.5 and §4.8: health shows key_expires_at as soon as key
// expiry is set, not only once the heartbeat's warning window begins.
func TestIPC_KeyExpiryShownInHealthAtOnce(t *testing.T) {
	reg := startRegistry(t)
	a := startNode(t, reg, "", "-heartbeat", "1h")
	ca := dialIPC(t, a.sock)
	exp := time.Now().Add(90 * 24 * time.Hour).UTC().Truncate(time.Second).Format(time.RFC3339)
	ca.opBody(`{"op":"key.set_expiry","expires_at":"` + exp + `"}`)
	h := object(t, ca.body(ipcmsg.Health{}))
	if h["key_expires_at"] != exp {
		t.Fatalf("health key_expires_at %v, want %s", h["key_expires_at"], exp)
	}
}

// registry.md §7.4.6/§7.4.7: listing every network and the members of
// network 0 need the global token; without one anywhere the daemon says
// auth_required (cli.md §4.3) instead of sending a request bound to fail.
func TestIPC_GlobalListsWithoutTokenAreAuthRequired(t *testing.T) {
	reg := startRegistry(t)
	a := startNode(t, reg, "")
	ca := dialIPC(t, a.sock)
	for _, js := range []string{`{"op":"network.list","all":true}`, `{"op":"network.members","network_id":0}`,
		`{"op":"network.create","name":"tok-needed","join_rule":"open"}`, `{"op":"network.audit"}`} {
		e, ok := ca.op(js).(ipcmsg.Error)
		if !ok || e.Code != ipcmsg.CodeAuthRequired || !strings.Contains(e.Text, "hint: ") {
			t.Errorf("%s without a token: %#v, want auth_required with a hint", js, e)
		}
		withTok := strings.TrimSuffix(js, "}") + `,"admin_token":"` + testAdminToken + `"}`
		if rep := ca.op(withTok); func() bool { _, bad := rep.(ipcmsg.Error); return bad }() {
			t.Errorf("%s with the token: %#v", withTok, rep)
		}
	}
	if n := len(a.rec.requests(t, regmsg.TypeListNetworks)) + len(a.rec.requests(t, regmsg.TypeListNodes)); n != 2 {
		t.Errorf("%d list requests reached the registry, want the 2 with a token", n)
	}
}

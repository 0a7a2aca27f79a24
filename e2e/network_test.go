package e2e

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// members returns node ID → role of `network members`.
func members(t *testing.T, d *daemon, net int) map[int]string {
	t.Helper()
	out := map[int]string{}
	for _, n := range d.ok("network", "members", strconv.Itoa(net)).list("nodes") {
		for _, k := range []string{"node_id", "hostname", "public", "role", "online"} {
			if _, ok := n[k]; !ok {
				t.Errorf("members entry lacks %q (cli.md §5 item 15): %v", k, n)
			}
		}
		out[num(n, "node_id")] = n["role"].(string)
	}
	return out
}

func ports(v any) []int {
	var out []int
	arr, _ := v.([]any)
	for _, p := range arr {
		f, _ := p.(float64)
		out = append(out, int(f))
	}
	return out
}

// The enterprise surface of `pilotctl network` with daemons that hold no
// admin token: creation needs the token, roles and their boundaries,
// consent-based invites persisted across a registry restart, policies
// (max-members, allowed-ports enforced on real traffic), the audit trail
// with its actors, and key expiry.
func TestE2E_NetworkEnterprise(t *testing.T) {
	c := newCluster(t)
	a := c.startDaemon("owner")
	b := c.startDaemon("bob")
	m := c.startDaemon("mallory")
	id := func(d *daemon) string { return strconv.Itoa(d.id) }

	// Creation is token-only: without a token anywhere → auth_required.
	a.fails(4, "auth_required", "network", "create", "--name", "no-token")
	cr := a.ok("network", "create", "--name", "e2e-invite", "--join-rule", "invite", "--admin-token", adminToken)
	if cr.int("owner_node_id") != a.id || cr.str("join_rule") != "invite" || cr.int("network_id") == 0 {
		t.Fatalf("create data %v", cr.data)
	}
	net := cr.int("network_id")
	ns := strconv.Itoa(net)

	// Consent-based invites: a direct join of an invite-only network is
	// refused; the invite waits in the target's inbox.
	b.fails(1, "failed_precondition", "network", "join", ns)
	if r := a.ok("network", "invite", ns, "--node", id(b)); r.str("status") != "invited" || r.int("target_node_id") != b.id {
		t.Fatalf("invite data %v", r.data)
	}
	if r := a.ok("network", "invite", ns, "--node", id(b)); r.str("status") != "already_invited" {
		t.Fatalf("second invite data %v", r.data)
	}
	a.ok("network", "invite", ns, id(m)) // positional form
	hasInvite := func(d *daemon) bool {
		for _, inv := range d.ok("network", "invites").list("invites") {
			if num(inv, "network_id") == net && num(inv, "inviter_id") == a.id {
				return true
			}
		}
		return false
	}
	if !hasInvite(b) {
		t.Fatal("bob's inbox lacks the invite")
	}

	// The invite survives a registry restart; the daemons reconnect.
	c.restartRegistry()
	eventually(t, "bob's invite after the registry restart", waitTimeout, func() bool {
		r := b.run("network", "invites")
		return r.exit == 0 && hasInvite(b)
	})
	acc := b.ok("network", "accept", ns)
	if acc.data["accepted"] != true || acc.str("role") != "member" || !strings.HasPrefix(acc.str("address"), ns+":") {
		t.Fatalf("accept data %v", acc.data)
	}
	bobAddr := acc.str("address")
	m.ok("network", "accept", ns)

	// Roles: the owner promotes; an admin cannot promote (exit 4,
	// permission_denied) nor kick the owner; the owner demotes.
	if r := a.ok("network", "promote", ns, "--node", id(b)); r.str("role") != "admin" {
		t.Fatalf("promote data %v", r.data)
	}
	b.fails(4, "permission_denied", "network", "promote", ns, "--node", id(m))
	b.fails(4, "permission_denied", "network", "kick", ns, "--node", id(a))
	m.fails(4, "permission_denied", "network", "invite", ns, "--node", id(a))
	if r := a.ok("network", "role", ns, "--node", id(b)); r.str("role") != "admin" {
		t.Fatalf("role data %v", r.data)
	}
	want := map[int]string{a.id: "owner", b.id: "admin", m.id: "member"}
	if got := members(t, m, net); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("members %v, want %v", got, want)
	}
	// An admin may kick a member; the owner re-invites.
	if r := b.ok("network", "kick", ns, "--node", id(m)); r.int("target_node_id") != m.id {
		t.Fatalf("kick data %v", r.data)
	}
	b.ok("network", "invite", ns, "--node", id(m))
	m.ok("network", "accept", ns)

	// Policies: merge-on-update (cli.md §5 item 13).
	a.ok("network", "set-policy", ns, "--allowed-ports", "80,443,7,1000")
	p := a.ok("network", "set-policy", ns, "--max-members", "3")
	if p.int("max_members") != 3 || !slices.Equal(ports(p.data["allowed_ports"]), []int{7, 80, 443, 1000}) {
		t.Fatalf("policy after max-members %v", p.data)
	}
	m.fails(4, "permission_denied", "network", "set-policy", ns, "--max-members", "0")
	if r := b.ok("network", "policy", ns); r.int("max_members") != 3 { // admins read and manage policies
		t.Fatalf("policy read by an admin %v", r.data)
	}

	// allowed_ports on real traffic between members that do not trust each
	// other: port 1000 is allowed, then removed from the list.
	recv := b.startStream("recv", "1000", "--count", "1", "--timeout", "80s")
	eventually(t, "owner → bob:1000 while allowed", waitTimeout, func() bool {
		r := a.run("send", bobAddr, "1000", "--data", "allowed", "--timeout", "10s")
		return r.exit == 0 || recv.exited()
	})
	eventually(t, "bob's recv to print the message", waitTimeout, func() bool {
		return len(recv.Lines()) > 0 && strings.Contains(recv.Lines()[0], `"data":"allowed"`)
	})
	a.ok("network", "set-policy", ns, "--allowed-ports", "7")
	var last result
	defer func() {
		if t.Failed() && last.args != nil {
			t.Logf("last refused-send attempt: %v", last)
		}
	}()
	recv2 := b.startStream("recv", "1000", "--count", "1", "--timeout", "80s")
	eventually(t, "owner → bob:1000 dropped after the policy change", waitTimeout, func() bool {
		if recv2.exited() { // a send slipped through before the change applied
			recv2 = b.startStream("recv", "1000", "--count", "1", "--timeout", "80s")
			return false
		}
		// Rejection is silent (wire.md §8 step 5): the dial times out
		// while bob is still listening on port 1000.
		r := a.run("send", bobAddr, "1000", "--data", "forbidden", "--timeout", "5s")
		last = r
		return r.exit == 6 && r.code == "timeout" && !recv2.exited()
	})
	last = result{}
	if r := a.ok("send", bobAddr, "7", "--data", "echo allowed"); r.str("response") != "echo allowed" {
		t.Fatalf("echo on an allowed port %v", r.data)
	}

	// max_members: an open network capped at 2.
	oc := a.ok("network", "create", "--name", "e2e-open", "--join-rule", "open", "--admin-token", adminToken)
	open := strconv.Itoa(oc.int("network_id"))
	a.ok("network", "set-policy", open, "--max-members", "2")
	if r := b.ok("network", "join", open); r.str("role") != "member" {
		t.Fatalf("join data %v", r.data)
	}
	m.fails(1, "resource_exhausted", "network", "join", open)

	// Audit: the promotion is recorded with the owner as actor, via its role.
	au := a.ok("network", "audit", ns, "--action", "member.promoted")
	entries := au.list("entries")
	if len(entries) != 1 || num(entries[0], "actor_node_id") != a.id || entries[0]["auth_via"] != "role" ||
		!strings.Contains(fmt.Sprint(entries[0]["details"]), fmt.Sprintf("target_node_id=%d", b.id)) {
		t.Fatalf("audit entries %v", entries)
	}
	kicks := a.ok("network", "audit", ns, "--action", "member.kicked").list("entries")
	if len(kicks) != 1 || num(kicks[0], "actor_node_id") != b.id {
		t.Fatalf("kick audit %v", kicks)
	}
	m.fails(4, "permission_denied", "network", "audit", ns) // members cannot read the trail

	// Key expiry set by the node itself.
	ke := b.ok("key", "expiry", "90d")
	if ke.str("expires_at") == "" || ke.int("node_id") != b.id {
		t.Fatalf("key expiry data %v", ke.data)
	}
	ki := a.ok("key", "info", id(b))
	if ki.str("expires_at") != ke.str("expires_at") || ki.data["expired"] != false {
		t.Fatalf("key info %v (expiry %v)", ki.data, ke.data)
	}
	if r := b.ok("key", "expiry", "never"); r.str("expires_at") != "" {
		t.Fatalf("cleared expiry %v", r.data)
	}

	// Rename (admin allowed), delete (admin refused), transfer, leave.
	a.ok("network", "promote", open, "--node", id(b))
	if r := b.ok("network", "rename", open, "--name", "e2e-renamed"); r.str("name") != "e2e-renamed" {
		t.Fatalf("rename data %v", r.data)
	}
	b.fails(4, "permission_denied", "network", "delete", open)
	if r := a.ok("network", "transfer", open, "--node", id(b)); r.int("new_owner") != b.id || r.int("old_owner") != a.id {
		t.Fatalf("transfer data %v", r.data)
	}
	if r := a.ok("network", "leave", open); r.int("network_id") != oc.int("network_id") {
		t.Fatalf("leave data %v", r.data)
	}
	if r := b.ok("network", "delete", open); r.int("network_id") != oc.int("network_id") {
		t.Fatalf("delete data %v", r.data)
	}
	b.fails(5, "not_found", "network", "policy", open)
}

// A daemon that holds the global admin token still sends what its role
// allows without it (cli.md §5 item 18): the audit shows auth_via role.
func TestE2E_LeastPrivilegeToken(t *testing.T) {
	c := newCluster(t)
	ops := c.startDaemon("ops", "-admin-token", adminToken)
	peer := c.startDaemon("peer")
	cr := ops.ok("network", "create", "--name", "ops-net", "--join-rule", "open") // the daemon's token
	ns := strconv.Itoa(cr.int("network_id"))
	peer.ok("network", "join", ns)
	ops.ok("network", "promote", ns, "--node", strconv.Itoa(peer.id))
	entries := ops.ok("network", "audit", ns, "--action", "member.promoted").list("entries")
	if len(entries) != 1 || entries[0]["auth_via"] != "role" || num(entries[0], "actor_node_id") != ops.id {
		t.Fatalf("promotion audit %v", entries)
	}
	created := ops.ok("network", "audit", ns, "--action", "network.created").list("entries")
	if len(created) != 1 || created[0]["auth_via"] != "global_token" {
		t.Fatalf("creation audit %v", created)
	}
}

package cli

import (
	"strings"
	"testing"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/ipc"
	"github.com/pilot-go/pilot/internal/wire/ipcmsg"
)

const (
	owner  addr.NodeID = 685
	admin  addr.NodeID = 686
	member addr.NodeID = 687
)

func fleet(h *harness) {
	h.reg.addNetwork(1, "prod-fleet", "token", map[addr.NodeID]string{owner: "owner", admin: "admin", member: "member"})
	n := h.reg.addNetwork(3, "lab", "invite", map[addr.NodeID]string{owner: "owner"})
	n.maxM = 4
}

// cli.md §5 item 12.
func TestCLI_C12_PromoteByAdminDeniedByOwnerOK(t *testing.T) {
	h := newHarness(t)
	h.reg.addNetwork(1, "prod-fleet", "token", map[addr.NodeID]string{owner: "owner", admin: "admin", 688: "member"})
	r := h.run(admin, "network", "promote", "1", "--node", "688")
	want := "error: only the owner of network 1 can promote members; node 686 is admin\n"
	if r.code != 4 || r.err != want || r.out != "" {
		t.Fatalf("admin promote: exit %d stderr %q stdout %q", r.code, r.err, r.out)
	}
	e := h.run(admin, "--json", "network", "promote", "1", "--node", "688").failJSON(t, "permission_denied", 4)
	if e.Message != strings.TrimSuffix(strings.TrimPrefix(want, "error: "), "\n") {
		t.Errorf("message %q", e.Message)
	}
	if got := h.run(owner, "network", "promote", "1", "--node", "688").ok(t); got != "node 688 is now admin of network 1\n" {
		t.Errorf("owner promote: %q", got)
	}
	d := h.run(owner, "network", "demote", "1", "688", "--json").okJSON(t)
	if d["role"] != "member" || d["target_node_id"] != 688.0 || d["network_id"] != 1.0 {
		t.Errorf("demote data %v", d)
	}
}

// cli.md §5 item 13.
func TestCLI_C13_SetPolicy(t *testing.T) {
	h := newHarness(t)
	fleet(h)
	out := h.run(owner, "network", "set-policy", "1", "--allowed-ports", "80,443,7").ok(t)
	want := "network 1 policy\n  max members:    unlimited\n  allowed ports:  7, 80, 443\n  description:    -\n"
	if out != want {
		t.Errorf("allowed ports:\n%s\nwant\n%s", out, want)
	}
	out = h.run(owner, "network", "set-policy", "1", "--max-members", "50").ok(t)
	if !strings.Contains(out, "  max members:    50\n") || !strings.Contains(out, "  allowed ports:  7, 80, 443\n") {
		t.Errorf("--max-members must keep the ports:\n%s", out)
	}
	ops := h.reg.recorded()
	last := ops[len(ops)-1]
	if _, sent := last.Args["allowed_ports"]; sent || string(last.Args["max_members"]) != "50" {
		t.Errorf("only the given fields must be sent, got %v", last.Args)
	}
	out = h.run(owner, "network", "set-policy", "1", "--clear-allowed-ports").ok(t)
	if !strings.Contains(out, "  allowed ports:  all\n") {
		t.Errorf("--clear-allowed-ports:\n%s", out)
	}
	ops = h.reg.recorded()
	if got := string(ops[len(ops)-1].Args["allowed_ports"]); got != "[]" {
		t.Errorf("--clear-allowed-ports sent %s", got)
	}
	d := h.run(owner, "--json", "network", "policy", "1").okJSON(t)
	if d["max_members"] != 50.0 || len(d["allowed_ports"].([]any)) != 0 || d["description"] != "" {
		t.Errorf("policy data %v", d)
	}
	// policy with a set-policy flag behaves as set-policy (compatibility).
	out = h.run(owner, "network", "policy", "1", "--description", "prod").ok(t)
	if !strings.Contains(out, "  description:    prod\n") {
		t.Errorf("policy --description: %q", out)
	}
	for _, bad := range [][]string{
		{"network", "set-policy", "1"},
		{"network", "set-policy", "1", "--allowed-ports", "80", "--clear-allowed-ports"},
		{"network", "set-policy", "1", "--allowed-ports", "0"},
		{"network", "set-policy", "1", "--allowed-ports", "80,x"},
		{"network", "set-policy", "1", "--allowed-ports", "65536"},
	} {
		h.run(owner, append([]string{"--json"}, bad...)...).failJSON(t, "invalid_argument", 2)
		r := h.run(owner, bad...)
		if !strings.HasPrefix(r.err, "error: ") || !strings.Contains(r.err, "\nusage: pilotctl network set-policy") {
			t.Errorf("%v: text usage error %q", bad, r.err)
		}
	}
}

// cli.md §5 item 14.
func TestCLI_C14_InviteInvitesAccept(t *testing.T) {
	h := newHarness(t)
	h.reg.addNetwork(1, "prod-fleet", "invite", map[addr.NodeID]string{owner: "owner"})
	if got := h.run(owner, "network", "invite", "1", "--node", "686").ok(t); got != "invited node 686 to network 1; the invite waits for their acceptance\n" {
		t.Errorf("invite: %q", got)
	}
	if got := h.run(owner, "network", "invite", "1", "686").ok(t); got != "node 686 already has a pending invite to network 1\n" {
		t.Errorf("second invite (positional form): %q", got)
	}
	want := "NETWORK  NAME        INVITER  RECEIVED              EXPIRES\n" +
		"1        prod-fleet  685      2026-03-27T10:15:03Z  2026-04-03T10:15:03Z\n"
	if got := h.run(admin, "network", "invites").ok(t); got != want {
		t.Errorf("invites:\n%s\nwant\n%s", got, want)
	}
	if got := h.run(admin, "network", "accept", "1").ok(t); got != "joined network 1 as 1:0001.0000.02AE (role member)\n" {
		t.Errorf("accept: %q", got)
	}
	if got := h.run(admin, "network", "invites").ok(t); got != "no pending invites\n" {
		t.Errorf("invites after accept: %q", got)
	}
	h.run(owner, "network", "invite", "1", "--node", "687").ok(t)
	d := h.run(member, "network", "reject", "1", "--json").okJSON(t)
	if d["accepted"] != false || d["network_id"] != 1.0 {
		t.Errorf("reject data %v", d)
	}
	if got := h.run(member, "network", "accept", "1"); got.code != 5 {
		t.Errorf("accept without invite: exit %d %q", got.code, got.err)
	}
}

// cli.md §5 item 15.
func TestCLI_C15_MembersJSON(t *testing.T) {
	h := newHarness(t)
	fleet(h)
	d := h.run(owner, "--json", "network", "members", "1").okJSON(t)
	nodes := d["nodes"].([]any)
	if len(nodes) != 3 {
		t.Fatalf("nodes %v", nodes)
	}
	for _, n := range nodes {
		m := n.(map[string]any)
		for _, k := range []string{"node_id", "hostname", "public", "role", "online"} {
			if _, ok := m[k]; !ok {
				t.Errorf("member %v lacks %q", m, k)
			}
		}
	}
	want := "NODE  ADDRESS           HOSTNAME  ROLE    STATUS   LAST SEEN\n" +
		"685   1:0001.0000.02AD  -         owner   online   2026-03-27T10:15:03Z\n" +
		"686   1:0001.0000.02AE  -         admin   offline  2026-03-27T10:15:03Z\n" +
		"687   1:0001.0000.02AF  -         member  online   2026-03-27T10:15:03Z\n"
	if got := h.run(owner, "network", "members", "1").ok(t); got != want {
		t.Errorf("members:\n%s\nwant\n%s", got, want)
	}
}

func TestCLI_NetworkTextOutputs(t *testing.T) {
	h := newHarness(t)
	fleet(h)
	h.reg.networks[1].token = "my-secret"
	h.reg.addNetwork(2, "open-net", "open", map[addr.NodeID]string{admin: "owner"})
	cases := []struct {
		node addr.NodeID
		args []string
		want string
	}{
		{owner, []string{"network", "list"}, "ID  NAME        RULE    MEMBERS  ROLE\n1   prod-fleet  token   3        owner\n3   lab         invite  1        owner\n"},
		{member, []string{"network", "list", "--all"}, "ID  NAME        RULE    MEMBERS  ROLE\n1   prod-fleet  token   3        member\n2   open-net    open    1        -\n3   lab         invite  1        -\n"},
		{688, []string{"network", "list"}, "no networks\n"},
		{688, []string{"network", "join", "1", "--token", "my-secret"}, "joined network 1 as 1:0001.0000.02B0 (role member)\n"},
		{688, []string{"network", "leave", "1"}, "left network 1\n"},
		{owner, []string{"network", "kick", "1", "--node", "687"}, "kicked node 687 from network 1\n"},
		{owner, []string{"network", "role", "1", "686"}, "node 686 has role admin in network 1\n"},
		{owner, []string{"network", "transfer", "1", "--node", "686"}, "node 686 now owns network 1; node 685 is now admin\n"},
		{owner, []string{"network", "rename", "3", "--name", "staging"}, "renamed network 3 to staging\n"},
		{owner, []string{"network", "rename", "3", "lab2"}, "renamed network 3 to lab2\n"},
		{owner, []string{"network", "delete", "3"}, "deleted network 3\n"},
		{owner, []string{"network", "create", "--name", "prod-fleet2", "--join-rule", "token", "--token", "s", "--admin-token", "T", "--enterprise"},
			"created network 4 \"prod-fleet2\" (join rule token); you are its owner\n"},
	}
	for _, c := range cases {
		if got := h.run(c.node, c.args...).ok(t); got != c.want {
			t.Errorf("%v:\n%s\nwant\n%s", c.args, got, c.want)
		}
	}
	// The failed_precondition example of cli.md §4.10.
	h.reg.addNetwork(3, "lab", "invite", map[addr.NodeID]string{owner: "owner"})
	e := h.run(688, "--json", "network", "join", "3").failJSON(t, "failed_precondition", 1)
	if e.Message != "network 3 is invite-only: ask an admin for an invite, then run `pilotctl network accept 3`" {
		t.Errorf("join invite-only: %q", e.Message)
	}
}

func TestCLI_NetworkCreateNeedsToken(t *testing.T) {
	h := newHarness(t)
	e := h.run(owner, "--json", "network", "create", "--name", "x").failJSON(t, "auth_required", 4)
	if e.Hint != "pass --admin-token or set PILOT_ADMIN_TOKEN" {
		t.Errorf("hint %q", e.Hint)
	}
	r := h.run(owner, "network", "create", "--name", "x")
	if r.err != "error: network create needs an admin token\nhint: pass --admin-token or set PILOT_ADMIN_TOKEN\n" || r.code != 4 {
		t.Errorf("text: exit %d %q", r.code, r.err)
	}
	h.env["PILOT_ADMIN_TOKEN"] = "from-env"
	h.run(owner, "network", "create", "--name", "x").ok(t)
	ops := h.reg.recorded()
	if ops[len(ops)-1].Token != "from-env" {
		t.Errorf("PILOT_ADMIN_TOKEN not used: %+v", ops[len(ops)-1])
	}
	h.run(owner, "network", "create", "--name", "y", "--admin-token", "flag").ok(t)
	ops = h.reg.recorded()
	if ops[len(ops)-1].Token != "flag" {
		t.Errorf("--admin-token must win over the environment: %+v", ops[len(ops)-1])
	}
	h.run(owner, "network", "create", "--name", "z", "--join-rule", "closed", "--json").failJSON(t, "invalid_argument", 2)
}

// cli.md §5 item 18 (pilotctl's part): the admin token travels only with
// network and key-reclaim ops, where the daemon applies the least-privilege
// rule; every other op goes without it.
func TestCLI_C18_AdminTokenOnlyWhereTheRuleApplies(t *testing.T) {
	h := newHarness(t)
	fleet(h)
	h.env["PILOT_ADMIN_TOKEN"] = "tok"
	h.reg.can(ipcmsg.OpPeers, `{"peers":[],"total":0}`)
	h.reg.can(ipcmsg.OpWebhookStatus, `{"configured":false,"url":"","signed":false,"queued":0,"delivered":0,"failed":0,"dropped":0,"last_event_id":0}`)
	h.reg.can(ipcmsg.OpLookup, `{"type":"lookup_ok","node_id":686}`)
	h.reg.can(ipcmsg.OpKeyInfo, `{"node_id":685,"created_at":"2026-01-01T00:00:00Z","rotate_count":0,"key_age_days":3,"expired":false}`)
	for _, args := range [][]string{{"peers"}, {"webhook", "status"}, {"lookup", "686"}, {"key", "info"}} {
		h.run(owner, args...).ok(t)
	}
	h.run(owner, "network", "promote", "1", "--node", "687").ok(t)
	for _, op := range h.reg.recorded() {
		wantTok := strings.HasPrefix(op.Op, "network.")
		if (op.Token != "") != wantTok {
			t.Errorf("op %s sent admin_token %q", op.Op, op.Token)
		}
	}
}

func TestCLI_NetworkAudit(t *testing.T) {
	h := newHarness(t)
	h.reg.can(ipcmsg.OpNetworkAudit, `{"entries":[
{"seq":1043,"timestamp":"2026-03-27T10:16:00.101Z","action":"member.promoted","network_id":1,"details":"target_node_id=686, network_id=1, old_role=member, new_role=admin","actor_node_id":685,"auth_via":"role","attrs":{},"hash":"ab"},
{"seq":1042,"timestamp":"2026-03-27T10:15:03.412Z","action":"network.joined","network_id":1,"node_id":686,"details":"node_id=686, network_id=1, join_rule=token","actor_node_id":686,"auth_via":"self","attrs":{},"hash":"cd"}],
"next_cursor":"c1042"}`)
	want := "SEQ   TIME                      ACTION           ACTOR  VIA   DETAILS\n" +
		"1043  2026-03-27T10:16:00.101Z  member.promoted  685    role  target_node_id=686, network_id=1, old_role=member, new_role=admin\n" +
		"1042  2026-03-27T10:15:03.412Z  network.joined   686    self  node_id=686, network_id=1, join_rule=token\n" +
		"more: pilotctl network audit 1 --cursor c1042\n"
	if got := h.run(owner, "network", "audit", "1").ok(t); got != want {
		t.Errorf("audit:\n%s\nwant\n%s", got, want)
	}
	if got := h.run(owner, "audit", "--network", "1").ok(t); got != want {
		t.Errorf("audit alias:\n%s", got)
	}
	ops := h.reg.recorded()
	last := ops[len(ops)-1]
	if string(last.Args["network_id"]) != "1" || string(last.Args["limit"]) != "50" {
		t.Errorf("audit args %v", last.Args)
	}
	d := h.run(owner, "network", "audit", "1", "--action", "member.promoted", "--cursor", "x", "--json").okJSON(t)
	if d["next_cursor"] != "c1042" || len(d["entries"].([]any)) != 2 {
		t.Errorf("audit data %v", d)
	}
	ops = h.reg.recorded()
	last = ops[len(ops)-1]
	if string(last.Args["action"]) != `"member.promoted"` || string(last.Args["cursor"]) != `"x"` {
		t.Errorf("audit args %v", last.Args)
	}
	h.reg.can(ipcmsg.OpNetworkAudit, `{"entries":[]}`)
	if got := h.run(owner, "network", "audit").ok(t); got != "no audit entries\n" {
		t.Errorf("empty audit: %q", got)
	}
	h.run(owner, "audit", "1", "--network", "1", "--json").failJSON(t, "invalid_argument", 2)
}

func TestCLI_NetworkUsageErrors(t *testing.T) {
	h := newHarness(t)
	fleet(h)
	for _, args := range [][]string{
		{"network", "promote", "1"},
		{"network", "promote", "1", "686", "--node", "686"},
		{"network", "join", "x"},
		{"network", "join", "70000"},
		{"network", "members"},
		{"network", "rename", "3"},
		{"network", "create"},
		{"network", "invite", "1", "--bogus"},
	} {
		h.run(owner, append(args, "--json")...).failJSON(t, "invalid_argument", 2)
	}
	// A hostname target that does not resolve.
	h.run(owner, "--json", "network", "promote", "1", "--node", "nobody").failJSON(t, "not_found", 5)
	d := h.daemon(owner)
	d.be.setHost("beta", addr.New(0, 686))
	if got := h.run(owner, "network", "role", "1", "--node", "beta").ok(t); got != "node 686 has role admin in network 1\n" {
		t.Errorf("role by hostname: %q", got)
	}
	h.reg.fail(ipcmsg.OpNetworkList, ipc.Errorf(ipcmsg.CodeUnavailable, "network list: registry unreachable"))
	h.run(owner, "--json", "network", "list").failJSON(t, "unavailable", 1)
}

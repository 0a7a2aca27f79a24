package conformance

import (
	"sync"
	"testing"
)

// concurrently sends reqs[i] on its own connection, all at once, and returns the replies.
func concurrently(t *testing.T, r *reg, reqs []obj) []reply {
	t.Helper()
	conns := make([]*conn, len(reqs))
	for i := range reqs {
		conns[i] = r.dial()
	}
	out := make([]reply, len(reqs))
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range reqs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			conns[i].writeRaw(frame(body(t, reqs[i])))
		}(i)
	}
	close(start)
	wg.Wait()
	for i := range reqs {
		out[i] = conns[i].read()
	}
	return out
}

func tally(ps []reply) map[string]int {
	m := map[string]int{}
	for _, p := range ps {
		if p.typ() == "error" {
			m[p.code()]++
		} else if s := p.str("status"); s != "" {
			m[s]++
		} else {
			m["ok"]++
		}
	}
	return m
}

// §6.3 invariants 3, 4 and unique names under concurrent requests on many
// connections (§13.2 guarantee 3: "Checks and writes that span rows (member
// cap, invite dedup and cap, single owner, unique names) run inside the
// transaction").
func TestConf_6_3_ConcurrentInvariants(t *testing.T) {
	r := start(t, "-rate-limit", "off")
	c := r.dial()
	o := c.register(nil)
	nodes := c.registerMany(40)
	// member cap
	net := c.createNet(o, "cc-cap", "", nil)
	c.ok(o.sign(obj{"type": "set_network_policy", "node_id": o.id, "network_id": net, "max_members": 10}))
	var reqs []obj
	for _, n := range nodes {
		reqs = append(reqs, n.sign(obj{"type": "join_network", "node_id": n.id, "network_id": net}))
	}
	if got := tally(concurrently(t, r, reqs)); got["ok"] != 9 || got["resource_exhausted"] != 31 {
		t.Errorf("concurrent joins to a cap of 10: %v", got)
	}
	p := c.ok(obj{"type": "list_nodes", "network_id": net, "admin_token": adminTok})
	if n := len(p.m["nodes"].([]any)); n != 10 {
		t.Errorf("%d members with max_members 10", n)
	}
	// invite dedup
	inv := c.createNet(o, "cc-inv", "invite", nil)
	reqs = nil
	for i := 0; i < 20; i++ {
		reqs = append(reqs, obj{"type": "invite_to_network", "network_id": inv, "target_node_id": nodes[0].id, "admin_token": adminTok})
	}
	h := c.auditHead()
	if got := tally(concurrently(t, r, reqs)); got["invited"] != 1 || got["already_invited"] != 19 {
		t.Errorf("concurrent identical invites: %v", got)
	}
	if d := c.auditHead() - h; d != 1 {
		t.Errorf("%d invite.created events for one invite", d)
	}
	// unique network names and hostnames
	reqs = nil
	for i := 0; i < 20; i++ {
		reqs = append(reqs, obj{"type": "create_network", "node_id": o.id, "name": "cc-same", "admin_token": adminTok})
	}
	if got := tally(concurrently(t, r, reqs)); got["ok"] != 1 || got["already_exists"] != 19 {
		t.Errorf("concurrent create_network with one name: %v", got)
	}
	reqs = nil
	for _, n := range nodes[:20] {
		reqs = append(reqs, n.sign(obj{"type": "set_hostname", "node_id": n.id, "hostname": "cc-host"}))
	}
	if got := tally(concurrently(t, r, reqs)); got["ok"] != 1 || got["already_exists"] != 19 {
		t.Errorf("concurrent set_hostname with one name: %v", got)
	}
	// single owner: concurrent transfers to different members
	tn := c.createNet(o, "cc-own", "", nil)
	for _, n := range nodes[20:30] {
		c.join(n, tn)
	}
	reqs = nil
	for _, n := range nodes[20:30] {
		reqs = append(reqs, o.sign(obj{"type": "transfer_ownership", "node_id": o.id, "network_id": tn, "new_owner_id": n.id}))
	}
	got := tally(concurrently(t, r, reqs))
	if got["ok"] != 1 {
		t.Errorf("concurrent transfers by the owner: %v", got)
	}
	owners := 0
	p = c.ok(obj{"type": "list_nodes", "network_id": tn, "admin_token": adminTok})
	for _, e := range p.m["nodes"].([]any) {
		if e.(map[string]any)["role"] == "owner" {
			owners++
		}
	}
	if owners != 1 {
		t.Errorf("%d owners after concurrent transfers: %s", owners, p)
	}
	// audit chain still dense and valid
	if out, _, code := run(t, "audit", "verify", "-data-dir", r.dataDir); code != 0 {
		t.Errorf("audit verify: %d %q", code, out)
	}
}

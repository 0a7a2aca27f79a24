package conformance

import (
	"encoding/json"
	"testing"
)

// §1 Exchange: "The registry reads and handles the frames of one connection
// one at a time, in arrival order, and writes the replies in the same order."
// A pipelined read therefore sees every mutation written before it on the
// same connection (group commit or read caches notwithstanding), and an
// acknowledged mutation is visible to any later read (§13.2 guarantee 2).
func TestConf_1_PipelinedReadYourWrites(t *testing.T) {
	r := start(t, "-rate-limit", "off")
	c := r.dial()
	o := c.register(nil)
	net := c.createNet(o, "ryw", "", nil)
	var reqs []obj
	for i := 1; i <= 60; i++ {
		tag := "t" + fmtInt(int64(i))
		reqs = append(reqs,
			o.sign(obj{"type": "set_tags", "node_id": o.id, "tags": []string{tag}}),
			o.sign(obj{"type": "lookup", "requester_id": o.id, "node_id": o.id}),
			o.sign(obj{"type": "set_network_policy", "node_id": o.id, "network_id": net, "max_members": i + 10}),
			o.sign(obj{"type": "get_network_policy", "node_id": o.id, "network_id": net}),
			obj{"type": "set_polo_score", "node_id": o.id, "polo_score": i, "admin_token": adminTok},
			obj{"type": "get_polo_score", "node_id": o.id},
		)
	}
	ps := c.pipeline(reqs)
	for i := 0; i < 60; i++ {
		p := ps[6*i:]
		want := "t" + fmtInt(int64(i+1))
		if p[0].typ() != "set_tags_ok" || string(mustJSON(p[1].m["tags"])) != `["`+want+`"]` {
			t.Errorf("round %d: lookup after set_tags: %s", i+1, p[1])
		}
		if p[3].num("max_members") != int64(i+11) {
			t.Errorf("round %d: get_network_policy after set: %s", i+1, p[3])
		}
		if p[5].num("polo_score") != int64(i+1) {
			t.Errorf("round %d: get_polo_score after set: %s", i+1, p[5])
		}
	}
	// membership changes seen by the next pipelined list_nodes
	nodes := c.registerMany(30)
	reqs = nil
	for _, n := range nodes {
		reqs = append(reqs, n.sign(obj{"type": "join_network", "node_id": n.id, "network_id": net}),
			obj{"type": "list_nodes", "network_id": net, "admin_token": adminTok})
	}
	c.ok(o.sign(obj{"type": "set_network_policy", "node_id": o.id, "network_id": net, "max_members": 0}))
	ps = c.pipeline(reqs)
	for i := 0; i < len(nodes); i++ {
		var ln struct {
			Nodes []json.RawMessage `json:"nodes"`
		}
		json.Unmarshal(ps[2*i+1].raw, &ln)
		if ps[2*i].typ() != "join_network_ok" || len(ln.Nodes) != i+2 {
			t.Errorf("join %d then list_nodes: %d nodes (%s)", i+1, len(ln.Nodes), ps[2*i])
		}
	}
	// across connections: an acknowledged write is visible to the next read elsewhere
	c2 := r.dial()
	for i := 0; i < 30; i++ {
		h := "x-" + fmtInt(int64(i))
		c.ok(o.sign(obj{"type": "set_hostname", "node_id": o.id, "hostname": h}))
		if p := c2.ok(o.sign(obj{"type": "lookup", "requester_id": o.id, "node_id": o.id})); p.str("hostname") != h {
			t.Errorf("read on another connection after an acknowledged write: %s, want %s", p.str("hostname"), h)
		}
	}
}

package conformance

import (
	"testing"
)

// §13.2 guarantee 2 / §14 item 70: acknowledged mutations survive SIGKILL;
// §14 item 17: a replayed mutation is refused after the restart.
func TestConf_70_AckedIsDurable(t *testing.T) {
	r := start(t, "-rate-limit", "off")
	c := r.dial()
	nodes := c.registerMany(40)
	var reqs []obj
	for i, n := range nodes {
		reqs = append(reqs, n.sign(obj{"type": "set_hostname", "node_id": n.id, "hostname": "durable-" + fmtInt(int64(i))}))
	}
	ps := c.pipeline(reqs)
	for _, p := range ps {
		if p.typ() != "set_hostname_ok" {
			t.Fatalf("%s", p)
		}
	}
	head := c.auditHead()
	r.restart()
	c = r.dial()
	for i, n := range nodes {
		p := c.ok(n.sign(obj{"type": "lookup", "requester_id": n.id, "node_id": n.id}))
		if p.str("hostname") != "durable-"+fmtInt(int64(i)) {
			t.Errorf("node %d lost its hostname: %s", n.id, p)
		}
	}
	if h := c.auditHead(); h != head {
		t.Errorf("audit head %d, want %d", h, head)
	}
	c.fail(reqs[0], "unauthenticated", "replayed request")
	// punch: the other node must pass the resolve rule
	a, b := nodes[0], nodes[1]
	c.fail(a.sign(obj{"type": "punch", "requester_id": a.id, "node_a": a.id, "node_b": b.id}), "permission_denied", "")
	out, _, code := run(t, "audit", "verify", "-data-dir", r.dataDir)
	if code != 0 {
		t.Errorf("audit verify after SIGKILL: %d %q", code, out)
	}
}

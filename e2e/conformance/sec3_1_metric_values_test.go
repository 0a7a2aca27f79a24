package conformance

import (
	"regexp"
	"strings"
	"testing"
)

// metricValue returns the value of the sample whose line starts with series.
func metricValue(m, series string) string {
	for _, l := range strings.Split(m, "\n") {
		if strings.HasPrefix(l, series+" ") {
			return strings.TrimPrefix(l, series+" ")
		}
	}
	return "<absent>"
}

// §3.1 gauges and counters after a known sequence of operations.
func TestConf_3_1_MetricValues(t *testing.T) {
	r := start(t, "-rate-limit", "off")
	c := r.dial()
	o, a, b, d := c.register(nil), c.register(nil), c.register(nil), c.register(nil)
	c.ok(a.sign(obj{"type": "set_task_exec", "node_id": a.id, "enabled": true}))
	n1 := c.createNet(o, "mv1", "", nil)
	n2 := c.createNet(o, "mv2", "invite", nil)
	c.join(a, n1)
	c.join(b, n1)
	c.ok(o.sign(obj{"type": "promote_member", "node_id": o.id, "network_id": n1, "target_node_id": a.id}))
	c.ok(o.sign(obj{"type": "invite_to_network", "inviter_id": o.id, "network_id": n2, "target_node_id": a.id}))
	c.ok(o.sign(obj{"type": "invite_to_network", "inviter_id": o.id, "network_id": n2, "target_node_id": b.id}))
	c.ok(a.sign(obj{"type": "report_trust", "node_id": a.id, "peer_id": b.id}))
	c.ok(b.sign(obj{"type": "report_trust", "node_id": b.id, "peer_id": a.id}))
	c.ok(b.sign(obj{"type": "revoke_trust", "node_id": b.id, "peer_id": a.id}))
	c.ok(a.sign(obj{"type": "request_handshake", "from_node_id": a.id, "to_node_id": d.id}))
	c.ok(d.sign(obj{"type": "deregister", "node_id": d.id}))
	m := metricsText(t, r)
	want := map[string]string{
		"pilot_networks":                                       "2",
		"pilot_invites_pending":                                "2",
		`pilot_network_members{role="owner"}`:                  "2",
		`pilot_network_members{role="admin"}`:                  "1",
		`pilot_network_members{role="member"}`:                 "1",
		"pilot_task_executors":                                 "1",
		"pilot_nodes_total":                                    "3",
		"pilot_registrations_total":                            "4",
		"pilot_deregistrations_total":                          "1",
		"pilot_trust_reports_total":                            "2",
		"pilot_trust_revocations_total":                        "1",
		"pilot_handshake_requests_total":                       "1",
		"pilot_trust_links":                                    "0", // revoke_trust removed the approvals in both directions
		`pilot_audit_events_total{action="network.created"}`:   "2",
		`pilot_audit_events_total{action="node.registered"}`:   "4",
		`pilot_audit_events_total{action="invite.created"}`:    "2",
		`pilot_requests_total{type="report_trust"}`:            "2",
		`pilot_requests_total{type="register"}`:                "4",
		`pilot_audit_events_total{action="member.promoted"}`:   "1",
		`pilot_audit_events_total{action="node.deregistered"}`: "1",
	}
	for series, v := range want {
		if got := metricValue(m, series); got != v {
			t.Errorf("%s = %s, want %s", series, got, v)
		}
	}
	if !regexp.MustCompile(`(?m)^pilot_connections_open [1-9]`).MatchString(m) {
		t.Errorf("pilot_connections_open:\n%s", grep(m, "pilot_connections_open"))
	}
	if !regexp.MustCompile(`(?m)^pilot_nodes_online 3$`).MatchString(m) {
		t.Errorf("pilot_nodes_online:\n%s", grep(m, "pilot_nodes_online"))
	}
}

package metrics

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	return rec.Body.String()
}

// §14 item 9: an unknown type is counted as type="unknown".
func TestRegistry_9_UnknownTypeLabel(t *testing.T) {
	m := New()
	m.ObserveRequest("set_expr_policy", time.Millisecond)
	m.ObserveRequest("heartbeat", time.Millisecond)
	m.Error("set_expr_policy", "invalid_argument")
	m.Error("heartbeat", "made_up_code")
	body := scrape(t, m)
	for _, want := range []string{
		`pilot_requests_total{type="unknown"} 1`,
		`pilot_requests_total{type="heartbeat"} 1`,
		`pilot_errors_total{code="invalid_argument",type="unknown"} 1`,
		`pilot_errors_total{code="unknown",type="heartbeat"} 1`,
		`pilot_request_duration_seconds_bucket{type="heartbeat",le="0.0001"} 0`,
		`pilot_request_duration_seconds_bucket{type="heartbeat",le="1"} 1`,
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("missing %q", want)
		}
	}
	if strings.Contains(body, "set_expr_policy") {
		t.Fatal("raw type leaked into a label")
	}
	if m.RequestsTotal() != 2 || m.ErrorsTotal() != 2 {
		t.Fatalf("totals %d %d", m.RequestsTotal(), m.ErrorsTotal())
	}
}

func TestExpositionNames(t *testing.T) {
	m := New()
	body := scrape(t, m)
	// Unlabelled metrics exist from start-up, plus Go and process collectors.
	for _, name := range []string{
		"pilot_nodes_online", "pilot_nodes_total", "pilot_trust_links", "pilot_task_executors",
		"pilot_uptime_seconds", "pilot_registrations_total", "pilot_deregistrations_total",
		"pilot_trust_reports_total", "pilot_trust_revocations_total", "pilot_handshake_requests_total",
		"pilot_networks", "pilot_invites_pending", "pilot_connections_open",
		"go_goroutines", "process_start_time_seconds",
	} {
		if !strings.Contains(body, "\n"+name+" ") {
			t.Errorf("missing sample %s", name)
		}
	}
	// Labelled metrics never observed have no sample and no HELP.
	for _, name := range []string{"pilot_rate_limited_total", "pilot_legacy_auth_total", "pilot_requests_total", "pilot_network_members"} {
		if strings.Contains(body, name) {
			t.Errorf("%s exposed before observation", name)
		}
	}
	m.RateLimited("heartbeat")
	m.RateLimited("nonsense")
	m.AuthFailure("skew")
	m.Audit("network.created")
	m.LegacyAuth("lookup")
	m.ConnRejected(RejectPerIP)
	m.ConnOpened()
	m.SetGauges(Gauges{NodesOnline: 3, Networks: 2, Members: map[string]int64{"owner": 2, "member": 5}})
	m.Registration()
	body = scrape(t, m)
	for _, want := range []string{
		`pilot_rate_limited_total{category="heartbeat"} 1`,
		`pilot_rate_limited_total{category="unknown"} 1`,
		`pilot_auth_failures_total{reason="skew"} 1`,
		`pilot_audit_events_total{action="network.created"} 1`,
		`pilot_legacy_auth_total{type="lookup"} 1`,
		`pilot_connections_rejected_total{reason="per_ip"} 1`,
		`pilot_connections_open 1`,
		`pilot_nodes_online 3`,
		`pilot_networks 2`,
		`pilot_network_members{role="member"} 5`,
		`pilot_registrations_total 1`,
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("missing %q", want)
		}
	}
}

func TestNilMetricsIsNoop(t *testing.T) {
	var m *Metrics
	m.ObserveRequest("x", 0)
	m.Error("x", "internal")
	m.ConnOpened()
	m.SetGauges(Gauges{})
	if m.RequestsTotal() != 0 {
		t.Fatal("nil metrics counted")
	}
}

func TestNormalizeType(t *testing.T) {
	for _, typ := range MessageTypes {
		if NormalizeType(typ) != typ {
			t.Errorf("%s normalised", typ)
		}
	}
	for _, typ := range []string{"", "Register", "register_ok", "x\x00"} {
		if NormalizeType(typ) != Unknown {
			t.Errorf("%q not unknown", typ)
		}
	}
}

// Package metrics defines the registry's Prometheus metrics
// (registry.md §3.1; the names are API and never change) on a private
// registry that also carries the Go runtime and process collectors.
//
// Every label is bounded: `type` is a §7 message name or "unknown"
// (NormalizeType), and codes, reasons, categories, actions and roles outside
// their spec sets are counted as "unknown" rather than creating new series.
// Labelled series appear only once observed; unlabelled ones exist from
// start-up.
//
// Besides the exposition, Metrics keeps the two process-lifetime totals that
// /healthz reports (requests_total, errors_total).
package metrics

import (
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// DurationBuckets are the buckets of pilot_request_duration_seconds.
var DurationBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1}

// Metrics holds every registry metric. All methods are safe for concurrent
// use. A nil *Metrics is valid and records nothing.
type Metrics struct {
	reg   *prometheus.Registry
	start time.Time

	requests     *prometheus.CounterVec
	errors       *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	rateLimited  *prometheus.CounterVec
	authFailures *prometheus.CounterVec
	connsOpen    prometheus.Gauge
	connsRej     *prometheus.CounterVec
	audit        *prometheus.CounterVec
	legacyAuth   *prometheus.CounterVec

	nodesOnline, nodesTotal, trustLinks, taskExecutors prometheus.Gauge
	networks, invitesPending                           prometheus.Gauge
	members                                            *prometheus.GaugeVec

	registrations, deregistrations, trustReports prometheus.Counter
	trustRevocations, handshakeRequests          prometheus.Counter

	requestsTotal atomic.Uint64
	errorsTotal   atomic.Uint64
}

// New creates the metrics and registers them, with the Go and process
// collectors, on a fresh registry.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry(), start: time.Now()}
	cv := func(name, help string, labels ...string) *prometheus.CounterVec {
		v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
		m.reg.MustRegister(v)
		return v
	}
	g := func(name, help string) prometheus.Gauge {
		v := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
		m.reg.MustRegister(v)
		return v
	}
	c := func(name, help string) prometheus.Counter {
		v := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
		m.reg.MustRegister(v)
		return v
	}
	m.requests = cv("pilot_requests_total", "Registry-protocol requests by message type.", "type")
	m.errors = cv("pilot_errors_total", "Error replies by message type and error code.", "type", "code")
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "pilot_request_duration_seconds", Help: "Request handling time by message type.",
		Buckets: DurationBuckets,
	}, []string{"type"})
	m.reg.MustRegister(m.duration)
	m.nodesOnline = g("pilot_nodes_online", "Nodes seen within the online threshold.")
	m.nodesTotal = g("pilot_nodes_total", "Registered nodes.")
	m.trustLinks = g("pilot_trust_links", "Mutual trust pairs.")
	m.taskExecutors = g("pilot_task_executors", "Nodes with task execution enabled.")
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "pilot_uptime_seconds", Help: "Seconds since the registry process started.",
	}, func() float64 { return time.Since(m.start).Seconds() }))
	m.registrations = c("pilot_registrations_total", "Successful registrations.")
	m.deregistrations = c("pilot_deregistrations_total", "Successful deregistrations.")
	m.trustReports = c("pilot_trust_reports_total", "Successful report_trust requests.")
	m.trustRevocations = c("pilot_trust_revocations_total", "Successful revoke_trust requests.")
	m.handshakeRequests = c("pilot_handshake_requests_total", "Relayed handshake requests.")
	m.networks = g("pilot_networks", "Networks, excluding the backbone.")
	m.invitesPending = g("pilot_invites_pending", "Pending invites.")
	m.members = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "pilot_network_members", Help: "Memberships of non-backbone networks by role.",
	}, []string{"role"})
	m.reg.MustRegister(m.members)
	m.rateLimited = cv("pilot_rate_limited_total", "Requests refused by a rate limit.", "category")
	m.authFailures = cv("pilot_auth_failures_total", "Failed authentications by reason.", "reason")
	m.connsOpen = g("pilot_connections_open", "Open registry-port connections.")
	m.connsRej = cv("pilot_connections_rejected_total", "Connections closed at accept or by protocol sniffing.", "reason")
	m.audit = cv("pilot_audit_events_total", "Audit events emitted by action.", "action")
	m.legacyAuth = cv("pilot_legacy_auth_total", "Requests accepted with a legacy v1 signature or unsigned.", "type")
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry returns the private Prometheus registry.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the text exposition of the registry.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// ObserveRequest counts one handled request of message type typ and its
// duration. typ is normalised.
func (m *Metrics) ObserveRequest(typ string, d time.Duration) {
	if m == nil {
		return
	}
	t := NormalizeType(typ)
	m.requestsTotal.Add(1)
	m.requests.WithLabelValues(t).Inc()
	m.duration.WithLabelValues(t).Observe(d.Seconds())
}

// Error counts one error reply with code for message type typ.
func (m *Metrics) Error(typ, code string) {
	if m == nil {
		return
	}
	m.errorsTotal.Add(1)
	m.errors.WithLabelValues(NormalizeType(typ), bound(code, codeSet)).Inc()
}

// RequestsTotal is the number of requests observed since start (/healthz).
func (m *Metrics) RequestsTotal() uint64 {
	if m == nil {
		return 0
	}
	return m.requestsTotal.Load()
}

// ErrorsTotal is the number of error replies since start (/healthz).
func (m *Metrics) ErrorsTotal() uint64 {
	if m == nil {
		return 0
	}
	return m.errorsTotal.Load()
}

// RateLimited counts a request refused by the limiter of category.
func (m *Metrics) RateLimited(category string) {
	if m != nil {
		m.rateLimited.WithLabelValues(bound(category, categorySet)).Inc()
	}
}

// AuthFailure counts a failed authentication (reason from §3.1).
func (m *Metrics) AuthFailure(reason string) {
	if m != nil {
		m.authFailures.WithLabelValues(bound(reason, authSet)).Inc()
	}
}

// Audit counts one emitted audit event.
func (m *Metrics) Audit(action string) {
	if m != nil {
		m.audit.WithLabelValues(bound(action, actionSet)).Inc()
	}
}

// LegacyAuth counts a request accepted under -legacy-v1-auth.
func (m *Metrics) LegacyAuth(typ string) {
	if m != nil {
		m.legacyAuth.WithLabelValues(NormalizeType(typ)).Inc()
	}
}

// ConnOpened and ConnClosed track pilot_connections_open.
func (m *Metrics) ConnOpened() {
	if m != nil {
		m.connsOpen.Inc()
	}
}

// ConnClosed decrements pilot_connections_open.
func (m *Metrics) ConnClosed() {
	if m != nil {
		m.connsOpen.Dec()
	}
}

// ConnRejected counts a connection closed at accept (max_conns, per_ip) or
// after sniffing an unsupported protocol (protocol).
func (m *Metrics) ConnRejected(reason string) {
	if m != nil {
		m.connsRej.WithLabelValues(bound(reason, rejectSet)).Inc()
	}
}

// Registration and the following count successful mutations.
func (m *Metrics) Registration() {
	if m != nil {
		m.registrations.Inc()
	}
}

// Deregistration counts a deregister or purge.
func (m *Metrics) Deregistration() {
	if m != nil {
		m.deregistrations.Inc()
	}
}

// TrustReport counts a successful report_trust.
func (m *Metrics) TrustReport() {
	if m != nil {
		m.trustReports.Inc()
	}
}

// TrustRevocation counts a successful revoke_trust.
func (m *Metrics) TrustRevocation() {
	if m != nil {
		m.trustRevocations.Inc()
	}
}

// HandshakeRequest counts a relayed request_handshake.
func (m *Metrics) HandshakeRequest() {
	if m != nil {
		m.handshakeRequests.Inc()
	}
}

// Gauges is a snapshot of store-derived counts, set periodically by the
// composition root from a store query.
type Gauges struct {
	NodesOnline, NodesTotal, TrustLinks, TaskExecutors int64
	Networks, InvitesPending                           int64
	// Members maps role (owner, admin, member) to memberships summed over
	// non-backbone networks.
	Members map[string]int64
}

// SetGauges sets every store-derived gauge from g.
func (m *Metrics) SetGauges(g Gauges) {
	if m == nil {
		return
	}
	m.nodesOnline.Set(float64(g.NodesOnline))
	m.nodesTotal.Set(float64(g.NodesTotal))
	m.trustLinks.Set(float64(g.TrustLinks))
	m.taskExecutors.Set(float64(g.TaskExecutors))
	m.networks.Set(float64(g.Networks))
	m.invitesPending.Set(float64(g.InvitesPending))
	for role, n := range g.Members {
		m.members.WithLabelValues(bound(role, roleSet)).Set(float64(n))
	}
}

package registry

import (
	"github.com/pilot-go/pilot/internal/registry/handlers"
)

// newDispatcher builds the message handlers of registry.md §5–§7 from deps.
//
// Contract (see server.Dispatcher): one Response per request, Response.Type
// = the request's raw `type` ("" when unknown/absent) and Response.Code =
// the error code ("" on success). The server counts requests, durations and
// errors from these two fields; handlers count only the domain metrics
// (registrations, rate limits, auth failures, legacy auth) through
// deps.Metrics. Audit records go through deps.Audit.Emit after the store
// commit, which also counts pilot_audit_events_total.
func newDispatcher(deps Deps) (*handlers.Handler, error) {
	cfg := deps.Config
	return handlers.New(handlers.Config{
		Store: deps.Store, Metrics: deps.Metrics, Limiter: deps.Limiter, Audit: deps.Audit,
		Logger: deps.Logger, Now: deps.Now, Version: deps.Version,
		AdminToken: cfg.AdminToken, LegacyV1: cfg.LegacyV1Auth, AuthSkew: cfg.AuthSkew,
		StaleAfter: cfg.StaleAfter, NodeTTL: cfg.NodeTTL, InviteTTL: cfg.InviteTTL,
		HandshakeTTL: cfg.HandshakeTTL, BeaconToken: cfg.BeaconToken,
	})
}

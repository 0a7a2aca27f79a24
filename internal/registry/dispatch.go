package registry

import (
	"context"

	"github.com/pilot-go/pilot/internal/registry/server"
)

// newDispatcher builds the message handlers of registry.md §5–§7 from deps.
//
// ┌──────────────────────────────────────────────────────────────────────┐
// │ WIRING POINT for the handler layer: replace the placeholder with the   │
// │ real dispatcher, e.g. `return handlers.New(handlers.Config{...deps})`. │
// └──────────────────────────────────────────────────────────────────────┘
//
// Contract (see server.Dispatcher): one Response per request, Response.Type
// = the request's raw `type` ("" when unknown/absent) and Response.Code =
// the error code ("" on success). The server counts requests, durations and
// errors from these two fields; handlers count only the domain metrics
// (registrations, rate limits, auth failures, legacy auth) through
// deps.Metrics. Audit records go through deps.Audit.Emit after the store
// commit, which also counts pilot_audit_events_total.
func newDispatcher(deps Deps) (server.Dispatcher, error) {
	_ = deps
	return placeholder{}, nil
}

// placeholder answers every request with `unavailable` until the handlers
// are wired in.
type placeholder struct{}

func (placeholder) Handle(_ context.Context, _ *server.Request) server.Response {
	return server.Response{
		Body: server.ErrorBody(server.CodeUnavailable, "this registry build has no message handlers wired in yet; only /healthz, /readyz and /metrics work"),
		Code: server.CodeUnavailable,
	}
}

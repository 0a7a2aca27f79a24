// Package buildinfo holds the one software version all programs report:
// registry /healthz and register_ok, daemon Info and webhooks, pilotctl and
// the beacon's -version. Release builds may override it with
// -ldflags "-X github.com/pilot-go/pilot/internal/buildinfo.Version=1.5.1".
package buildinfo

// Version is the release version without a leading "v" (registry.md §3).
var Version = "1.5.0"

// Command pilot-registry is the Pilot Protocol registry: the control plane
// that issues node IDs and stores keys, endpoints, networks, roles, policies,
// invites and the audit trail (spec: registry.md; flags: cli.md §1).
//
//	pilot-registry [serve] [flags]
//	pilot-registry backup FILE | restore FILE [-force] | audit verify | migrate status | tls fingerprint
//
// With no flags it serves on :9000 with an SQLite store in
// $HOME/.pilot/registry and logs where its data lives and how to reach it.
// SIGINT or SIGTERM shut it down gracefully.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/pilot-go/pilot/internal/registry"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := registry.Main(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

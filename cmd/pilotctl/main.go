// Command pilotctl is the command line of the Pilot overlay network: it
// controls the local pilot-daemon over its IPC socket and talks to other
// agents through it (spec: cli.md §4). All logic lives in internal/cli.
//
//	pilotctl [--json] [--socket PATH] [--timeout D] <command> [args] [flags]
//
// SIGINT or SIGTERM cancel the running command.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/pilot-go/pilot/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], cli.Env{})
	stop()
	os.Exit(code)
}

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
	"runtime"
	"syscall"

	"github.com/pilot-go/pilot/internal/cli"
)

func main() {
	// One scheduler thread unless $GOMAXPROCS says otherwise: pilotctl
	// waits on one socket, and with a second thread every reply handed
	// from the reader goroutine to the command wakes that thread too
	// (ping p50 1.9 → 1.5 ms on the 2-vCPU VM; OPERATIONS.md, -procs).
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], cli.Env{})
	stop()
	os.Exit(code)
}

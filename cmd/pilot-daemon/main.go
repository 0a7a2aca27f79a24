// Command pilot-daemon is the Pilot node daemon (cli.md §3): it registers
// the node with the registry, keeps it registered, joins the configured
// fleet networks, and runs the UDP tunnels, streams and datagrams, the
// built-in services and the IPC socket.
//
// It is a thin main: flags, environment and -config → daemon.Config →
// daemon.New → Run until SIGINT/SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"github.com/pilot-go/pilot/internal/daemon"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr, daemon.Options{})
	stop()
	os.Exit(code)
}

// run is main without the process: it returns the exit status (0 ok, 1
// start-up or runtime failure, 2 usage or configuration error).
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, opts daemon.Options) int {
	cfg, err := daemon.Parse(args, getenv, stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case err != nil: // *daemon.UsageError: flags, config file, values
		fmt.Fprintf(stderr, "error: %v\n", err)
		return 2
	case cfg.ShowVersion:
		fmt.Fprintf(stdout, "pilot-daemon %s\n", daemon.Version)
		return 0
	}
	if cfg.Procs > 0 {
		runtime.GOMAXPROCS(cfg.Procs) // -procs: see docs/OPERATIONS.md
	}
	log := daemon.NewLogger(cfg, stderr)
	if opts.Logger == nil {
		opts.Logger = log
	}
	d, err := daemon.New(cfg, opts)
	if err != nil {
		fmt.Fprintf(stderr, "error: %v\n", err)
		return 1
	}
	if err := d.Run(ctx); err != nil {
		fmt.Fprintf(stderr, "error: %v\n", err)
		return 1
	}
	return 0
}

// Command pilot-beacon is the Pilot beacon (beacon.md, cli.md §2): it tells
// daemons their public UDP endpoint, coordinates hole punching, and relays
// tunnel frames between daemons that cannot reach each other, optionally
// clustered with other beacons.
//
// It is a thin main: flags and config file → beacon.Config → Run, plus the
// -health HTTP listener (/healthz, /metrics for loopback clients).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/pilot-go/pilot/internal/buildinfo"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/pilot-go/pilot/internal/beacon"
	"github.com/pilot-go/pilot/internal/beacon/metrics"
	"github.com/pilot-go/pilot/internal/wire/beaconmsg"
)

// version is set at link time: -ldflags "-X main.version=1.2.3".
var version = buildinfo.Version

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr, nil)
	stop()
	os.Exit(code)
}

// ready is called by run once the UDP socket and the health listener are
// bound (tests).
type ready func(udp netip.AddrPort, health net.Addr)

// run is main without the process: it returns the exit status (0 ok, 1
// runtime failure, 2 usage or configuration error).
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, onReady ready) int {
	o, err := parseOptions(args, getenv, stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case err != nil:
		fmt.Fprintf(stderr, "pilot-beacon: %v\n", err)
		return 2
	case o.version:
		fmt.Fprintf(stdout, "pilot-beacon %s\n", version)
		return 0
	}
	log, err := newLogger(stderr, o.logFormat, o.logLevel)
	if err != nil {
		fmt.Fprintf(stderr, "pilot-beacon: %v\n", err)
		return 2
	}
	cfg := beacon.Config{
		Listen:        o.listen,
		BeaconID:      beaconmsg.BeaconID(o.beaconID),
		Peers:         o.peerList(),
		Advertise:     o.advertise,
		RegistryToken: o.registryToken,
		NodeTTL:       o.nodeTTL,
		MaxNodes:      o.maxNodes,
		RelayQueue:    o.relayQueue,
		Logger:        log,
	}
	if o.registry != "" {
		reg, err := newRegistry(o)
		if err != nil {
			fmt.Fprintf(stderr, "pilot-beacon: -registry: %v\n", err)
			return 2
		}
		defer reg.Close()
		cfg.Keys = reg
		if o.beaconID != 0 {
			cfg.Directory = reg
		}
	}
	srv, err := beacon.New(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "pilot-beacon: %v\n", err)
		if errors.Is(err, beacon.ErrConfig) {
			return 2
		}
		return 1
	}
	defer srv.Close()

	var hl net.Listener
	if o.health != "" {
		if hl, err = net.Listen("tcp", o.health); err != nil {
			fmt.Fprintf(stderr, "pilot-beacon: -health: %v\n", err)
			return 1
		}
	}
	if onReady != nil {
		var ha net.Addr
		if hl != nil {
			ha = hl.Addr()
		}
		onReady(srv.Addr(), ha)
	}
	return serve(ctx, srv, hl, log)
}

// serve runs the beacon and the health listener until ctx ends or the
// beacon fails, then shuts both down and waits for them.
func serve(ctx context.Context, srv *beacon.Server, hl net.Listener, log *slog.Logger) int {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var runErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer cancel()
		runErr = srv.Run(ctx)
	}()
	if hl != nil {
		hs := &http.Server{
			Handler:           srv.HealthHandler(metrics.Handler(srv)),
			ReadHeaderTimeout: 5 * time.Second,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		}
		wg.Add(2)
		go func() {
			defer wg.Done()
			if err := hs.Serve(hl); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("health listener failed", "err", err)
			}
		}()
		go func() {
			defer wg.Done()
			<-ctx.Done()
			sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer scancel()
			_ = hs.Shutdown(sctx)
		}()
	}
	wg.Wait()
	if runErr != nil {
		log.Error("beacon stopped", "err", runErr)
		return 1
	}
	log.Info("beacon stopped")
	return 0
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	switch level {
	case "debug":
		lv = slog.LevelDebug
	case "info":
		lv = slog.LevelInfo
	case "warn":
		lv = slog.LevelWarn
	case "error":
		lv = slog.LevelError
	default:
		return nil, fmt.Errorf("-log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("-log-format %q: want text or json", format)
}

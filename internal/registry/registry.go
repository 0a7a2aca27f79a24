// Package registry is the composition root of pilot-registry: it turns a
// config.Config into a running server by wiring the store
// (registry/store), the network front end (registry/server), TLS
// (registry/tlsconf), metrics (registry/metrics), rate limits
// (registry/ratelimit) and the audit logger (registry/auditlog) to the
// message handlers, and it implements the program's subcommands (Main).
//
//	config ──► New ──► store.Open ─┐
//	                  tlsconf.Load ├─► Deps ──► newDispatcher (handlers) ──► server.New
//	                  metrics.New  │
//	                  ratelimit.New│
//	                  auditlog.New ┘
//
// The one place that connects the message handlers is newDispatcher in
// dispatch.go.
package registry

import (
	"context"
	"errors"
	"fmt"
	"github.com/pilot-go/pilot/internal/buildinfo"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/pilot-go/pilot/internal/registry/auditlog"
	"github.com/pilot-go/pilot/internal/registry/config"
	"github.com/pilot-go/pilot/internal/registry/handlers"
	"github.com/pilot-go/pilot/internal/registry/metrics"
	"github.com/pilot-go/pilot/internal/registry/ratelimit"
	"github.com/pilot-go/pilot/internal/registry/server"
	"github.com/pilot-go/pilot/internal/registry/store"
	"github.com/pilot-go/pilot/internal/registry/store/sqlite"
	"github.com/pilot-go/pilot/internal/registry/tlsconf"
)

// Version is the registry build version, set with
// -ldflags "-X github.com/pilot-go/pilot/internal/registry.Version=1.5.0".
var Version = buildinfo.Version

// Deps is everything the message handlers need; newDispatcher receives it.
type Deps struct {
	Config  *config.Config
	Store   store.Store
	Metrics *metrics.Metrics
	Limiter *ratelimit.Limiter
	Audit   *auditlog.Logger
	Logger  *slog.Logger
	Now     func() time.Time
	Version string
}

// Options configure New beyond the Config.
type Options struct {
	// Logger is the operational logger; nil discards.
	Logger *slog.Logger
	// AuditWriter receives audit records; nil means os.Stderr.
	AuditWriter io.Writer
	// Listener, if set, replaces listening on Config.Listen (tests).
	Listener net.Listener
}

// Registry is a wired registry, ready to Run.
type Registry struct {
	cfg    *config.Config
	log    *slog.Logger
	deps   Deps
	tls    *tlsconf.Result // nil without -tls
	srv    *server.Server
	hnd    *handlers.Handler
	closer []func() error // run by Close in reverse order
}

// New opens the store and builds every component. On error everything
// opened so far is closed.
func New(ctx context.Context, cfg *config.Config, opts Options) (_ *Registry, err error) {
	r := &Registry{cfg: cfg, log: opts.Logger}
	if r.log == nil {
		r.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	defer func() {
		if err != nil {
			r.Close()
		}
	}()
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	if fi, err := os.Stat(cfg.DataDir); err == nil && fi.Mode().Perm()&0o077 != 0 {
		// §13.1 wants 0700; an existing directory keeps the mode its
		// operator gave it, with a warning.
		r.log.Warn("data directory is readable by other users; registry.md expects mode 0700",
			"data_dir", cfg.DataDir, "mode", fmt.Sprintf("%04o", fi.Mode().Perm()), "fix", "chmod 700 "+cfg.DataDir)
	}
	st, err := openStore(ctx, cfg, storeServe, r.log)
	if err != nil {
		return nil, err
	}
	r.closer = append(r.closer, st.Close)
	if cfg.TLS {
		if r.tls, err = tlsconf.Load(tlsConfig(cfg)); err != nil {
			return nil, err
		}
	}
	m := metrics.New()
	audit, err := auditlog.New(auditlog.Config{Format: cfg.LogFormat, Writer: opts.AuditWriter,
		FilePath: cfg.AuditFile, Counter: m})
	if err != nil {
		return nil, err
	}
	r.closer = append(r.closer, audit.Close)
	lim, err := ratelimit.New(ratelimit.Config{Overrides: cfg.RateLimits, Disabled: cfg.RateLimitOff})
	if err != nil {
		return nil, err
	}
	r.deps = Deps{Config: cfg, Store: st, Metrics: m, Limiter: lim, Audit: audit,
		Logger: r.log, Now: time.Now, Version: Version}
	disp, err := newDispatcher(r.deps)
	if err != nil {
		return nil, fmt.Errorf("handlers: %w", err)
	}
	r.hnd = disp
	scfg := server.Config{
		Addr: cfg.Listen, Listener: opts.Listener, HTTPAddr: cfg.HTTP,
		AllowPlain: cfg.TLSAllowPlain, Dispatcher: disp,
		Health:       &storeHealth{st: st, hnd: disp},
		Metrics:      r.deps.Metrics,
		MetricsToken: cfg.MetricsToken, Version: Version, Logger: r.log,
		MaxConns: cfg.MaxConns, MaxConnsPerIP: cfg.MaxConnsPerIP,
		FrameTimeout: cfg.FrameTimeout, IdleTimeout: cfg.IdleTimeout,
	}
	if r.tls != nil {
		scfg.TLS = r.tls.Config
	}
	if r.srv, err = server.New(scfg); err != nil {
		return nil, err
	}
	return r, nil
}

// Server returns the network front end (its Addr is valid after Ready).
func (r *Registry) Server() *server.Server { return r.srv }

// Deps returns the wired dependencies (tests).
func (r *Registry) Deps() Deps { return r.deps }

// TLSFingerprint is the certificate fingerprint, "" without -tls.
func (r *Registry) TLSFingerprint() string {
	if r.tls == nil {
		return ""
	}
	return r.tls.Fingerprint
}

// Run serves until ctx is cancelled, then shuts down gracefully and closes
// the store. It logs the start-up lines of cli.md §1.1 once listening.
func (r *Registry) Run(ctx context.Context) error {
	defer r.Close()
	errc := make(chan error, 1)
	go func() { errc <- r.srv.Run(ctx) }()
	select {
	case <-r.srv.Ready():
	case err := <-errc:
		return err
	}
	r.logStart()
	// The reaper/sweeper (registry.md §11) and the last_seen flusher
	// (§7.1.2) run until the server has stopped (not merely until ctx
	// ends, so that heartbeats still in flight during the graceful
	// shutdown reach the flusher's final flush); Run waits for both before
	// the store is closed.
	sweepCtx, stopSweep := context.WithCancel(context.WithoutCancel(ctx))
	swept := make(chan struct{}, 2)
	go func() {
		defer func() { swept <- struct{}{} }()
		r.hnd.RunSweeper(sweepCtx, r.cfg.ReapInterval)
	}()
	go func() {
		defer func() { swept <- struct{}{} }()
		r.hnd.RunSeenFlusher(sweepCtx)
	}()
	err := <-errc
	stopSweep()
	<-swept
	<-swept
	r.log.Info("registry stopped")
	return err
}

func (r *Registry) logStart() {
	cfg := r.cfg
	addr := r.srv.Addr().String()
	admin := "not configured"
	if cfg.AdminToken != "" {
		admin = "configured"
	}
	if r.tls != nil {
		r.log.Info("tls fingerprint", "sha256", r.tls.Fingerprint)
	}
	r.log.Info("registry listening", "addr", addr, "store", cfg.StoreDescription(), "tls", cfg.TLS,
		"auth", cfg.AuthMode(), "admin_token", admin, "data_dir", cfg.DataDir)
	if cfg.AdminToken == "" {
		r.log.Info("no admin token: token-only operations (network creation included) are disabled; set -admin-token or PILOT_REGISTRY_ADMIN_TOKEN")
	} else if len(cfg.AdminToken) < 16 {
		r.log.Warn("admin token is shorter than 16 bytes; use a longer random token")
	}
	if cfg.LegacyV1Auth {
		r.log.Warn("legacy v1 auth is on: v1 signatures and the original's unsigned requests are accepted, which re-opens their replay and endpoint-hijack weaknesses; turn -legacy-v1-auth off once every daemon speaks auth v2")
	}
	if cfg.Beacon != "" {
		r.log.Warn("-beacon is accepted for compatibility and ignored")
	}
	reach := reachable(r.srv.Addr())
	flag := "-registry " + reach
	if cfg.TLS {
		flag += " -registry-tls -registry-fingerprint " + r.tls.Fingerprint
	}
	r.log.Info("connect daemons with "+flag, "healthz", "http://"+reach+"/healthz")
}

// reachable turns a wildcard listen address into one a local client can use.
func reachable(a *net.TCPAddr) string {
	ip := a.IP
	if ip == nil || ip.IsUnspecified() {
		ip = net.IPv4(127, 0, 0, 1)
	}
	return net.JoinHostPort(ip.String(), fmt.Sprint(a.Port))
}

// Close releases everything New opened. It is idempotent.
func (r *Registry) Close() {
	for i := len(r.closer) - 1; i >= 0; i-- {
		if err := r.closer[i](); err != nil {
			r.log.Warn("close failed", "err", err)
		}
	}
	r.closer = nil
}

func tlsConfig(cfg *config.Config) tlsconf.Config {
	return tlsconf.Config{CertFile: cfg.TLSCert, KeyFile: cfg.TLSKey,
		Dir: filepath.Join(cfg.DataDir, "tls"), SANs: cfg.TLSSANs}
}

// errPostgres: this build has no PostgreSQL backend yet.
var errPostgres = errors.New("the PostgreSQL store is not available in this build; use -store sqlite:PATH")

// storeMode is what a store is opened for.
type storeMode int

const (
	// storeServe takes the lock, checks integrity and the schema version
	// and applies migrations (§13.2).
	storeServe storeMode = iota
	// storeReadOnly is for backup, audit verify and migrate status of a
	// possibly running store: no lock, no checks, no migrations.
	storeReadOnly
	// storeRestore is for restore: the lock is taken, but no integrity
	// check, schema check or migration runs, so that the way out named by
	// those refusals ("restore the latest backup with pilot-registry
	// restore FILE") works on a corrupt store or one with a newer schema,
	// and a refused restore changes nothing (§13.3).
	storeRestore
)

// openStore opens the configured store for mode.
func openStore(ctx context.Context, cfg *config.Config, mode storeMode, log *slog.Logger) (store.Store, error) {
	kind, target := cfg.StoreTarget()
	if kind == config.StorePostgres {
		return nil, errPostgres
	}
	return sqlite.Open(ctx, sqlite.Options{
		DataDir: cfg.DataDir, Path: target,
		Integrity: sqlite.Integrity(cfg.Integrity), Migrate: sqlite.Migrate(cfg.Migrate),
		ReadOnly: mode == storeReadOnly, ForRestore: mode == storeRestore, Logger: log,
	})
}

// checkBackup reads file and runs the checks of a restore that need no
// store (sqlite.CheckBackup), naming the file in a corruption error.
func checkBackup(file string) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("read backup %s: %w", file, err)
	}
	_, _, err = sqlite.CheckBackup(data)
	if ce := (*store.CorruptBackupError)(nil); errors.As(err, &ce) {
		ce.File = file
	}
	return err
}

// storeHealth adapts the store to server.Health. The gauges come from the
// handler, which writes the heartbeats it keeps in memory first so that
// nodes_online counts them (§3, §7.1.2).
type storeHealth struct {
	st  store.Store
	hnd *handlers.Handler
}

func (h *storeHealth) Gauges(ctx context.Context) (metrics.Gauges, error) {
	s, err := h.hnd.Stats(ctx)
	if err != nil {
		return metrics.Gauges{}, err
	}
	return metrics.Gauges{
		NodesOnline: int64(s.NodesOnline), NodesTotal: int64(s.NodesTotal), TrustLinks: int64(s.TrustLinks),
		TaskExecutors: int64(s.TaskExecutors), Networks: int64(s.Networks), InvitesPending: int64(s.InvitesPending),
		Members: map[string]int64{"owner": int64(s.Owners), "admin": int64(s.Admins), "member": int64(s.Members)},
	}, nil
}

func (h *storeHealth) Ready(ctx context.Context) error {
	if err := h.st.Ping(ctx); err != nil {
		return fmt.Errorf("store unreachable: %v", err)
	}
	info, err := h.st.Schema(ctx)
	if err != nil {
		return fmt.Errorf("store schema unknown: %v", err)
	}
	if len(info.Pending) > 0 {
		return fmt.Errorf("store migrations pending: %v", info.Pending)
	}
	return nil
}

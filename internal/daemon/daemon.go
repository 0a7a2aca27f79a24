package daemon

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/identity"
	"github.com/pilot-go/pilot/internal/regclient"
	"github.com/pilot-go/pilot/internal/trust"
	"github.com/pilot-go/pilot/internal/webhook"
	"github.com/pilot-go/pilot/internal/wire/regmsg"
)

// Version is the daemon's software version (register "version", webhook
// User-Agent, -version), set with
// -ldflags "-X github.com/pilot-go/pilot/internal/daemon.Version=1.2.3".
var Version = "0.0.0-dev"

// Options adjust New beyond the Config (tests).
type Options struct {
	Logger *slog.Logger
	// RegistryDialer replaces the TCP dial to the registry.
	RegistryDialer func(ctx context.Context, network, address string) (net.Conn, error)
	// Now is the clock of the control plane (nil = time.Now).
	Now func() time.Time
	// ListenAddr and LANAddrs stand in for the tunnel layer until the
	// integration step wires it (see the seams in Run).
	ListenAddr func() string
	LANAddrs   func() []string
	// Events receives the webhook events instead of the webhook client
	// (tests). Nil = the webhook client.
	Events Emitter
}

// Daemon is the composition root of pilot-daemon. This file wires the
// control plane (identity, registry client, registration and heartbeats,
// fleet auto-join, key rotation, trust, admission cache, webhooks); the
// data-plane seams are marked "SEAM(integration)".
type Daemon struct {
	cfg       *Config
	log       *slog.Logger
	now       func() time.Time
	client    *regclient.Client
	webhook   *webhook.Client
	registrar *Registrar
	autojoin  *AutoJoiner
	trust     *trust.Manager
	admission *AdmissionCache
	pollKick  chan struct{}
}

// New prepares the state directory and the identity and builds the
// control-plane components. A corrupt identity or trust store is an
// error; nothing is overwritten.
func New(cfg *Config, opts Options) (*Daemon, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	if err := os.MkdirAll(cfg.StateDir, identity.DirMode); err != nil {
		return nil, fmt.Errorf("state directory %s: %w", cfg.StateDir, err)
	}
	id, created, err := identity.LoadOrCreate(cfg.Identity)
	if err != nil {
		return nil, err
	}
	if created {
		log.Info("created a new identity", "file", cfg.Identity)
	} else if err := identity.CheckPermissions(cfg.Identity); err != nil {
		log.Warn("identity file permissions", "err", err)
	}
	client, err := regclient.New(regclient.Config{
		Addr: cfg.Registry, TLS: cfg.RegistryTLS, Fingerprint: cfg.RegistryFingerprint, Identity: id,
		AuthMode: cfg.RegistryAuth, Clock: now, Logger: log, Dialer: opts.RegistryDialer,
	})
	if err != nil {
		return nil, err
	}
	d := &Daemon{cfg: cfg, log: log, now: now, client: client, pollKick: make(chan struct{}, 1)}
	d.webhook, err = webhook.New(webhook.Config{
		StateDir: cfg.StateDir, URL: cfg.Webhook, Secret: cfg.WebhookSecret, Version: Version,
		NodeID: func() uint32 { return uint32(client.NodeID()) }, Logger: log, Now: now,
	})
	if err != nil {
		client.Close()
		return nil, err
	}
	var events Emitter = d.webhook
	if opts.Events != nil {
		events = opts.Events
	}
	d.admission = NewAdmissionCache(admissionFetcher{client}, now)
	var reg *Registrar
	d.autojoin = NewAutoJoiner(AutoJoinConfig{
		Client: client, Networks: cfg.Networks, AdminToken: cfg.AdminToken, Events: events, Logger: log,
		OnMember: func(n addr.NetworkID) { reg.Memberships().Note(n, true); d.admission.Invalidate() },
	})
	reg, err = NewRegistrar(RegistrarConfig{
		Client: client, IdentityPath: cfg.Identity, Identity: id, Hostname: cfg.Hostname, Public: cfg.Public,
		Owner: cfg.Email, Version: Version, Heartbeat: cfg.Heartbeat, Events: events, Logger: log, Now: now,
		ListenAddr: opts.ListenAddr, LANAddrs: opts.LANAddrs,
		OnRegistered:  func(context.Context, Registration) { d.autojoin.Trigger() },
		OnHeartbeat:   func(context.Context) { d.kickPoll() },
		OnPolicyEpoch: func(uint64) { d.admission.Invalidate() },
		// SEAM(integration): re-authenticate tunnels with the new key
		// (tunnel.Manager re-keying / PILA with the new identity).
		OnIdentity: func(*identity.Identity) {},
	})
	if err != nil {
		client.Close()
		return nil, err
	}
	d.registrar = reg
	d.trust, err = trust.New(trust.Config{
		Path: trust.DefaultPath(cfg.StateDir), Self: reg.NodeID, Identity: reg.Identity,
		Registry: trustRegistry{client}, Events: events, Logger: log, Now: now,
		AutoApprove: cfg.TrustAutoApprove, HandshakeCompat: cfg.HandshakeCompat, MSS: cfg.MSS,
		// SEAM(integration): Sender = a stream dial to 0:<peer>:444 that
		// writes the message in one write and closes once acknowledged
		// (≤ 5 s); Tunnels = tunnel.Manager's per-peer teardown.
		Sender: nil, Tunnels: nil,
	})
	if err != nil {
		client.Close()
		return nil, err
	}
	return d, nil
}

// Accessors for the integration step (IPC handlers, admission, Info).

func (d *Daemon) Client() *regclient.Client         { return d.client }
func (d *Daemon) Registrar() *Registrar             { return d.registrar }
func (d *Daemon) Trust() *trust.Manager             { return d.trust }
func (d *Daemon) Admission() *AdmissionCache        { return d.admission }
func (d *Daemon) Webhook() *webhook.Client          { return d.webhook }
func (d *Daemon) Memberships() *Memberships         { return d.registrar.Memberships() }
func (d *Daemon) AutoJoiner() *AutoJoiner           { return d.autojoin }
func (d *Daemon) Config() *Config                   { return d.cfg }
func (d *Daemon) Logger() *slog.Logger              { return d.log }
func (d *Daemon) Identity() *identity.Identity      { return d.registrar.Identity() }
func (d *Daemon) NodeID() addr.NodeID               { return d.registrar.NodeID() }
func (d *Daemon) HealthSnapshot() Health            { return d.registrar.Health() }
func (d *Daemon) HealthStatus(now time.Time) string { return d.registrar.Health().Status(now) }

// Run starts the components and blocks until ctx ends, then shuts down:
// webhooks drain for at most 5 s; the node is never deregistered and never
// leaves networks, so memberships, roles and trust survive restarts.
//
// Start-up order (cli.md §3.1): identity (New) → SEAM bind UDP → SEAM
// beacon endpoint discovery → register → set_visibility → auto-join →
// SEAM IPC socket → SEAM services → heartbeats.
func (d *Daemon) Run(ctx context.Context) error {
	// SEAM(integration): bind the tunnel's UDP socket (-listen), run
	// beacon endpoint discovery (-beacon, or -endpoint) and pass its
	// observed endpoint as Options.ListenAddr before registering.
	var wg sync.WaitGroup
	run := func(name string, f func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(ctx); err != nil {
				d.log.Error("component stopped", "component", name, "err", err)
			}
		}()
	}
	run("webhook", d.webhook.Run)
	run("autojoin", d.autojoin.Run)
	run("trust-poll", d.pollLoop)
	run("registrar", d.registrar.Run)
	// SEAM(integration): start the stream engine, the IPC server on
	// -socket (mode 0600) with handlers backed by Registrar (hostname,
	// visibility, deregister, key rotate), trust.Manager (Handshake 0x0F),
	// Memberships (Info networks), AdmissionCache + trust.IsTrusted
	// (wire.md §8) and webhook.Client (SetWebhook, Health); then the
	// built-in services (-no-echo, -no-dataexchange, -no-eventstream,
	// -no-tasksubmit) and the port-444 listener that calls
	// trust.ReadMessage and Manager.HandleMessage.
	d.log.Info("pilot-daemon started", "registry", d.cfg.Registry, "state_dir", d.cfg.StateDir,
		"socket", d.cfg.Socket, "networks", len(d.cfg.Networks))
	<-ctx.Done()
	// SEAM(integration): close streams, remove the IPC socket.
	wg.Wait()
	d.client.Close()
	d.log.Info("pilot-daemon stopped")
	return nil
}

// kickPoll asks pollLoop to drain poll_handshakes (never blocks).
func (d *Daemon) kickPoll() {
	select {
	case d.pollKick <- struct{}{}:
	default:
	}
}

// pollLoop runs trust.Poll after heartbeats, off the heartbeat goroutine
// (its sends may wait for dials).
func (d *Daemon) pollLoop(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-d.pollKick:
			if err := d.trust.Poll(ctx); err != nil && ctx.Err() == nil {
				d.log.Debug("poll_handshakes failed", "err", err)
			}
		}
	}
}

// Admit applies wire.md §8 steps 2–4 from local state and caches only
// (never blocks): ok false means the caller parks the packet and calls
// Admission().Resolve off the packet path. Control packets (step 1) are
// the caller's.
func (d *Daemon) Admit(peer addr.NodeID, port addr.Port) (Decision, bool) {
	if d.registrar.Public() || d.trust.IsTrusted(peer) {
		return Decision{Verdict: Admit}, true
	}
	return d.admission.Cached(peer, port)
}

// NewLogger returns the slog logger of -log-format and -log-level.
func NewLogger(cfg *Config, w io.Writer) *slog.Logger {
	var lvl slog.Level
	switch cfg.LogLevel {
	case "debug":
		lvl = slog.LevelDebug
	case "warn":
		lvl = slog.LevelWarn
	case "error":
		lvl = slog.LevelError
	}
	o := &slog.HandlerOptions{Level: lvl}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, o))
	}
	return slog.New(slog.NewTextHandler(w, o))
}

// trustRegistry adapts the registry client to trust.Registry.
type trustRegistry struct{ c *regclient.Client }

func (t trustRegistry) ReportTrust(ctx context.Context, p addr.NodeID) (*regmsg.ReportTrustOK, error) {
	return t.c.ReportTrust(ctx, p)
}
func (t trustRegistry) RevokeTrust(ctx context.Context, p addr.NodeID) (*regmsg.RevokeTrustOK, error) {
	return t.c.RevokeTrust(ctx, p)
}
func (t trustRegistry) CheckTrust(ctx context.Context, p addr.NodeID) (*regmsg.CheckTrustOK, error) {
	return t.c.CheckTrust(ctx, p)
}
func (t trustRegistry) RequestHandshake(ctx context.Context, to addr.NodeID, j string) (*regmsg.RequestHandshakeOK, error) {
	return t.c.RequestHandshake(ctx, to, j)
}
func (t trustRegistry) RespondHandshake(ctx context.Context, p addr.NodeID, accept bool) (*regmsg.RespondHandshakeOK, error) {
	return t.c.RespondHandshake(ctx, p, accept)
}
func (t trustRegistry) PollHandshakes(ctx context.Context, page regmsg.Page) (*regmsg.PollHandshakesOK, error) {
	return t.c.PollHandshakes(ctx, page)
}
func (t trustRegistry) Lookup(ctx context.Context, n addr.NodeID) (*regmsg.LookupOK, error) {
	return t.c.Lookup(ctx, n)
}

// admissionFetcher adapts the registry client to AdmissionFetcher.
type admissionFetcher struct{ c *regclient.Client }

func (a admissionFetcher) CheckTrust(ctx context.Context, p addr.NodeID) (*regmsg.CheckTrustOK, error) {
	return a.c.CheckTrust(ctx, p)
}
func (a admissionFetcher) GetNetworkPolicy(ctx context.Context, n addr.NetworkID) (*regmsg.GetNetworkPolicyOK, error) {
	return a.c.GetNetworkPolicy(ctx, n)
}

package daemon

import (
	"context"
	"fmt"
	"github.com/pilot-go/pilot/internal/buildinfo"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/dataplane"
	"github.com/pilot-go/pilot/internal/identity"
	"github.com/pilot-go/pilot/internal/ipc"
	"github.com/pilot-go/pilot/internal/netsim"
	"github.com/pilot-go/pilot/internal/regclient"
	"github.com/pilot-go/pilot/internal/trust"
	"github.com/pilot-go/pilot/internal/tunnel"
	"github.com/pilot-go/pilot/internal/webhook"
	"github.com/pilot-go/pilot/internal/wire/regmsg"
)

// Version is the daemon's software version (register "version", webhook
// User-Agent, -version), set with
// -ldflags "-X github.com/pilot-go/pilot/internal/daemon.Version=1.2.3".
var Version = buildinfo.Version

// Options adjust New beyond the Config (tests).
type Options struct {
	Logger *slog.Logger
	// RegistryDialer replaces the TCP dial to the registry.
	RegistryDialer func(ctx context.Context, network, address string) (net.Conn, error)
	// Now is the clock of the control plane (nil = time.Now).
	Now func() time.Time
	// ListenAddr and LANAddrs replace the addresses registered for the
	// tunnel socket (nil = the beacon's observed endpoint or the socket's
	// own address, and the host's addresses).
	ListenAddr func() string
	LANAddrs   func() []string
	// Events receives the webhook events instead of the webhook client
	// (tests). Nil = the webhook client.
	Events Emitter
	// DiscoverTimeout bounds the start-up beacon discovery (0 = 3 s).
	DiscoverTimeout time.Duration
	// ControlPlaneOnly builds neither the UDP socket, the tunnel, the data
	// plane nor the IPC socket (control-plane tests in synctest bubbles,
	// where real sockets cannot run).
	ControlPlaneOnly bool
	// WrapConn, if set, wraps the bound UDP socket before the tunnel uses
	// it. Test-only hook (e.g. to inject packet loss); nil in production.
	WrapConn func(netsim.PacketConn) netsim.PacketConn
}

// Daemon is the composition root of pilot-daemon: identity, registry
// client, registration and heartbeats, fleet auto-join, key rotation,
// trust, admission cache, webhooks, the UDP tunnel (with the beacon
// client), the data plane, the built-in services and the IPC socket.
type Daemon struct {
	cfg       *Config
	opts      Options
	log       *slog.Logger
	now       func() time.Time
	started   time.Time
	client    *regclient.Client
	webhook   *webhook.Client
	events    Emitter
	registrar *Registrar
	autojoin  *AutoJoiner
	trust     *trust.Manager
	admission *AdmissionCache
	admit     *admission
	sender    *handshakeSender
	pollKick  chan struct{}

	metricsLn net.Listener // -metrics (metrics.go)

	udp *net.UDPConn
	tun *tunnel.Manager
	dp  *dataplane.DataPlane
	ipc *ipc.Server
}

// New prepares the state directory and the identity, builds every
// component, binds the UDP socket (-listen) and creates the IPC socket
// (-socket, mode 0600). A corrupt identity or trust store is an error;
// nothing is overwritten. Everything opened is closed on error.
func New(cfg *Config, opts Options) (_ *Daemon, err error) {
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
	d := &Daemon{cfg: cfg, opts: opts, log: log, now: now, started: now(), client: client,
		pollKick: make(chan struct{}, 1), sender: &handshakeSender{}}
	defer func() {
		if err != nil {
			d.closeAll()
		}
	}()
	if err := d.listenMetrics(); err != nil {
		return nil, err
	}
	d.webhook, err = webhook.New(webhook.Config{
		StateDir: cfg.StateDir, URL: cfg.Webhook, Secret: cfg.WebhookSecret, Version: Version,
		NodeID: func() uint32 { return uint32(client.NodeID()) }, Logger: log, Now: now,
	})
	if err != nil {
		return nil, err
	}
	d.events = d.webhook
	if opts.Events != nil {
		d.events = opts.Events
	}
	d.admission = NewAdmissionCache(admissionFetcher{client}, now)
	d.admit = &admission{d: d}
	if !opts.ControlPlaneOnly {
		if err := d.bindUDP(); err != nil {
			return nil, err
		}
	}
	var reg *Registrar
	d.autojoin = NewAutoJoiner(AutoJoinConfig{
		Client: client, Networks: cfg.Networks, AdminToken: cfg.AdminToken, Events: d.events, Logger: log,
		OnMember: func(n addr.NetworkID) { reg.Memberships().Note(n, true); d.admission.Invalidate() },
	})
	listen, lan := opts.ListenAddr, opts.LANAddrs
	if listen == nil {
		listen = d.listenAddr
	}
	if lan == nil {
		lan = d.lanAddrs
	}
	reg, err = NewRegistrar(RegistrarConfig{
		Client: client, IdentityPath: cfg.Identity, Identity: id, Hostname: cfg.Hostname, Public: cfg.Public,
		Owner: cfg.Email, Version: Version, Heartbeat: cfg.Heartbeat, Events: d.events, Logger: log, Now: now,
		ListenAddr: listen, LANAddrs: lan,
		OnRegistered: func(_ context.Context, r Registration) {
			if d.tun != nil {
				d.tun.SetNodeID(r.NodeID)
			}
			d.autojoin.Trigger()
		},
		OnHeartbeat: func(context.Context) { d.kickPoll() },
		OnPolicyEpoch: func(uint64) {
			d.admission.Invalidate()
			if d.dp != nil {
				d.dp.InvalidateMembers()
			}
			if d.tun != nil {
				// A new shared network can make resolve allowed.
				d.tun.InvalidateAllResolves()
			}
		},
		OnIdentity: func(id *identity.Identity) {
			if d.tun != nil {
				d.tun.RotateIdentity(id)
			}
		},
	})
	if err != nil {
		return nil, err
	}
	d.registrar = reg
	d.trust, err = trust.New(trust.Config{
		Path: trust.DefaultPath(cfg.StateDir), Self: reg.NodeID, Identity: reg.Identity,
		Registry: trustRegistry{client}, Events: trustEvents{d}, Logger: log, Now: now,
		AutoApprove: cfg.TrustAutoApprove, HandshakeCompat: cfg.HandshakeCompat, MSS: cfg.MSS,
		Sender: d.sender, Tunnels: dataplaneTunnels{d},
	})
	if err != nil {
		return nil, err
	}
	if opts.ControlPlaneOnly {
		return d, nil
	}
	if err := d.buildDataPlane(id); err != nil {
		return nil, err
	}
	d.ipc, err = ipc.New(ipc.Config{SocketPath: cfg.Socket, Backend: backend{d.dp, control{d}},
		Logger: log, Version: Version})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// closeAll releases what New opened (error path).
func (d *Daemon) closeAll() {
	if d.ipc != nil {
		d.ipc.Close()
	}
	if d.dp != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = d.dp.Shutdown(ctx)
		cancel()
	}
	if d.tun != nil {
		d.tun.Close()
	} else if d.udp != nil {
		d.udp.Close()
	}
	if d.webhook != nil {
		d.webhook.Close()
	}
	if d.metricsLn != nil {
		d.metricsLn.Close()
	}
	d.client.Close()
}

// Accessors (tests, metrics).

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
func (d *Daemon) Tunnel() *tunnel.Manager           { return d.tun }
func (d *Daemon) DataPlane() *dataplane.DataPlane   { return d.dp }

// UDPAddr is the tunnel socket's address (nil with ControlPlaneOnly).
func (d *Daemon) UDPAddr() *net.UDPAddr {
	if d.udp == nil {
		return nil
	}
	return d.udp.LocalAddr().(*net.UDPAddr)
}

// Control returns the daemon's ipc.Control (tests).
func (d *Daemon) Control() ipc.Control { return control{d} }

func (d *Daemon) uptimeSecs() uint64 {
	if s := d.now().Sub(d.started); s > 0 {
		return uint64(s / time.Second)
	}
	return 0
}

// Run starts the components and blocks until ctx ends, then shuts down in
// order (cli.md §3: close streams, drain webhooks, remove the socket): stop
// accepting IPC clients (the existing ones stay connected and the socket
// file stays), data plane (FINs, ≤ 2 s drain; every IPC connection ends
// with ConnClosed reason 6 and an unsolicited CloseOK, ipc.md §5.6, §10.7),
// IPC clients (their writers get up to ipcFlushTimeout to write that out,
// then they are closed), tunnel (the UDP socket), webhooks (drain ≤ 5 s),
// and last the IPC socket file, so that a supervisor that restarts the
// daemon once the socket is gone finds the -listen port free. The node is
// never deregistered and never leaves networks, so memberships, roles and
// trust survive restarts.
//
// Start-up order (cli.md §3.1): identity and UDP socket (New) → beacon
// endpoint discovery → register → set_visibility → auto-join → IPC →
// services → heartbeats. IPC and the services start once the first
// registration attempt and, when it succeeded, the first auto-join pass
// are over, each waited for at most one request deadline (10 s); a
// registry that is down delays nothing: registration then retries in the
// background.
func (d *Daemon) Run(ctx context.Context) error {
	d.admit.ctx.Store(&ctx)
	whCtx, stopWebhook := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWebhook()
	tunCtx, stopTunnel := context.WithCancel(context.WithoutCancel(ctx))
	defer stopTunnel()
	var wg, tunWG, whWG sync.WaitGroup
	run := func(wg *sync.WaitGroup, c context.Context, name string, f func(context.Context) error) {
		wg.Go(func() {
			if err := f(c); err != nil {
				d.log.Error("component stopped", "component", name, "err", err)
			}
		})
	}
	run(&whWG, whCtx, "webhook", d.webhook.Run)
	if d.tun != nil {
		run(&tunWG, tunCtx, "tunnel", d.tun.Run)
		d.discover(ctx)
	}
	run(&wg, ctx, "autojoin", d.autojoin.Run)
	run(&wg, ctx, "trust-poll", d.pollLoop)
	run(&wg, ctx, "registrar", d.registrar.Run)
	run(&wg, ctx, "metrics", d.serveMetrics)
	d.awaitRegistration(ctx)
	// The IPC server outlives ctx: it is stopped step by step below and
	// its context ends only when the socket file is to be removed.
	ipcCtx, stopIPC := context.WithCancel(context.WithoutCancel(ctx))
	defer stopIPC()
	ipcDone := make(chan struct{})
	if d.ipc != nil {
		go func() {
			defer close(ipcDone)
			if err := d.ipc.Run(ipcCtx); err != nil {
				d.log.Error("ipc server stopped", "err", err)
			}
		}()
		if err := d.startServices(); err != nil {
			d.log.Error("built-in services", "err", err)
		}
	} else {
		close(ipcDone)
	}
	d.log.Info("pilot-daemon started", "registry", d.cfg.Registry, "state_dir", d.cfg.StateDir,
		"socket", d.cfg.Socket, "udp", d.UDPAddr(), "networks", len(d.cfg.Networks))
	<-ctx.Done()
	if d.ipc != nil {
		d.ipc.StopAccepting()
	}
	if d.dp != nil {
		sctx, cancel := context.WithTimeout(context.Background(), dataplane.DefaultDrainTimeout+2*time.Second)
		if err := d.dp.Shutdown(sctx); err != nil {
			d.log.Debug("data plane shutdown", "err", err)
		}
		cancel()
	}
	if d.ipc != nil {
		fctx, cancel := context.WithTimeout(context.Background(), ipcFlushTimeout)
		d.ipc.CloseClients(fctx)
		cancel()
	}
	stopTunnel()
	tunWG.Wait()
	wg.Wait()         // control plane loops end with ctx
	d.webhook.Close() // drains ≤ 5 s
	stopWebhook()
	whWG.Wait()
	d.client.Close()
	stopIPC() // removes the socket file
	<-ipcDone
	d.log.Info("pilot-daemon stopped")
	return nil
}

// ipcFlushTimeout bounds, at shutdown, the wait for the IPC clients'
// writers to write out what is queued for them (the ConnClosed and CloseOK
// of their connections) before the clients are closed.
const ipcFlushTimeout = time.Second

// awaitRegistration waits for the first registration attempt and, when it
// succeeded, the first auto-join pass, so that the first IPC client sees
// the node registered and its networks joined (cli.md §3.1 start-up
// order). Both waits share one request deadline (10 s): with the 3 s
// beacon discovery before them, `pilotctl daemon start` (15 s) sees the
// daemon answer even when the registry is slow.
func (d *Daemon) awaitRegistration(ctx context.Context) {
	t := time.NewTimer(regclient.DefaultTimeout)
	defer t.Stop()
	wait := func(ch <-chan struct{}) bool {
		select {
		case <-ch:
			return true
		case <-t.C:
		case <-ctx.Done():
		}
		return false
	}
	if wait(d.registrar.FirstAttempt()) && d.registrar.Registered() {
		wait(d.autojoin.FirstPass())
	}
}

// discover runs the start-up endpoint discovery through the tunnel socket
// (beacon.md §3.2) unless -endpoint fixes the endpoint or no beacon is
// configured. A failure is logged: registration goes ahead with the
// socket's own address.
func (d *Daemon) discover(ctx context.Context) {
	if d.cfg.Endpoint != "" || d.cfg.Beacon == "" {
		return
	}
	to := d.opts.DiscoverTimeout
	if to <= 0 {
		to = 3 * time.Second
	}
	dctx, cancel := context.WithTimeout(ctx, to)
	defer cancel()
	ep, err := d.tun.Discover(dctx)
	if err != nil {
		d.log.Warn("beacon endpoint discovery failed", "beacon", d.cfg.Beacon, "err", err)
		return
	}
	d.log.Info("public endpoint discovered", "endpoint", ep.String())
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

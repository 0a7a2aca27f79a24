package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/identity"
	"github.com/pilot-go/pilot/internal/regclient"
	"github.com/pilot-go/pilot/internal/wire/regmsg"
	whmsg "github.com/pilot-go/pilot/internal/wire/svcmsg/webhook"
)

// Registration timings (cli.md §3.1).
const (
	registerBackoffMin = 1 * time.Second
	registerBackoffMax = 30 * time.Second
	// heartbeatFailLimit consecutive heartbeat failures make the daemon
	// re-register.
	heartbeatFailLimit = 3
	// keyWarnEvery is the minimum gap between two key.expiring events for
	// the same expiry (services.md §8.3).
	keyWarnEvery = 6 * time.Hour
)

// Capabilities this daemon registers (registry.md §7.1.1).
var Capabilities = []string{"auth-v2", "handshake-v2", "secure-v2"}

// RegistrarConfig configures a Registrar. Client, IdentityPath and
// Identity are required.
type RegistrarConfig struct {
	Client       *regclient.Client
	IdentityPath string             // identity.json; the rotation staging file is IdentityPath + ".next"
	Identity     *identity.Identity // the loaded identity
	Hostname     string             // -hostname; re-applied after every re-registration
	Public       bool               // -public
	Owner        string             // -email
	Version      string             // software version sent in register
	Heartbeat    time.Duration      // -heartbeat (default 30 s)
	// ListenAddr returns the tunnel's observed or public endpoint
	// (host:port) for register's listen_addr; "" = unknown. Nil = unknown.
	ListenAddr func() string
	// LANAddrs returns the local tunnel addresses (≤ 16). Nil = none.
	LANAddrs func() []string
	Events   Emitter
	Logger   *slog.Logger
	Now      func() time.Time // nil = time.Now

	// Hooks, each optional, called from the Run goroutine (they must not
	// block for long; the registrar waits for them).
	//
	// OnRegistered runs after every successful registration, the first
	// included (auto-join triggers here).
	OnRegistered func(ctx context.Context, reg Registration)
	// OnHeartbeat runs after every successful heartbeat (the trust
	// component polls poll_handshakes here).
	OnHeartbeat func(ctx context.Context)
	// OnPolicyEpoch runs when a reply carries a policy_epoch different from
	// the last one seen (admission caches drop everything).
	OnPolicyEpoch func(epoch uint64)
	// OnIdentity runs after the signing key changed (rotation, or adoption
	// of a pending key): the tunnel layer re-authenticates.
	OnIdentity func(id *identity.Identity)
}

// Registration describes a successful register.
type Registration struct {
	NodeID       addr.NodeID
	Address      addr.Addr
	ObservedAddr string
	Reregistered bool
}

// Health is the control-plane part of IPC Health (ipc.md §7).
type Health struct {
	NodeID        addr.NodeID
	Registered    bool
	RegistryOK    bool      // last heartbeat (or registration) succeeded
	LastError     string    // last registry failure, "" after a success
	LastHeartbeat time.Time // zero before the first
	KeyExpiresAt  time.Time // zero = no expiry known
}

// Status is "ok", or "degraded" when the last heartbeat failed or the key
// has expired.
func (h Health) Status(now time.Time) string {
	if !h.RegistryOK || (!h.KeyExpiresAt.IsZero() && !now.Before(h.KeyExpiresAt)) {
		return "degraded"
	}
	return "ok"
}

// RegistryState is "ok" or "unreachable" (Health JSON "registry").
func (h Health) RegistryState() string {
	if h.RegistryOK {
		return "ok"
	}
	return "unreachable"
}

// Registrar registers the node, sends heartbeats, re-registers, and runs
// the key rotation flow (cli.md §3.1, §4.8). Run owns its goroutine; the
// other methods are safe for concurrent use.
//
// Lock order: opMu before mu. opMu serialises the operations that depend
// on which key signs (register, heartbeat, rotation); mu guards the state.
type Registrar struct {
	cfg    RegistrarConfig
	client *regclient.Client
	log    *slog.Logger
	events Emitter
	now    func() time.Time
	kick   chan struct{} // capacity 1: re-register at the next chance

	first     chan struct{} // closed once the first registration attempt is over
	firstOnce sync.Once

	opMu sync.Mutex
	mu   sync.Mutex
	// guarded by mu
	cur          *identity.Identity
	next         *identity.Identity // pending rotation key (identity.json.next), nil = none
	nodeID       addr.NodeID
	address      addr.Addr
	hostname     string
	public       bool
	registered   bool
	deregistered bool // IPC Deregister: register again at the next heartbeat
	health       Health
	epoch        uint64
	epochKnown   bool
	warnAt       time.Time // last key.expiring
	warnExp      string    // key_expires_at of that warning
	members      *Memberships
}

// NewRegistrar checks cfg and loads a pending rotation key, if any. A
// pending key file that cannot be read is a start-up error: it may be the
// key the registry holds, so it is never discarded unseen.
func NewRegistrar(cfg RegistrarConfig) (*Registrar, error) {
	if cfg.Client == nil || cfg.Identity == nil || cfg.IdentityPath == "" {
		return nil, errors.New("daemon: registrar needs a client, an identity and its path")
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = 30 * time.Second
	}
	r := &Registrar{
		cfg: cfg, client: cfg.Client, log: cfg.Logger, events: cfg.Events, now: cfg.Now,
		kick: make(chan struct{}, 1), first: make(chan struct{}), cur: cfg.Identity, hostname: cfg.Hostname, public: cfg.Public,
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.events == nil {
		r.events = nopEmitter{}
	}
	if r.now == nil {
		r.now = time.Now
	}
	r.members = NewMemberships(r.events, r.log)
	next, err := identity.LoadNext(cfg.IdentityPath)
	switch {
	case err == nil:
		r.next = next
		r.log.Warn("a key rotation was interrupted; the registry's key decides which key is kept",
			"file", identity.NextPath(cfg.IdentityPath))
	case !isNotExist(err):
		return nil, fmt.Errorf("pending key rotation: %w", err)
	}
	return r, nil
}

// Memberships returns the membership tracker (Info "networks", sync events).
func (r *Registrar) Memberships() *Memberships { return r.members }

// NodeID returns the node ID (0 before the first registration).
func (r *Registrar) NodeID() addr.NodeID {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.nodeID
}

// Identity returns the current signing identity.
func (r *Registrar) Identity() *identity.Identity {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cur
}

// Health returns a snapshot of the health state.
func (r *Registrar) Health() Health {
	r.mu.Lock()
	defer r.mu.Unlock()
	h := r.health
	h.NodeID, h.Registered = r.nodeID, r.registered
	return h
}

// SetHostname records the hostname re-applied after re-registration (IPC
// SetHostname calls it after the registry accepted the change).
func (r *Registrar) SetHostname(name string) {
	r.mu.Lock()
	r.hostname = name
	r.mu.Unlock()
}

// SetPublic records the visibility re-applied after re-registration.
func (r *Registrar) SetPublic(public bool) {
	r.mu.Lock()
	r.public = public
	r.mu.Unlock()
}

// MarkDeregistered makes the daemon register again at its next heartbeat
// (ipc.md §5.14).
func (r *Registrar) MarkDeregistered() {
	r.mu.Lock()
	r.deregistered = true
	r.registered = false
	r.mu.Unlock()
}

// Reregister asks Run to register again now.
func (r *Registrar) Reregister() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Run registers (retrying with backoff 1 s doubling to 30 s while the
// registry is unreachable), then sends heartbeats and re-registers when
// needed, until ctx ends. It never deregisters.
func (r *Registrar) Run(ctx context.Context) error {
	rereg := false
	for {
		if !r.registerLoop(ctx, rereg) {
			return nil
		}
		rereg = true
		if !r.heartbeatLoop(ctx) {
			return nil
		}
	}
}

// FirstAttempt is closed once the first registration attempt is over,
// whatever its outcome: the daemon starts IPC and its services after it
// (cli.md §3.1 start-up order).
func (r *Registrar) FirstAttempt() <-chan struct{} { return r.first }

// Registered reports whether the node is registered.
func (r *Registrar) Registered() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.registered && !r.deregistered
}

func (r *Registrar) firstAttemptOver() { r.firstOnce.Do(func() { close(r.first) }) }

// registerLoop registers until it succeeds (true) or ctx ends (false).
func (r *Registrar) registerLoop(ctx context.Context, rereg bool) bool {
	backoff := registerBackoffMin
	for {
		err := r.registerOnce(ctx, rereg)
		r.firstAttemptOver()
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		r.failed(err)
		r.log.Warn("registration failed; retrying", "err", err, "delay", backoff)
		if !sleepCtx(ctx, backoff) {
			return false
		}
		backoff = min(2*backoff, registerBackoffMax)
	}
}

// heartbeatLoop sends heartbeats until a re-registration is needed (true)
// or ctx ends (false).
func (r *Registrar) heartbeatLoop(ctx context.Context) bool {
	fails := 0
	for {
		select {
		case <-ctx.Done():
			return false
		case <-r.kick:
			return true
		case <-time.After(r.heartbeatInterval()):
		}
		r.mu.Lock()
		dereg := r.deregistered
		r.mu.Unlock()
		if dereg {
			return true
		}
		again, err := r.heartbeatOnce(ctx)
		if ctx.Err() != nil {
			return false
		}
		if err == nil {
			fails = 0
			continue
		}
		if again {
			return true
		}
		if fails++; fails >= heartbeatFailLimit {
			r.log.Warn("registry unreachable; re-registering", "failures", fails)
			return true
		}
	}
}

func (r *Registrar) heartbeatInterval() time.Duration { return r.cfg.Heartbeat }

// heartbeatOnce sends one heartbeat (after resolving a pending rotation).
// again reports a not_found reply: the registry does not know the node.
func (r *Registrar) heartbeatOnce(ctx context.Context) (again bool, err error) {
	r.opMu.Lock()
	if err := r.resolvePendingLocked(ctx); err != nil {
		r.log.Debug("pending key rotation still unresolved", "err", err)
	}
	hb, err := r.client.Heartbeat(ctx)
	r.opMu.Unlock()
	if err != nil {
		r.failed(err)
		var re *regmsg.Error
		if errors.As(err, &re) && re.Code == regmsg.CodeNotFound {
			r.log.Warn("registry does not know this node; re-registering")
			return true, err
		}
		r.log.Warn("heartbeat failed", "err", err)
		return false, err
	}
	r.mu.Lock()
	r.health.RegistryOK, r.health.LastError, r.health.LastHeartbeat = true, "", r.now()
	r.mu.Unlock()
	r.keyWarning(hb)
	r.observeEpoch(ctx, hb.PolicyEpoch)
	if r.cfg.OnHeartbeat != nil {
		r.cfg.OnHeartbeat(ctx)
	}
	return false, nil
}

// failed records a registry failure for Health.
func (r *Registrar) failed(err error) {
	r.mu.Lock()
	r.health.RegistryOK, r.health.LastError = false, err.Error()
	r.mu.Unlock()
}

// registerOnce sends register and applies what follows a registration:
// visibility, events, hooks.
func (r *Registrar) registerOnce(ctx context.Context, rereg bool) error {
	r.opMu.Lock()
	rep, err := r.registerLocked(ctx)
	r.opMu.Unlock()
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.nodeID, r.address, r.registered, r.deregistered = rep.NodeID, rep.Address, true, false
	r.health.RegistryOK, r.health.LastError = true, ""
	public := r.public
	r.mu.Unlock()
	if rep.HostnameError != "" {
		r.log.Warn("hostname not applied", "err", rep.HostnameError)
	}
	if public {
		if _, err := r.client.SetVisibility(ctx, true); err != nil {
			r.log.Warn("set_visibility failed", "err", err)
		}
	}
	if rereg {
		r.log.Info("re-registered", "node", rep.NodeID, "addr", rep.Address.String())
		r.events.Emit("node.reregistered", whmsg.Fields{{Key: "address", Value: rep.Address.String()}})
	} else {
		r.log.Info("registered", "node", rep.NodeID, "addr", rep.Address.String(), "endpoint", rep.ObservedAddr)
		r.events.Emit("node.registered", whmsg.Fields{
			{Key: "address", Value: rep.Address.String()}, {Key: "endpoint", Value: rep.ObservedAddr},
		})
	}
	r.refreshKeyInfo(ctx)
	r.observeEpoch(ctx, rep.PolicyEpoch)
	if r.cfg.OnRegistered != nil {
		r.cfg.OnRegistered(ctx, Registration{NodeID: rep.NodeID, Address: rep.Address,
			ObservedAddr: rep.ObservedAddr, Reregistered: rereg})
	}
	return nil
}

// registerLocked builds and sends register with the current key. With a
// pending rotation key it resolves the rotation (cli.md §4.8 step 5): the
// registry refuses a retired key, so a refusal of the current key followed
// by a success with the pending one means the rotation happened.
func (r *Registrar) registerLocked(ctx context.Context) (*regmsg.RegisterOK, error) {
	r.mu.Lock()
	cur, next := r.cur, r.next
	r.mu.Unlock()
	rep, err := r.client.Register(ctx, r.registerRequest())
	var re *regmsg.Error
	if err == nil || next == nil || !errors.As(err, &re) || !keyReplaced(re) {
		if err == nil && next != nil && rep.PublicKey == cur.PublicKeyBase64() {
			r.discardNextLocked("the registry holds the current key")
		}
		return rep, err
	}
	r.client.SetIdentity(next)
	rep, err = r.client.Register(ctx, r.registerRequest())
	if err != nil {
		r.client.SetIdentity(cur)
		return nil, err
	}
	r.adoptNextLocked("the registry holds the pending key")
	return rep, nil
}

// keyReplaced reports whether a register refusal says that the key was
// retired (registry.md §7.1.1 decision 1: unauthenticated, "this key was
// replaced on T"): only then may the pending key be what the registry
// holds. Any other unauthenticated refusal (an expired key, which an admin
// can extend) keeps both keys: registering with the pending key would
// create a new node and replace identity.json (cli.md §3.1: never
// silently).
func keyReplaced(re *regmsg.Error) bool {
	return re.Code == regmsg.CodeUnauthenticated && strings.Contains(re.Message, regmsg.KeyReplaced)
}

func (r *Registrar) registerRequest() *regmsg.Register {
	r.mu.Lock()
	host := r.hostname
	r.mu.Unlock()
	req := &regmsg.Register{
		Owner: r.cfg.Owner, Hostname: host, Version: r.cfg.Version,
		Capabilities: append([]string(nil), Capabilities...),
	}
	if r.cfg.ListenAddr != nil {
		req.ListenAddr = r.cfg.ListenAddr()
	}
	if r.cfg.LANAddrs != nil {
		if lan := r.cfg.LANAddrs(); len(lan) > 0 {
			req.LANAddrs = lan[:min(len(lan), regmsg.MaxLANAddrs)]
		}
	}
	return req
}

// refreshKeyInfo learns the key's expiry for Health (best effort).
func (r *Registrar) refreshKeyInfo(ctx context.Context) {
	info, err := r.client.GetKeyInfo(ctx, r.NodeID())
	if err != nil {
		r.log.Debug("get_key_info failed", "err", err)
		return
	}
	r.setKeyExpiry(info.ExpiresAt)
}

func (r *Registrar) setKeyExpiry(rfc3339 string) {
	var t time.Time
	if rfc3339 != "" {
		if p, err := time.Parse(time.RFC3339, rfc3339); err == nil {
			t = p
		}
	}
	r.mu.Lock()
	r.health.KeyExpiresAt = t
	r.mu.Unlock()
}

// keyWarning applies the key.expiring rule of services.md §8.3: on the
// first warning after start or after expires_at changes, then at most once
// every 6 hours while the warning lasts; a WARN each time.
func (r *Registrar) keyWarning(hb *regmsg.HeartbeatOK) {
	if !hb.KeyExpiryWarning {
		return
	}
	now := r.now()
	r.mu.Lock()
	emit := r.warnAt.IsZero() || hb.KeyExpiresAt != r.warnExp || now.Sub(r.warnAt) >= keyWarnEvery
	if emit {
		r.warnAt, r.warnExp = now, hb.KeyExpiresAt
	}
	r.mu.Unlock()
	if hb.KeyExpiresAt != "" {
		r.setKeyExpiry(hb.KeyExpiresAt)
	}
	if !emit {
		return
	}
	hours := int64(0)
	if exp, err := time.Parse(time.RFC3339, hb.KeyExpiresAt); err == nil && exp.After(now) {
		hours = int64(exp.Sub(now) / time.Hour)
	}
	r.log.Warn("node key expires soon; rotate it (pilotctl key rotate) or extend it (pilotctl key expiry)",
		"expires_at", hb.KeyExpiresAt, "hours_left", hours)
	r.events.Emit("key.expiring", whmsg.Fields{
		{Key: "expires_at", Value: hb.KeyExpiresAt}, {Key: "hours_left", Value: hours},
	})
}

// observeEpoch reports a new policy_epoch to the subscriber and refreshes
// the membership set (network.sync_joined / sync_left).
func (r *Registrar) observeEpoch(ctx context.Context, epoch uint64) {
	r.mu.Lock()
	changed := r.epochKnown && epoch != r.epoch
	first := !r.epochKnown
	r.epoch, r.epochKnown = epoch, true
	r.mu.Unlock()
	if changed && r.cfg.OnPolicyEpoch != nil {
		r.cfg.OnPolicyEpoch(epoch)
	}
	if changed || first {
		r.syncMemberships(ctx)
	}
}

// syncMemberships reads the node's memberships from the registry (signed
// lookup of itself, which lists all of them).
func (r *Registrar) syncMemberships(ctx context.Context) {
	self := r.NodeID()
	if self == 0 {
		return
	}
	rep, err := r.client.Lookup(ctx, self)
	if err != nil {
		r.log.Debug("membership refresh failed", "err", err)
		return
	}
	r.members.Sync(rep.Networks)
}

// sleepCtx waits d; false when ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// Public reports the visibility the daemon applies (-public, then IPC
// SetVisibility); admission admits every peer while it is true.
func (r *Registrar) Public() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.public
}

// Hostname returns the hostname the daemon applies (-hostname, then IPC
// SetHostname); "" when none.
func (r *Registrar) Hostname() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.hostname
}

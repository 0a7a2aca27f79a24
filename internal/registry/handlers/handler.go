package handlers

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/registry/auditlog"
	"github.com/pilot-go/pilot/internal/registry/metrics"
	"github.com/pilot-go/pilot/internal/registry/ratelimit"
	"github.com/pilot-go/pilot/internal/registry/server"
	"github.com/pilot-go/pilot/internal/registry/store"
	"github.com/pilot-go/pilot/internal/wire/regmsg"
	"golang.org/x/time/rate"
)

// Defaults of Config (registry.md §8.2).
const (
	DefaultAuthSkew     = 60 * time.Second
	DefaultStaleAfter   = 180 * time.Second
	DefaultInviteTTL    = 7 * 24 * time.Hour
	DefaultHandshakeTTL = 7 * 24 * time.Hour
	// MinNonceWindow is the replay window of §5.2 step 5 (at least 2 × skew).
	MinNonceWindow = 120 * time.Second
	// HeartbeatIntervalS is the suggested heartbeat interval (§7.1.1).
	HeartbeatIntervalS = 30
	// KeyExpiryWarning is the warning window of §10 rule 2.
	KeyExpiryWarning = 24 * time.Hour
	// BeaconTTL is the beacon directory entry lifetime (§7.10).
	BeaconTTL = 60 * time.Second
)

// Config is what the handlers need; the composition root fills it from the
// flags (registry.Deps).
type Config struct {
	Store   store.Store
	Metrics *metrics.Metrics   // nil: no metrics
	Limiter *ratelimit.Limiter // nil: no rate limits
	Audit   *auditlog.Logger   // nil: no audit log records (rows are still stored)
	Logger  *slog.Logger       // nil: discard
	Now     func() time.Time   // nil: time.Now
	Version string             // registry_version of register_ok

	AdminToken   string        // -admin-token ("" = none)
	LegacyV1     bool          // -legacy-v1-auth
	AuthSkew     time.Duration // -auth-skew
	StaleAfter   time.Duration // -stale-after
	NodeTTL      time.Duration // -node-ttl (0 = never purge)
	InviteTTL    time.Duration // -invite-ttl
	HandshakeTTL time.Duration // -handshake-ttl
	BeaconToken  string        // -beacon-token ("" = beacon_register refused)
	// SeenFlushInterval is how often heartbeats kept in memory are written
	// to the store (seen.go); default 10 s, at most 30 s (§7.1.2).
	SeenFlushInterval time.Duration
}

// Handler answers registry requests; it implements server.Dispatcher.
type Handler struct {
	cfg      Config
	st       store.Store
	m        *metrics.Metrics
	lim      *ratelimit.Limiter
	log      *slog.Logger
	now      func() time.Time
	window   time.Duration
	adminSum [32]byte // SHA-256 of the global admin token
	nonces   *nonceCache
	seen     *seenOverlay
	sigs     sigBatcher // shares Ed25519 verifications between requests

	denyLog *rate.Limiter // WARN lines for refused requests (§9.1), rate-limited

	legacyMu   sync.Mutex
	legacyWarn map[string]legacyCount // type → WARN state (one per minute)
}

type legacyCount struct {
	last  time.Time
	count int
}

// New builds a Handler.
func New(cfg Config) (*Handler, error) {
	if cfg.Store == nil {
		return nil, errors.New("handlers: no store")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.AuthSkew <= 0 {
		cfg.AuthSkew = DefaultAuthSkew
	}
	if cfg.StaleAfter <= 0 {
		cfg.StaleAfter = DefaultStaleAfter
	}
	if cfg.InviteTTL <= 0 {
		cfg.InviteTTL = DefaultInviteTTL
	}
	if cfg.HandshakeTTL <= 0 {
		cfg.HandshakeTTL = DefaultHandshakeTTL
	}
	if cfg.SeenFlushInterval <= 0 {
		cfg.SeenFlushInterval = DefaultSeenFlushInterval
	}
	if cfg.SeenFlushInterval > MaxSeenFlushInterval {
		return nil, fmt.Errorf("handlers: last_seen flush interval %v exceeds %v (registry.md §7.1.2)", cfg.SeenFlushInterval, MaxSeenFlushInterval)
	}
	if cfg.Limiter == nil {
		l, err := ratelimit.New(ratelimit.Config{Disabled: true})
		if err != nil {
			return nil, err
		}
		cfg.Limiter = l
	}
	h := &Handler{cfg: cfg, st: cfg.Store, m: cfg.Metrics, lim: cfg.Limiter, log: cfg.Logger,
		now: cfg.Now, legacyWarn: make(map[string]legacyCount), denyLog: rate.NewLimiter(1, 10)}
	h.window = max(MinNonceWindow, 2*cfg.AuthSkew)
	h.nonces = newNonceCache(h.window)
	h.seen = newSeenOverlay()
	if cfg.AdminToken != "" {
		h.adminSum = sha256.Sum256([]byte(cfg.AdminToken))
	}
	return h, nil
}

// call is the state of one request through the pipeline.
type call struct {
	h      *Handler
	ctx    context.Context
	req    regmsg.Request
	typ    string
	now    time.Time
	ip     netip.Addr
	remote netip.AddrPort

	kind     regmsg.AuthKind
	signer   addr.NodeID     // verified node signer, 0 = none
	node     store.Node      // the signer's record when signer ≠ 0
	verified bool            // a signature verified (a node's or a carried key's)
	key      store.PublicKey // the verifying key
	nonce    store.Nonce
	hasNonce bool   // a v2 nonce to remember after the request
	inTx     bool   // the nonce is recorded in the mutation's transaction
	epoch    uint64 // policy epoch read with the signer (heartbeat)

	tokenPresent bool // admin_token present and non-empty
	globalTok    bool // admin_token equals the global admin token

	events []store.AuditEntry // appended in the current transaction
}

// Handle implements server.Dispatcher.
func (h *Handler) Handle(ctx context.Context, sr *server.Request) server.Response {
	req, err := regmsg.DecodeRequest(sr.Body)
	if err != nil {
		return h.errorResponse(rawType(sr.Body), err)
	}
	c := &call{h: h, ctx: ctx, req: req, typ: req.Type(), now: h.now(),
		ip: sr.RemoteIP.Unmap(), remote: sr.Remote, kind: regmsg.AuthVersion(req)}
	reply, err := c.serve()
	if err != nil {
		resp := h.errorResponse(c.typ, err)
		h.logRefusal(c, resp.Code, err)
		return resp
	}
	body, err := regmsg.MarshalReply(reply)
	if err != nil {
		return h.errorResponse(c.typ, c.internal(err))
	}
	return server.Response{Body: body, Type: c.typ}
}

// serve runs steps 2–7 of §6.4 and the handler.
func (c *call) serve() (regmsg.Reply, error) {
	if err := c.preLimits(); err != nil {
		return nil, err
	}
	if err := c.authenticate(); err != nil {
		return nil, c.authFailed(err)
	}
	defer c.rememberNonce()
	if err := c.postLimits(); err != nil {
		return nil, err
	}
	reply, err := c.route()
	if err != nil {
		var ae *authError
		if errors.As(err, &ae) {
			return nil, c.authFailed(ae)
		}
		return nil, err
	}
	return reply, nil
}

// errorResponse turns err into an error reply.
func (h *Handler) errorResponse(typ string, err error) server.Response {
	var re *regmsg.Error
	if !errors.As(err, &re) {
		re = h.mapStoreError(err)
	}
	return server.Response{Body: regmsg.MarshalError(re), Type: typ, Code: string(re.Code)}
}

// logRefusal logs denied requests at WARN, at most about one per second
// (§9.1: denied requests are counted in metrics and logged, rate-limited).
func (h *Handler) logRefusal(c *call, code string, err error) {
	switch regmsg.Code(code) {
	case regmsg.CodeUnauthenticated, regmsg.CodePermissionDenied, regmsg.CodeRateLimited:
	default:
		return
	}
	if !h.denyLog.Allow() {
		return
	}
	var re *regmsg.Error
	msg := ""
	if errors.As(err, &re) {
		msg = re.Message
	}
	h.log.Warn("request refused", "type", c.typ, "code", code, "remote_ip", c.ip.String(),
		"signer", uint32(c.signer), "reason", msg)
}

// mapStoreError turns an unexpected error into unavailable or internal.
func (h *Handler) mapStoreError(err error) *regmsg.Error {
	if errors.Is(err, store.ErrClosed) || errors.Is(err, context.Canceled) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, store.ErrReadOnly) {
		return regmsg.Errorf(regmsg.CodeUnavailable, "the registry store is unavailable or the registry is shutting down; retry with backoff")
	}
	h.log.Error("request failed with an internal error", "err", err)
	return regmsg.Errorf(regmsg.CodeInternal, "internal error: the registry hit an unexpected store error; it has been logged, please report it")
}

func (c *call) internal(err error) error { return c.h.mapStoreError(err) }

// rawType extracts "type" from a body that failed to decode, for metrics:
// the value of the one key spelled exactly "type" at the top level (§4.1:
// keys are case-sensitive, a repeated key is an error), else "".
func rawType(body []byte) string {
	dec := json.NewDecoder(bytes.NewReader(body))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return ""
	}
	typ, seen := "", 0
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return ""
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return ""
		}
		if k == "type" {
			seen++
			if json.Unmarshal(v, &typ) != nil {
				return ""
			}
		}
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('}') || seen != 1 {
		return ""
	}
	return typ
}

// Error helpers.

func invalid(format string, a ...any) error {
	return regmsg.Errorf(regmsg.CodeInvalidArgument, format, a...)
}
func notFound(format string, a ...any) error { return regmsg.Errorf(regmsg.CodeNotFound, format, a...) }
func exists(format string, a ...any) error {
	return regmsg.Errorf(regmsg.CodeAlreadyExists, format, a...)
}
func denied(format string, a ...any) error {
	return regmsg.Errorf(regmsg.CodePermissionDenied, format, a...)
}
func precondition(format string, a ...any) error {
	return regmsg.Errorf(regmsg.CodeFailedPrecondition, format, a...)
}
func exhausted(format string, a ...any) error {
	return regmsg.Errorf(regmsg.CodeResourceExhausted, format, a...)
}
func unauth(format string, a ...any) error {
	return regmsg.Errorf(regmsg.CodeUnauthenticated, format, a...)
}

func nodeNotRegistered(id addr.NodeID) error {
	return notFound("node %d is not registered", id)
}

func networkNotFound(id addr.NetworkID) error {
	return notFound("network %d does not exist", id)
}

// fmtTime formats a *_at field.
func fmtTime(t time.Time) string { return regmsg.FormatTime(t) }

// online reports whether n was seen within -stale-after (stored last_seen
// or a heartbeat still in memory, seen.go).
func (c *call) online(n store.Node) bool {
	seen := c.h.lastSeen(n)
	return !seen.IsZero() && c.now.Sub(seen) <= c.h.cfg.StaleAfter
}

var _ server.Dispatcher = (*Handler)(nil)

// errReplyTooLarge makes a draining transaction roll back and retry smaller.
var errReplyTooLarge = errors.New("reply too large")

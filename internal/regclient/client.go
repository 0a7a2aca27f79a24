package regclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/identity"
)

// DefaultTimeout is the deadline of every registry call (cli.md §3.3).
const DefaultTimeout = 10 * time.Second

// Backoff of the transport retry (cli.md §3.3): 0.5 s doubling to 10 s.
const (
	minBackoff = 500 * time.Millisecond
	maxBackoff = 10 * time.Second
)

var (
	// ErrTransport marks a failure to reach the registry or to exchange
	// frames with it: dial, TLS handshake, read or write error, connection
	// closed, or no reply before the deadline. The outcome of the request
	// is then unknown.
	ErrTransport = errors.New("registry transport failure")
	// ErrProtocol marks bytes from the registry that are not a valid reply
	// to the request (an oversized frame, a body that is not a JSON object,
	// a reply of another type, a reply nobody asked for).
	ErrProtocol = errors.New("registry protocol violation")
	// ErrClosed is returned by calls on a closed Client.
	ErrClosed = errors.New("registry client closed")
	// ErrNoIdentity is returned when a request must be signed and the
	// client has no identity to sign with.
	ErrNoIdentity = errors.New("registry request needs a signature but the client has no identity")
)

// Unreachable reports whether err means that the registry could not be
// reached: a transport failure, a closed client, or a request cancelled or
// out of time (ipc.md §4: "Unreachable registry → 10 unavailable"). A
// protocol violation is not: the registry answered.
func Unreachable(err error) bool {
	if err == nil || errors.Is(err, ErrProtocol) {
		return false
	}
	return errors.Is(err, ErrTransport) || errors.Is(err, ErrClosed) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

// Config configures a Client. Only Addr is required.
type Config struct {
	// Addr is the registry's host:port.
	Addr string
	// TLS enables TLS (-registry-tls).
	TLS bool
	// Fingerprint pins the registry certificate (-registry-fingerprint):
	// SHA-256 of the leaf DER as 64 hex digits, any case, optional ':'
	// separators. It requires TLS. Empty = verify chain and host name.
	Fingerprint string
	// RootCAs replaces the system roots for the unpinned verification
	// (tests). nil = system roots.
	RootCAs *x509.CertPool
	// Identity signs requests. nil = anonymous or token-only use; signed
	// calls then fail with ErrNoIdentity. See SetIdentity.
	Identity *identity.Identity
	// NodeID is the node this client speaks for, when already known
	// (0 = not registered yet). Register sets it; see SetNodeID.
	NodeID addr.NodeID
	// AuthMode selects auth v2, legacy v1, or auto (-registry-auth).
	AuthMode AuthMode
	// Timeout is the deadline of each call, all attempts included.
	// 0 = DefaultTimeout.
	Timeout time.Duration
	// Clock gives the ts of signed requests. nil = time.Now.
	Clock func() time.Time
	// Rand is the source of nonces. nil = crypto/rand. It is read under a
	// lock, so it need not be safe for concurrent use.
	Rand io.Reader
	// Logger receives debug and warning lines of the retry paths. nil =
	// discard. Tokens, signatures, nonces and keys are never logged.
	Logger *slog.Logger
	// Dialer opens the TCP connection (tests). nil = net.Dialer. TLS, when
	// enabled, runs on top of the returned connection.
	Dialer func(ctx context.Context, network, address string) (net.Conn, error)
}

// Client is a registry client. It is safe for concurrent use: concurrent
// calls share one connection and are pipelined.
//
// Lock order: Client.mu before conn.mu; authMu and randMu are leaves.
type Client struct {
	// Set once in New.
	addr    string
	tlsConf *tls.Config // nil = plaintext
	log     *slog.Logger
	timeout time.Duration
	now     func() time.Time
	dial    func(ctx context.Context, network, address string) (net.Conn, error)
	mode    AuthMode
	// sleep waits d or until ctx ends; tests replace it to run the retry
	// paths without waiting.
	sleep func(ctx context.Context, d time.Duration) error

	randMu sync.Mutex // guards rand
	rand   io.Reader  // nil = crypto/rand

	auth     atomic.Pointer[authState] // replaced whole by SetIdentity/SetNodeID
	authMu   sync.Mutex                // serializes writers of auth
	resolved atomic.Uint32             // auto mode: AuthV1 once register_ok said so

	dialSem chan struct{} // capacity 1: one dial at a time

	mu      sync.Mutex
	cur     *conn         // guarded by mu; nil before the first dial
	closed  bool          // guarded by mu
	backoff time.Duration // guarded by mu; delay before the next transport retry
}

// authState is the signing state: who the client is.
type authState struct {
	id   *identity.Identity
	node addr.NodeID
}

// New checks cfg and returns a client. It does not dial: the connection is
// opened by the first call.
func New(cfg Config) (*Client, error) {
	host, _, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("regclient: registry address %q: want host:port: %v", cfg.Addr, err)
	}
	switch cfg.AuthMode {
	case AuthAuto, AuthV2, AuthV1:
	default:
		return nil, fmt.Errorf("regclient: unknown auth mode %d", cfg.AuthMode)
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("regclient: negative timeout %v", cfg.Timeout)
	}
	c := &Client{
		addr:    cfg.Addr,
		log:     cfg.Logger,
		timeout: cfg.Timeout,
		now:     cfg.Clock,
		dial:    cfg.Dialer,
		mode:    cfg.AuthMode,
		sleep:   sleepCtx,
		rand:    cfg.Rand,
		dialSem: make(chan struct{}, 1),
		backoff: minBackoff,
	}
	if cfg.TLS {
		c.tlsConf, err = clientTLS(host, cfg.Fingerprint, cfg.RootCAs)
		if err != nil {
			return nil, err
		}
	} else if cfg.Fingerprint != "" {
		return nil, errors.New("regclient: a registry fingerprint needs TLS; add -registry-tls")
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.timeout == 0 {
		c.timeout = DefaultTimeout
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.dial == nil {
		var d net.Dialer
		c.dial = d.DialContext
	}
	c.auth.Store(&authState{id: cfg.Identity, node: cfg.NodeID})
	return c, nil
}

// SetIdentity replaces the signing identity, keeping the node ID: the
// daemon calls it when it adopts a key after an interrupted rotation (a
// successful RotateKey switches by itself). Calls already signed keep the
// identity they were signed with; later attempts use the new one. Safe for
// concurrent use.
func (c *Client) SetIdentity(id *identity.Identity) {
	c.authMu.Lock()
	defer c.authMu.Unlock()
	c.auth.Store(&authState{id: id, node: c.auth.Load().node})
}

// SetNodeID sets the node this client speaks for (the signer field of the
// typed methods). Register sets it from register_ok; the daemon needs this
// only when it learns its ID otherwise. Safe for concurrent use.
func (c *Client) SetNodeID(node addr.NodeID) {
	c.authMu.Lock()
	defer c.authMu.Unlock()
	c.auth.Store(&authState{id: c.auth.Load().id, node: node})
}

// NodeID returns the node this client speaks for (0 before Register).
func (c *Client) NodeID() addr.NodeID { return c.auth.Load().node }

// Identity returns the current signing identity (nil when none).
func (c *Client) Identity() *identity.Identity { return c.auth.Load().id }

// AuthMode returns the auth mode in use: the configured one, or for auto
// the one the last register_ok selected (v2 before any register).
func (c *Client) AuthMode() AuthMode {
	if c.mode != AuthAuto {
		return c.mode
	}
	if AuthMode(c.resolved.Load()) == AuthV1 {
		return AuthV1
	}
	return AuthV2
}

// Close closes the connection and fails the calls in flight with
// ErrClosed. It is idempotent; calls after Close fail with ErrClosed.
func (c *Client) Close() error {
	c.mu.Lock()
	c.closed = true
	cur := c.cur
	c.cur = nil
	c.mu.Unlock()
	if cur != nil {
		cur.fail(ErrClosed)
		cur.wait()
	}
	return nil
}

// getConn returns a live connection, dialing one when there is none. Only
// one goroutine dials at a time; the others wait for its result.
func (c *Client) getConn(ctx context.Context) (*conn, error) {
	if cn, err := c.liveConn(); cn != nil || err != nil {
		return cn, err
	}
	select {
	case c.dialSem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-c.dialSem }()
	if cn, err := c.liveConn(); cn != nil || err != nil {
		return cn, err
	}
	c.mu.Lock()
	old := c.cur
	c.mu.Unlock()
	if old != nil {
		old.wait() // reap the loops of the dead connection
	}
	nc, err := c.dialConn(ctx)
	if err != nil {
		return nil, err
	}
	cn := newConn(nc)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		cn.fail(ErrClosed)
		cn.wait()
		return nil, ErrClosed
	}
	c.cur = cn
	c.mu.Unlock()
	return cn, nil
}

// liveConn returns the current connection when it is alive, ErrClosed when
// the client is closed, and (nil, nil) when a dial is needed.
func (c *Client) liveConn() (*conn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	if c.cur != nil && c.cur.alive() {
		return c.cur, nil
	}
	return nil, nil
}

// dialConn opens the TCP connection and runs the TLS handshake.
func (c *Client) dialConn(ctx context.Context) (net.Conn, error) {
	nc, err := c.dial(ctx, "tcp", c.addr)
	if err != nil {
		return nil, fmt.Errorf("%w: dial %s: %w", ErrTransport, c.addr, err)
	}
	if c.tlsConf == nil {
		return nc, nil
	}
	tc := tls.Client(nc, c.tlsConf)
	if err := tc.HandshakeContext(ctx); err != nil {
		nc.Close()
		return nil, fmt.Errorf("%w: tls handshake with %s: %w", ErrTransport, c.addr, err)
	}
	return tc, nil
}

// nextBackoff returns the delay before a transport retry and doubles the
// next one, up to maxBackoff.
func (c *Client) nextBackoff() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	d := c.backoff
	c.backoff = min(2*c.backoff, maxBackoff)
	return d
}

// resetBackoff is called after every reply.
func (c *Client) resetBackoff() {
	c.mu.Lock()
	c.backoff = minBackoff
	c.mu.Unlock()
}

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

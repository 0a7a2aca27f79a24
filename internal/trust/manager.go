package trust

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/identity"
	"github.com/pilot-go/pilot/internal/regclient"
	"github.com/pilot-go/pilot/internal/wire/regmsg"
	whmsg "github.com/pilot-go/pilot/internal/wire/svcmsg/webhook"
)

// MaxPending bounds the pending requests, direct and relayed together.
const MaxPending = 256

// Registry is the part of the registry client the trust component uses
// (registry.md §7.1.4, §7.3); the daemon adapts *regclient.Client. Every
// call is signed by this node.
type Registry interface {
	ReportTrust(ctx context.Context, peer addr.NodeID) (*regmsg.ReportTrustOK, error)
	RevokeTrust(ctx context.Context, peer addr.NodeID) (*regmsg.RevokeTrustOK, error)
	CheckTrust(ctx context.Context, peer addr.NodeID) (*regmsg.CheckTrustOK, error)
	RequestHandshake(ctx context.Context, to addr.NodeID, justification string) (*regmsg.RequestHandshakeOK, error)
	RespondHandshake(ctx context.Context, peer addr.NodeID, accept bool) (*regmsg.RespondHandshakeOK, error)
	PollHandshakes(ctx context.Context, page regmsg.Page) (*regmsg.PollHandshakesOK, error)
	Lookup(ctx context.Context, node addr.NodeID) (*regmsg.LookupOK, error)
}

// Sender delivers one encoded message to port 444 of peer over a fresh
// stream (services.md §5.1): one write, close once acknowledged (≤ 5 s).
// An error means the dial or the send failed. The data plane implements it.
type Sender interface {
	SendHandshake(ctx context.Context, peer addr.NodeID, msg []byte) error
}

// Tunnels tears down the tunnel state of a peer whose trust was revoked.
type Tunnels interface {
	Teardown(peer addr.NodeID)
}

// Emitter receives webhook events (services.md §8.3); it must not block.
type Emitter interface {
	Emit(event string, data whmsg.Fields)
}

// Config configures a Manager. Self, Identity and Registry are required.
type Config struct {
	// Path is trust.json; "" = no persistence (tests, tools).
	Path string
	// Self returns this node's ID (0 before the first registration).
	Self func() addr.NodeID
	// Identity returns the current signing identity (it changes on key
	// rotation).
	Identity func() *identity.Identity
	Registry Registry
	Sender   Sender  // nil: every direct send fails (relay only)
	Tunnels  Tunnels // nil: nothing to tear down
	Events   Emitter // nil: no events
	Logger   *slog.Logger
	Now      func() time.Time // nil = time.Now
	Rand     io.Reader        // nonces; nil = crypto/rand
	// AutoApprove is -trust-auto-approve.
	AutoApprove bool
	// HandshakeCompat is -handshake-compat (default true in the daemon):
	// accept v1-only messages from peers without handshake-v2.
	HandshakeCompat bool
	// MSS is -mss: toward a peer without handshake-v2, messages longer
	// than it go through the registry relay (§5.1). 0 = no such limit.
	MSS int
}

// Manager is the trust store and the handshake state machine of
// services.md §5.4. Its methods are safe for concurrent use; registry
// calls and sends happen outside its lock.
//
// Lock order: persistMu before mu; peers.mu and replay.mu are leaves.
type Manager struct {
	cfg    Config
	log    *slog.Logger
	now    func() time.Time
	self   func() addr.NodeID
	reg    Registry
	events Emitter

	peers  peerCache
	replay replayCache

	dropMu    sync.Mutex
	dropLogAt time.Time // guarded by dropMu

	persistMu sync.Mutex
	mu        sync.RWMutex
	trusted   map[addr.NodeID]Entry        // guarded by mu
	pending   map[addr.NodeID]PendingEntry // guarded by mu
	outgoing  map[addr.NodeID]bool         // guarded by mu
}

// New loads trust.json (a corrupt file is an error: it is never
// overwritten) and returns the manager.
func New(cfg Config) (*Manager, error) {
	if cfg.Self == nil || cfg.Identity == nil || cfg.Registry == nil {
		return nil, errors.New("trust: Self, Identity and Registry are required")
	}
	m := &Manager{cfg: cfg, log: cfg.Logger, now: cfg.Now, self: cfg.Self, reg: cfg.Registry, events: cfg.Events,
		trusted: map[addr.NodeID]Entry{}, pending: map[addr.NodeID]PendingEntry{}, outgoing: map[addr.NodeID]bool{}}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	if m.now == nil {
		m.now = time.Now
	}
	if m.events == nil {
		m.events = nopEmitter{}
	}
	if cfg.Path != "" {
		st, err := Load(cfg.Path)
		if err != nil {
			return nil, err
		}
		for _, e := range st.Trusted {
			m.trusted[e.NodeID] = e
		}
		for _, p := range st.Pending {
			if len(m.pending) < MaxPending {
				m.pending[p.NodeID] = p
			}
		}
	}
	return m, nil
}

// DefaultPath is trust.json inside stateDir.
func DefaultPath(stateDir string) string { return filepath.Join(stateDir, FileName) }

type nopEmitter struct{}

func (nopEmitter) Emit(string, whmsg.Fields) {}

// IsTrusted reports whether node is in the local trust store (admission,
// wire.md §8 step 3). It never blocks on I/O.
func (m *Manager) IsTrusted(node addr.NodeID) bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	_, ok := m.trusted[node]
	return ok
}

// Snapshot returns the persisted state, entries in node order.
func (m *Manager) Snapshot() State {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.snapshotLocked()
}

func (m *Manager) snapshotLocked() State {
	var s State
	for _, e := range m.trusted {
		s.Trusted = append(s.Trusted, e)
	}
	for _, p := range m.pending {
		s.Pending = append(s.Pending, p)
	}
	sortState(&s)
	return s
}

// persist writes trust.json from the current state.
func (m *Manager) persist() {
	if m.cfg.Path == "" {
		return
	}
	m.persistMu.Lock()
	defer m.persistMu.Unlock()
	if err := Save(m.cfg.Path, m.Snapshot()); err != nil {
		m.log.Error("cannot save the trust store", "err", err)
	}
}

// trustLocked records peer as trusted and forgets it from pending and
// outgoing.
func (m *Manager) trustLocked(peer addr.NodeID, pub string, mutual bool, network addr.NetworkID) {
	if pub == "" {
		if p, ok := m.pending[peer]; ok {
			pub = p.PublicKey
		}
	}
	m.trusted[peer] = Entry{NodeID: peer, PublicKey: pub, ApprovedAt: m.now().UTC().Truncate(time.Second),
		Mutual: mutual, Network: network}
	delete(m.pending, peer)
	delete(m.outgoing, peer)
}

// cachedKey returns the registry key of peer when a lookup is cached.
func (m *Manager) cachedKey(peer addr.NodeID) string {
	m.peers.mu.Lock()
	defer m.peers.mu.Unlock()
	if p := m.peers.peers[peer]; p != nil {
		return p.keyB64
	}
	return ""
}

// keyOf returns the registry key of peer, looking it up when needed (""
// when the registry cannot say).
func (m *Manager) keyOf(ctx context.Context, peer addr.NodeID) string {
	if k := m.cachedKey(peer); k != "" {
		return k
	}
	if info, _, err := m.peer(ctx, peer, false); err == nil && info != nil {
		return info.keyB64
	}
	return ""
}

func (m *Manager) emit(event string, peer addr.NodeID, extra ...whmsg.Field) {
	f := whmsg.Fields{{Key: "peer_node_id", Value: uint64(peer)}}
	m.events.Emit(event, append(f, extra...))
}

// registryErr logs a failed registry call of the state machine.
func (m *Manager) registryErr(what string, peer addr.NodeID, err error) {
	if err != nil {
		m.log.Warn("trust: registry call failed", "op", what, "peer", peer, "err", err)
	}
}

// opError is an operator error with the IPC code of ipc.md §4 (the
// registry's code when the registry refused).
type opError struct {
	code regmsg.Code
	msg  string
	err  error
}

func (e *opError) Error() string { return e.msg }
func (e *opError) Unwrap() error { return e.err }

// Code is the IPC error code (invalid_argument, not_found, or the
// registry's).
func (e *opError) Code() regmsg.Code { return e.code }

// CodeOf returns the IPC code of an error returned by an operator method:
// the code carried by the error, else the registry's, else unavailable
// when the registry (or the peer) could not be reached (ipc.md §4:
// "Unreachable registry → 10 unavailable"), else internal.
func CodeOf(err error) regmsg.Code {
	var oe *opError
	if errors.As(err, &oe) {
		return oe.code
	}
	var re *regmsg.Error
	if errors.As(err, &re) {
		return re.Code
	}
	if isTransport(err) {
		return regmsg.CodeUnavailable
	}
	return regmsg.CodeInternal
}

// transportErrnos are the socket errors of a peer or registry that cannot
// be reached or went away.
var transportErrnos = []syscall.Errno{
	syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.ECONNABORTED, syscall.EPIPE,
	syscall.ETIMEDOUT, syscall.EHOSTUNREACH, syscall.ENETUNREACH, syscall.ENETDOWN,
	syscall.EHOSTDOWN,
}

// isTransport reports whether err is a failure to reach the registry
// (regclient.Unreachable, as the daemon's registryError reads it) or the
// peer: network and socket errors, end of stream, a socket deadline.
func isTransport(err error) bool {
	if err == nil {
		return false
	}
	if regclient.Unreachable(err) {
		return true
	}
	for _, target := range []error{
		io.EOF, io.ErrUnexpectedEOF, io.ErrClosedPipe, net.ErrClosed, os.ErrDeadlineExceeded,
	} {
		if errors.Is(err, target) {
			return true
		}
	}
	for _, errno := range transportErrnos {
		if errors.Is(err, errno) {
			return true
		}
	}
	// syscall.Errno also satisfies net.Error; only the errnos above count.
	var ne net.Error
	if errors.As(err, &ne) {
		_, errno := ne.(syscall.Errno)
		return !errno
	}
	return false
}

// messageOf is the human text of err: a registry refusal's message
// without its code (ipc.md §4: the code travels separately).
func messageOf(err error) string {
	var re *regmsg.Error
	if errors.As(err, &re) {
		return re.Message
	}
	return err.Error()
}

func opErrorf(code regmsg.Code, cause error, format string, a ...any) error {
	return &opError{code: code, msg: fmt.Sprintf(format, a...), err: cause}
}

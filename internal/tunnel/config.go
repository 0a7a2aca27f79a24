package tunnel

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/identity"
	"github.com/pilot-go/pilot/internal/netsim"
	"github.com/pilot-go/pilot/internal/wire/packet"
)

// Errors returned by the Manager; callers branch with errors.Is.
var (
	// ErrTooManyPending: 1,024 peers already have packets waiting for a key
	// exchange (wire.md §6.5).
	ErrTooManyPending = errors.New("too many pending key exchanges")
	// ErrNotFound is what KeyLookup and Resolver return (wrapped) when the
	// registry answers that the node does not exist.
	ErrNotFound = errors.New("node not found")
	// ErrUnreachable is what KeyLookup and Resolver return (wrapped) when
	// the registry could not be asked (transport failure, timeout).
	ErrUnreachable = errors.New("registry unreachable")
	// ErrClosed: the Manager was closed.
	ErrClosed = errors.New("tunnel: closed")
	// ErrInvalidPeer: node 0, broadcast or our own node.
	ErrInvalidPeer = errors.New("tunnel: invalid peer node")
	// ErrConfig: a required Config field is missing.
	ErrConfig = errors.New("tunnel: invalid config")
)

// KeyLookup fetches a node's registered Ed25519 key (registry `lookup`,
// field public_key). It is called from the worker pool, never from the
// socket reader. Errors wrap ErrNotFound when the registry says the node
// does not exist and ErrUnreachable when it could not be asked.
type KeyLookup interface {
	LookupKey(ctx context.Context, node addr.NodeID) (ed25519.PublicKey, error)
}

// Resolution is the part of `resolve_ok` the tunnel needs (wire.md §7.1).
type Resolution struct {
	RealAddr  netip.AddrPort
	LANAddrs  []netip.AddrPort
	PublicKey ed25519.PublicKey // nil when absent
}

// Resolver resolves a node for first contact (registry `resolve`). Errors
// wrap ErrUnreachable for transport failures; any other error is a registry
// answer whose message becomes "resolve node P: <message>".
type Resolver interface {
	Resolve(ctx context.Context, node addr.NodeID) (Resolution, error)
}

// Event is a webhook event of services.md §8.3 raised by the tunnel.
type Event struct {
	Name          string // EventEstablished, EventPeerAdded, EventRelayActivated, EventNonceReplay
	Peer          addr.NodeID
	Authenticated bool           // tunnel.established
	Relay         bool           // tunnel.established
	Rekeyed       bool           // tunnel.established
	Endpoint      netip.AddrPort // tunnel.peer_added
	Counter       uint64         // security.nonce_replay
}

// Event names.
const (
	EventEstablished    = "tunnel.established"
	EventPeerAdded      = "tunnel.peer_added"
	EventRelayActivated = "tunnel.relay_activated"
	EventNonceReplay    = "security.nonce_replay"
)

// DeliverFunc receives every inbound packet that passed wire.md §6.6 steps
// 1–8 (or the PILT equivalent with -encrypt=false). It runs on the socket
// reader: it must not block, and p (including p.Payload) is valid only
// during the call. auth is false for peers with an unauthenticated (PILK)
// state or PILT packets: admission (§8) must treat them as untrusted.
type DeliverFunc func(from addr.NodeID, viaRelay, auth bool, p *packet.Packet)

// Config configures a Manager. Zero values are the defaults of wire.md and
// cli.md §3.1.
type Config struct {
	// Conn is the daemon's UDP socket (required): *net.UDPConn in
	// production, a netsim socket in tests. The Manager owns it and closes
	// it on Close.
	Conn netsim.PacketConn
	// Identity is our Ed25519 identity (required). RotateIdentity replaces
	// it at run time.
	Identity *identity.Identity
	// Plaintext is -encrypt=false (diagnostics only, §6.10). The zero
	// value encrypts, so a forgotten field never disables encryption.
	Plaintext bool
	// Beacon is the beacon address (-beacon); zero means none: no
	// discovery, punching or relay.
	Beacon netip.AddrPort
	// Keys fetches registered keys (§6.3 step 6, §6.4). Required when
	// encryption is on.
	Keys KeyLookup
	// Resolver resolves peers for first contact; nil means peers are
	// reachable only once AddCandidate or an inbound frame taught us an
	// endpoint.
	Resolver Resolver
	// LANAddrs are our own LAN addresses, used to pick a peer's lan_addrs
	// candidate in the same IPv4 /24 (§7.1).
	LANAddrs []netip.Addr
	// IsMember reports whether we are a member of network n (§6.6 step 8);
	// network 0 is always accepted. nil accepts only network 0.
	IsMember func(n addr.NetworkID) bool
	// Deliver receives decoded inbound packets (required).
	Deliver DeliverFunc
	// Events receives webhook events; it must not block. nil discards.
	Events func(Event)
	// EndpointChanged is called (from a worker, never the reader) when
	// the beacon reports a new observed endpoint: the layer above
	// re-registers with it (§7.2 step 1). nil ignores it.
	EndpointChanged func(old, cur netip.AddrPort)
	// RekeyInterval is -rekey-interval (default 2 h, minimum 1 min).
	RekeyInterval time.Duration
	// ProbePort is the source port of direct-path probes (§7.6 control
	// pings); replies to it are consumed by the tunnel. The layer above
	// must not allocate it. Zero means 65535.
	ProbePort addr.Port
	// Now is the clock; nil means time.Now. Timers poll it on every tick,
	// so a fake clock works (while no peer has a short timer running the
	// loop ticks only every second); tests normally use testing/synctest.
	Now func() time.Time
	// Rand is the source of nonce prefixes; nil means crypto/rand.
	Rand io.Reader
	// Logger receives logs; nil discards them.
	Logger *slog.Logger
	// Workers is the size of the key-exchange worker pool (default 4).
	Workers int
	// Tick is the period of the maintenance loop while a peer has a short
	// timer running (default 50 ms).
	Tick time.Duration
	// DirectRetry overrides the 5-minute direct retry period (tests).
	DirectRetry time.Duration
	// DiscoverInterval overrides the 25 s signed-discover period (tests).
	DiscoverInterval time.Duration
	// SocketBuffer is the UDP buffer size requested from sockets that
	// support SetReadBuffer/SetWriteBuffer (default 4 MiB, §13).
	SocketBuffer int
	// NoOffload disables UDP segmentation offload (GSO) and receive
	// coalescing (GRO) on a *net.UDPConn: one system call per datagram
	// (tests of the fallback; diagnostics). Other sockets never use them.
	NoOffload bool
}

// Limits of wire.md §6.
const (
	MaxPeers          = 65536
	QueuePackets      = 64
	QueueBytes        = 256 << 10
	QueueAge          = 10 * time.Second
	MaxPendingPeers   = 1024
	KeyTTL            = 10 * time.Minute
	KeyRefetch        = 30 * time.Second
	ResolveTTL        = 60 * time.Second
	ResolveRefusalTTL = 5 * time.Second
	IdleTimeout       = 10 * time.Minute
	RetiredKeys       = 16
	DefaultRekey      = 2 * time.Hour
	MinRekey          = time.Minute
	RekeyMinGap       = 10 * time.Second
	PrevAfterConfirm  = 5 * time.Second
	PrevMax           = 60 * time.Second
	SetupMaxBackoff   = 8 * time.Second
	RelayAfterSetup   = 3 * time.Second
	DirectEvidence    = 30 * time.Second
	DirectRetryPeriod = 5 * time.Minute
	MaxCandidates     = 3
)

func (c *Config) validate() error {
	switch {
	case c.Conn == nil:
		return fmt.Errorf("%w: Conn is required", ErrConfig)
	case c.Identity == nil:
		return fmt.Errorf("%w: Identity is required", ErrConfig)
	case c.Deliver == nil:
		return fmt.Errorf("%w: Deliver is required", ErrConfig)
	case !c.Plaintext && c.Keys == nil:
		return fmt.Errorf("%w: Keys is required with encryption on", ErrConfig)
	}
	if c.RekeyInterval == 0 {
		c.RekeyInterval = DefaultRekey
	}
	if c.RekeyInterval < MinRekey {
		return fmt.Errorf("%w: rekey interval %v below %v", ErrConfig, c.RekeyInterval, MinRekey)
	}
	if c.ProbePort == 0 {
		c.ProbePort = 65535
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Workers <= 0 {
		c.Workers = 4
	}
	if c.Tick <= 0 {
		c.Tick = 50 * time.Millisecond
	}
	if c.DirectRetry <= 0 {
		c.DirectRetry = DirectRetryPeriod
	}
	if c.SocketBuffer <= 0 {
		c.SocketBuffer = 4 << 20
	}
	return nil
}

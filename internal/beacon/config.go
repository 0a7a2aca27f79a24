package beacon

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"strconv"
	"time"

	"golang.org/x/time/rate"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/wire/beaconmsg"
)

// KeyLookup fetches a node's registered Ed25519 identity key (registry
// `lookup`, field `public_key`) to verify signed discovers (beacon.md §4).
// It is called from verification workers, never from the read loop, with
// a context that carries a deadline.
type KeyLookup interface {
	LookupKey(ctx context.Context, node addr.NodeID) (ed25519.PublicKey, error)
}

// Peer is one entry of the registry's beacon directory (`beacon_list`).
type Peer struct {
	ID   beaconmsg.BeaconID
	Addr string // UDP host:port
}

// Directory is the registry's beacon directory (registry.md §7.10).
type Directory interface {
	// Register sends beacon_register. addr is the -advertise address or,
	// without one, the listen address; a wildcard or empty host MUST be
	// replaced by the implementation with the local IP of its registry
	// connection (beacon.md §7.2).
	Register(ctx context.Context, id beaconmsg.BeaconID, addr, token string) error
	// List returns every directory entry (following next_cursor).
	List(ctx context.Context) ([]Peer, error)
}

// Defaults of beacon.md §8, §9 and cli.md §2.
const (
	DefaultListen     = ":9001"
	DefaultNodeTTL    = 5 * time.Minute
	DefaultMaxNodes   = 100000
	DefaultRelayQueue = 4096
	DefaultMaxSources = 100000
)

// Protocol timings (beacon.md §4, §7, §8).
const (
	syncInterval      = 10 * time.Second
	peerTTL           = 35 * time.Second
	directoryInterval = 30 * time.Second
	directoryExchange = 10 * time.Second
	maxReapInterval   = 30 * time.Second
	statsLogInterval  = time.Minute
	signedSkew        = 60 * time.Second
	keyCacheTTL       = 10 * time.Minute
	lookupRetry       = 30 * time.Second
	lookupTimeout     = 10 * time.Second
	verifyQueueLen    = 4096
	maxQueuedBytes    = 64 << 20 // relay queue memory bound, besides -relay-queue jobs
	readBufferSize    = 64 << 10
	socketBufferSize  = 4 << 20
)

// Limits are the token buckets of beacon.md §9. Zero fields take the
// defaults; none can be disabled (an infinite rate is rejected).
type Limits struct {
	// Discover + PunchRequest per source IP: 500/s, burst 1,000.
	SourceRate  rate.Limit
	SourceBurst int
	// MaxSources bounds the per-source map (LRU): 100,000.
	MaxSources int
	// PunchRequest per requester node: 5/s, burst 10.
	PunchRate  rate.Limit
	PunchBurst int
	// PunchCommands toward one target node: 10/s, burst 20.
	PunchTargetRate  rate.Limit
	PunchTargetBurst int
	// Relay per sender node: 5,000 packets/s (burst 10,000) and 40 MiB/s
	// (burst 40 MiB).
	RelayPacketRate  rate.Limit
	RelayPacketBurst int
	RelayByteRate    rate.Limit
	RelayByteBurst   int
	// Sync per peer: 10 messages/s (burst 10).
	SyncRate  rate.Limit
	SyncBurst int
	// Registry lookups for signed discovers, in total: 50/s (burst 50).
	LookupRate  rate.Limit
	LookupBurst int
}

func (l *Limits) setDefaults() {
	def := func(r *rate.Limit, b *int, dr rate.Limit, db int) {
		if *r == 0 {
			*r = dr
		}
		if *b == 0 {
			*b = db
		}
	}
	def(&l.SourceRate, &l.SourceBurst, 500, 1000)
	def(&l.PunchRate, &l.PunchBurst, 5, 10)
	def(&l.PunchTargetRate, &l.PunchTargetBurst, 10, 20)
	def(&l.RelayPacketRate, &l.RelayPacketBurst, 5000, 10000)
	def(&l.RelayByteRate, &l.RelayByteBurst, 40<<20, 40<<20)
	def(&l.SyncRate, &l.SyncBurst, 10, 10)
	def(&l.LookupRate, &l.LookupBurst, 50, 50)
	if l.MaxSources == 0 {
		l.MaxSources = DefaultMaxSources
	}
}

func (l *Limits) validate() error {
	for _, c := range []struct {
		name  string
		r     rate.Limit
		burst int
	}{
		{"source", l.SourceRate, l.SourceBurst},
		{"punch", l.PunchRate, l.PunchBurst},
		{"punch target", l.PunchTargetRate, l.PunchTargetBurst},
		{"relay packets", l.RelayPacketRate, l.RelayPacketBurst},
		{"relay bytes", l.RelayByteRate, l.RelayByteBurst},
		{"sync", l.SyncRate, l.SyncBurst},
		{"lookup", l.LookupRate, l.LookupBurst},
	} {
		if c.r <= 0 || c.r == rate.Inf || c.burst <= 0 {
			return fmt.Errorf("%w: %s limit %v/s burst %d (limits cannot be disabled)", ErrConfig, c.name, c.r, c.burst)
		}
	}
	if l.RelayByteBurst < beaconmsg.MinRelay+beaconmsg.MaxRelayFrame {
		return fmt.Errorf("%w: relay byte burst %d is smaller than one relay message", ErrConfig, l.RelayByteBurst)
	}
	if l.MaxSources < 0 {
		return fmt.Errorf("%w: max sources %d", ErrConfig, l.MaxSources)
	}
	return nil
}

// Config configures a Server. The zero value (plus nothing) is a
// standalone beacon on :9001 with the defaults of cli.md §2.
type Config struct {
	// Listen is the UDP address (-listen / -addr), default ":9001".
	Listen string
	// BeaconID is the cluster ID; 0 = standalone (no directory use).
	BeaconID beaconmsg.BeaconID
	// Peers are static peer beacons (host:port). Literal IPs are used
	// as-is; host names are resolved by the peer loop every 30 s.
	Peers []string
	// Advertise is the address sent in beacon_register (default: Listen,
	// whose wildcard host the Directory replaces).
	Advertise string
	// Keys verifies signed discovers; nil = verification off (signed
	// discovers are plain, and Run logs one WARN).
	Keys KeyLookup
	// Directory is the registry's beacon directory, used when BeaconID ≠ 0.
	Directory Directory
	// RegistryToken is sent as beacon_register's token. Never logged.
	RegistryToken string
	// NodeTTL is -node-ttl (default 5 min).
	NodeTTL time.Duration
	// MaxNodes is the node table capacity (default 100,000).
	MaxNodes int
	// MaxPeerNodes bounds the map of node IDs announced by peers
	// (default 10 × MaxNodes).
	MaxPeerNodes int
	// RelayQueue is the relay job queue length (default 4,096).
	RelayQueue int
	// RelayWorkers defaults to 2 per CPU, at least 4.
	RelayWorkers int
	// VerifyWorkers run signature checks and registry lookups (default 8).
	VerifyWorkers int
	// Limits are the §9 token buckets.
	Limits Limits
	// Logger receives logs; nil discards them.
	Logger *slog.Logger
	// Now is the clock of the node table, peer map, key cache and rate
	// limits; nil = time.Now. Tests inject a fake clock.
	Now func() time.Time
}

// ErrConfig is wrapped by every configuration error of New.
var ErrConfig = errors.New("beacon: invalid config")

func (c *Config) setDefaults() {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.NodeTTL == 0 {
		c.NodeTTL = DefaultNodeTTL
	}
	if c.MaxNodes == 0 {
		c.MaxNodes = DefaultMaxNodes
	}
	if c.MaxPeerNodes == 0 {
		c.MaxPeerNodes = 10 * c.MaxNodes
	}
	if c.RelayQueue == 0 {
		c.RelayQueue = DefaultRelayQueue
	}
	if c.RelayWorkers == 0 {
		c.RelayWorkers = max(4, 2*runtime.NumCPU())
	}
	if c.VerifyWorkers == 0 {
		c.VerifyWorkers = 8
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	c.Limits.setDefaults()
}

func (c *Config) validate() error {
	switch {
	case c.NodeTTL < 0:
		return fmt.Errorf("%w: node TTL %v", ErrConfig, c.NodeTTL)
	case c.MaxNodes < 0:
		return fmt.Errorf("%w: max nodes %d", ErrConfig, c.MaxNodes)
	case c.MaxPeerNodes < 0:
		return fmt.Errorf("%w: max peer nodes %d", ErrConfig, c.MaxPeerNodes)
	case c.RelayQueue < 0:
		return fmt.Errorf("%w: relay queue %d", ErrConfig, c.RelayQueue)
	case c.RelayWorkers < 0 || c.VerifyWorkers < 0:
		return fmt.Errorf("%w: worker counts %d/%d", ErrConfig, c.RelayWorkers, c.VerifyWorkers)
	}
	for _, p := range c.Peers {
		if err := checkHostPort(p); err != nil {
			return fmt.Errorf("%w: peer %q: %v", ErrConfig, p, err)
		}
	}
	if c.Advertise != "" {
		if err := checkHostPort(c.Advertise); err != nil {
			return fmt.Errorf("%w: advertise %q: %v", ErrConfig, c.Advertise, err)
		}
	}
	return c.Limits.validate()
}

func checkHostPort(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return err
	}
	if host == "" {
		return errors.New("missing host")
	}
	if p, err := strconv.ParseUint(port, 10, 16); err != nil || p == 0 {
		return fmt.Errorf("invalid port %q", port)
	}
	return nil
}

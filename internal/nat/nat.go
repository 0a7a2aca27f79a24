package nat

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/wire/beaconmsg"
	"github.com/pilot-go/pilot/internal/wire/frame"
)

// Timing of beacon.md §3.2, §5.2.
const (
	// DiscoverInterval is the period of signed discovers once registered.
	DiscoverInterval = 25 * time.Second
	// StartWait is how long a start-up discover waits for its reply.
	StartWait = time.Second
	// StartAttempts is the number of start-up discovers.
	StartAttempts = 3
	// FreshDiscover: a punch request is preceded by a discover when the
	// last one is older than this.
	FreshDiscover = 10 * time.Second
	// PunchWindow: a punch command this soon after our request for P makes
	// its endpoint a candidate for P.
	PunchWindow = 5 * time.Second
	// PunchGap separates the three PILP frames of a punch burst.
	PunchGap = 20 * time.Millisecond
	// PunchBurst is the number of PILP frames per punch command.
	PunchBurst = 3
	// PunchRate is the most punch commands handled per second.
	PunchRate = 10
)

// Errors.
var (
	ErrNoBeacon     = errors.New("nat: no beacon configured")
	ErrNoReply      = errors.New("nat: beacon did not answer discover")
	ErrNotBeacon    = errors.New("nat: datagram not from the beacon")
	ErrUnhandled    = errors.New("nat: beacon message not for a daemon")
	ErrInvalidRelay = errors.New("nat: invalid relay")
)

// Config configures a Client.
type Config struct {
	// Beacon is the beacon's UDP address (-beacon). The zero value
	// disables every beacon function (Handle drops everything).
	Beacon netip.AddrPort
	// Send writes one datagram on the tunnel socket; it must not block.
	// Required.
	Send func(b []byte, to netip.AddrPort) error
	// Key returns our identity key for signed discovers (it can change
	// with a key rotation). Required for signed discovers; nil sends
	// padded plain discovers only.
	Key func() ed25519.PrivateKey
	// OnEndpoint is called when a DiscoverReply carries an observed
	// endpoint different from the previous one (wire.md §7.2). It runs on
	// the goroutine that called Handle and must not block.
	OnEndpoint func(old, cur netip.AddrPort)
	// OnCandidate is called when a punch command arrives within
	// PunchWindow of our punch request for peer (wire.md §7.3). Same
	// rules as OnEndpoint.
	OnCandidate func(peer addr.NodeID, ep netip.AddrPort)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Interval overrides DiscoverInterval (tests); zero means the default.
	Interval time.Duration
	// Logger receives debug logs; nil discards them.
	Logger *slog.Logger
}

// Stats are the Client's counters.
type Stats struct {
	DiscoversSent   uint64
	Replies         uint64
	PunchRequests   uint64
	PunchCommands   uint64
	PunchesDropped  uint64 // over the rate limit or the queue
	PILPSent        uint64
	RelaySent       uint64
	RelayDelivered  uint64
	NotFromBeacon   uint64
	MalformedOrType uint64
}

// Client is the daemon's beacon client. Create it with New, run it with Run.
type Client struct {
	// set once in New
	cfg   Config
	now   func() time.Time
	log   *slog.Logger
	punch chan netip.AddrPort // punch commands for punchLoop
	wake  chan struct{}       // SetNode wakes discoverLoop
	limit *rate.Limiter       // punch commands per second (Handle only)

	node atomic.Uint32 // our node ID; 0 before registration

	mu          sync.Mutex // leaf lock
	observed    netip.AddrPort
	lastSent    time.Time                   // last Discover sent
	requests    map[addr.NodeID]punchRecord // our punch requests (≤ 5 s old matter)
	replyWaiter chan netip.AddrPort         // start-up discover waiting for a reply

	stats struct {
		discovers, replies, requests, commands, dropped, pilp, relay, delivered, foreign, bad atomic.Uint64
	}
}

type punchRecord struct {
	at   time.Time
	real netip.Addr // the real_addr IP we punch toward, to match commands
}

// New validates cfg and returns a Client.
func New(cfg Config) (*Client, error) {
	if cfg.Send == nil {
		return nil, fmt.Errorf("nat: Config.Send is required")
	}
	c := &Client{
		cfg:      cfg,
		now:      cfg.Now,
		log:      cfg.Logger,
		punch:    make(chan netip.AddrPort, PunchRate),
		wake:     make(chan struct{}, 1),
		limit:    rate.NewLimiter(PunchRate, PunchRate),
		requests: make(map[addr.NodeID]punchRecord),
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.cfg.Interval <= 0 {
		c.cfg.Interval = DiscoverInterval
	}
	return c, nil
}

// Enabled reports whether a beacon is configured.
func (c *Client) Enabled() bool { return c.cfg.Beacon.IsValid() }

// Beacon returns the beacon address.
func (c *Client) Beacon() netip.AddrPort { return c.cfg.Beacon }

// Observed returns our endpoint as the beacon last observed it (zero when
// unknown).
func (c *Client) Observed() netip.AddrPort {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.observed
}

// SetNode records our node ID after registration: from then on discovers
// are signed and sent every 25 s ± 10 % (the first at once).
func (c *Client) SetNode(id addr.NodeID) {
	c.node.Store(uint32(id))
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Stats returns the counters.
func (c *Client) Stats() Stats {
	s := &c.stats
	return Stats{
		DiscoversSent: s.discovers.Load(), Replies: s.replies.Load(),
		PunchRequests: s.requests.Load(), PunchCommands: s.commands.Load(),
		PunchesDropped: s.dropped.Load(), PILPSent: s.pilp.Load(),
		RelaySent: s.relay.Load(), RelayDelivered: s.delivered.Load(),
		NotFromBeacon: s.foreign.Load(), MalformedOrType: s.bad.Load(),
	}
}

// Run runs the discovery and punch loops until ctx ends. Without a beacon
// it just waits for ctx.
func (c *Client) Run(ctx context.Context) error {
	if !c.Enabled() {
		<-ctx.Done()
		return nil
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); c.discoverLoop(ctx) }()
	go func() { defer wg.Done(); c.punchLoop(ctx) }()
	wg.Wait()
	return nil
}

// Relay sends frame to peer through the beacon: 05 ‖ own ID ‖ peer ‖ frame
// (beacon.md §6.2). buf is scratch space the message is built in.
func (c *Client) Relay(buf []byte, peer addr.NodeID, fr []byte) error {
	if !c.Enabled() {
		return ErrNoBeacon
	}
	m := beaconmsg.Relay{Sender: addr.NodeID(c.node.Load()), Dest: peer, Frame: fr}
	b, err := m.AppendTo(buf[:0])
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidRelay, err)
	}
	c.stats.relay.Add(1)
	return c.cfg.Send(b, c.cfg.Beacon)
}

// jitter returns d ± 10 %.
func jitter(d time.Duration) time.Duration {
	return d - d/10 + time.Duration(rand.Int64N(int64(d/5)+1))
}

// Handle processes one datagram whose first byte is below 0x10 received
// from src. It returns the relay delivery to process, if the datagram was
// one (ok = true); everything else is consumed or dropped here.
func (c *Client) Handle(b []byte, src netip.AddrPort) (d beaconmsg.RelayDeliver, ok bool) {
	if !c.Enabled() || src != c.cfg.Beacon {
		c.stats.foreign.Add(1)
		return d, false
	}
	m, err := beaconmsg.Parse(b)
	if err != nil {
		c.stats.bad.Add(1)
		return d, false
	}
	switch m := m.(type) {
	case beaconmsg.DiscoverReply:
		c.handleReply(m.Endpoint)
	case beaconmsg.PunchCommand:
		c.handlePunch(m.Endpoint)
	case beaconmsg.RelayDeliver:
		if !beaconmsg.ValidNode(m.Sender) || len(m.Frame) < frame.MagicSize {
			c.stats.bad.Add(1)
			return d, false
		}
		c.stats.delivered.Add(1)
		return m, true
	default:
		c.stats.bad.Add(1)
	}
	return d, false
}

package beacon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pilot-go/pilot/addr"
)

// ErrClosed is returned by Run on a closed Server.
var ErrClosed = errors.New("beacon: server closed")

// Server is a running beacon. Fields are grouped by owner.
type Server struct {
	// Set once in New.
	cfg    Config
	log    *slog.Logger
	conn   packetConn
	table  *table
	verify *verifier     // nil without Config.Keys
	relayQ chan relayJob // bounded by Config.RelayQueue
	hooks  testHooks     // set by tests before Run

	// Owned by the read loop (handle and everything it calls).
	srcLim     *limiterSet[netip.Addr]
	punchLim   *limiterSet[addr.NodeID]
	targetLim  *limiterSet[addr.NodeID]
	relayPkts  *limiterSet[addr.NodeID]
	relayBytes *limiterSet[addr.NodeID]
	syncLim    *limiterSet[netip.AddrPort]
	wbuf       []byte // reply scratch buffer

	// Peer beacons: atomic snapshot plus its own mutex (peers.go).
	peers peerState

	// Atomic.
	ctr         counters
	queuedBytes atomic.Int64 // bytes held by relayQ jobs (≤ maxQueuedBytes)
	lastSendLog atomic.Int64 // Unix ns of the last send-failure log line
	started     atomic.Bool
	running     atomic.Bool
	draining    atomic.Bool
	closed      atomic.Bool

	closeOnce sync.Once
	closeErr  error
}

// testHooks let in-package tests observe asynchronous work without
// sleeping. All nil in production.
type testHooks struct {
	handled     func(typ byte, src netip.AddrPort)   // after each datagram, on the read loop
	verified    func(node addr.NodeID, applied bool) // after each verification job
	beforeRelay func()                               // in a relay worker, before a job
	relayed     func(r relayResult)                  // in a relay worker, after a job
}

// New validates cfg, binds the UDP socket and returns a Server that does
// nothing until Run.
func New(cfg Config) (*Server, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	conn, err := listenUDP(cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("beacon: %w", err)
	}
	return newServer(cfg, conn), nil
}

// newServer builds a Server around conn; cfg must have its defaults set.
func newServer(cfg Config, conn packetConn) *Server {
	l := cfg.Limits
	s := &Server{
		cfg:        cfg,
		log:        cfg.Logger,
		conn:       conn,
		table:      newTable(cfg.NodeTTL, cfg.MaxNodes, cfg.MaxPeerNodes),
		relayQ:     make(chan relayJob, cfg.RelayQueue),
		srcLim:     newLimiterSet[netip.Addr](l.SourceRate, l.SourceBurst, l.MaxSources),
		punchLim:   newLimiterSet[addr.NodeID](l.PunchRate, l.PunchBurst, l.MaxSources),
		targetLim:  newLimiterSet[addr.NodeID](l.PunchTargetRate, l.PunchTargetBurst, l.MaxSources),
		relayPkts:  newLimiterSet[addr.NodeID](l.RelayPacketRate, l.RelayPacketBurst, l.MaxSources),
		relayBytes: newLimiterSet[addr.NodeID](l.RelayByteRate, l.RelayByteBurst, l.MaxSources),
		syncLim:    newLimiterSet[netip.AddrPort](l.SyncRate, l.SyncBurst, l.MaxSources),
		wbuf:       make([]byte, 0, 32),
	}
	if cfg.Keys != nil {
		s.verify = newVerifier(cfg.Keys, l.LookupRate, l.LookupBurst, cfg.MaxNodes)
	}
	s.peers.init(cfg.Peers)
	return s
}

// Addr returns the bound UDP address.
func (s *Server) Addr() netip.AddrPort { return s.conn.LocalAddr() }

// Healthy reports whether the beacon is serving: Run is reading the
// socket, and neither Close nor cancellation has begun (beacon.md §13).
func (s *Server) Healthy() bool {
	return s.running.Load() && !s.draining.Load() && !s.closed.Load()
}

// Close closes the socket, which makes Run return. It is idempotent.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		s.closeErr = s.conn.Close()
	})
	return s.closeErr
}

// Run serves until ctx is cancelled or Close is called, then waits for
// every goroutine it started. It returns nil on a normal shutdown.
func (s *Server) Run(ctx context.Context) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if !s.started.CompareAndSwap(false, true) {
		return errors.New("beacon: Run called twice")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	s.log.Info("beacon listening", "addr", s.Addr().String(), "beacon_id", uint32(s.cfg.BeaconID), "peers", s.peers.strings())
	if s.verify == nil {
		s.log.Warn("signed-discover verification is off: no -registry; signed discovers are treated as plain ones")
	}

	var wg sync.WaitGroup
	spawn := func(f func(context.Context)) {
		wg.Add(1)
		go func() { defer wg.Done(); f(ctx) }()
	}
	for range s.cfg.RelayWorkers {
		spawn(s.relayLoop)
	}
	if s.verify != nil {
		for range s.cfg.VerifyWorkers {
			spawn(s.verifyLoop)
		}
	}
	spawn(s.syncLoop)
	spawn(s.peerLoop)
	spawn(s.reapLoop)
	spawn(s.statsLoop)
	spawn(func(ctx context.Context) {
		<-ctx.Done()
		s.draining.Store(true)
		s.Close() // unblocks the read loop
	})

	s.running.Store(true)
	err := s.readLoop()
	s.running.Store(false)
	cancel()
	wg.Wait()
	return err
}

// readLoop is the socket's only reader. It never blocks on anything but
// the socket: registry lookups, signature checks and relay sends are
// handed to bounded worker pools.
func (s *Server) readLoop() error {
	buf := make([]byte, readBufferSize)
	for {
		n, src, local, err := s.conn.ReadFrom(buf)
		if err != nil {
			if s.closed.Load() || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("beacon: read: %w", err)
		}
		s.handle(buf[:n], src, local)
		if s.hooks.handled != nil && n > 0 {
			s.hooks.handled(buf[0], src)
		}
	}
}

// send writes one datagram; failures are logged at debug level only (a
// per-packet path) and never stop the caller.
func (s *Server) send(b []byte, dst netip.AddrPort, local netip.Addr) bool {
	if err := s.conn.WriteTo(b, dst, local); err != nil {
		// Per-packet path: at most one debug line per second.
		now, last := time.Now().UnixNano(), s.lastSendLog.Load()
		if now-last >= int64(time.Second) && s.lastSendLog.CompareAndSwap(last, now) {
			s.log.Debug("beacon send failed", "addr", dst.String(), "err", err)
		}
		return false
	}
	return true
}

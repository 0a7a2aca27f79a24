package tunnel

import (
	"context"
	"crypto/ed25519"
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/identity"
	"github.com/pilot-go/pilot/internal/nat"
	"github.com/pilot-go/pilot/internal/wire/frame"
	"github.com/pilot-go/pilot/internal/wire/packet"
)

// Manager owns the daemon's UDP socket and every tunnel over it.
type Manager struct {
	// set once in New
	cfg  Config
	conn interface {
		ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error)
		WriteToUDPAddrPort(b []byte, addr netip.AddrPort) (int, error)
		Close() error
	}
	nat        *nat.Client
	keys       *keyCache
	jobs       chan func(context.Context)
	poke       chan struct{} // cap 1: a peer needs the fast tick again
	napping    atomic.Bool   // the tick loop sleeps past quietTick (rekey.go)
	lastTick   atomic.Int64  // when tick last ran (Unix ns)
	stop       chan struct{}
	stopOnce   sync.Once
	running    atomic.Bool
	pilaGlobal *rate.Limiter // 500 PILA/s sent (§6.2)
	recoverLim *rate.Limiter // 50 recovery PILA/s (§6.8)
	newKey     func() (keyPair, error)

	// atomic
	node  atomic.Uint32
	ident atomic.Pointer[identity.Identity]
	ctr   counters

	pending atomic.Int64 // peers with a non-empty queue (changed under their peer.mu)

	// offload (batch.go): msg is Conn when it is a *net.UDPConn, nil
	// otherwise; gro is set once in New; gsoOn is cleared for good when
	// the socket cannot segment, noGSO holds the paths that cannot.
	msg        msgConn
	gro        bool
	gsoOn      atomic.Bool
	noGSO      sync.Map     // netip.AddrPort → struct{}: paths that refused segmentation (refuseGSO)
	noGSOPaths atomic.Int32 // refusals recorded in noGSO

	// guarded by mu (lock order: Manager.mu before peer.mu)
	mu    sync.Mutex
	peers map[addr.NodeID]*peer

	// owned by the reader goroutine
	srcLimits  map[netip.Addr]*rate.Limiter
	nodeLimits map[addr.NodeID]*rate.Limiter
	plain      []byte        // decrypted packet scratch
	deferred   []*peer       // peers whose frames the reader holds (batch.go)
	rx         packet.Packet // decoded inbound packet handed to Deliver
	holding    bool          // replies to the (coalesced) read being processed are held
}

// New validates cfg and returns a Manager; Run starts it.
func New(cfg Config) (*Manager, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	m := &Manager{
		cfg:        cfg,
		conn:       cfg.Conn,
		jobs:       make(chan func(context.Context), 1024),
		poke:       make(chan struct{}, 1),
		stop:       make(chan struct{}),
		pilaGlobal: rate.NewLimiter(500, 500),
		recoverLim: rate.NewLimiter(50, 50),
		newKey:     generateKey,
		peers:      make(map[addr.NodeID]*peer),
		srcLimits:  make(map[netip.Addr]*rate.Limiter),
		nodeLimits: make(map[addr.NodeID]*rate.Limiter),
		plain:      make([]byte, 0, frame.MaxDatagram),
	}
	m.ident.Store(cfg.Identity)
	m.keys = newKeyCache(cfg.Keys, cfg.Now)
	n, err := nat.New(nat.Config{
		Beacon:      cfg.Beacon,
		Send:        m.write,
		Key:         func() ed25519.PrivateKey { return m.ident.Load().PrivateKey() },
		OnEndpoint:  m.onEndpointChange,
		OnCandidate: m.onPunchCandidate,
		Now:         cfg.Now,
		Interval:    cfg.DiscoverInterval,
		Logger:      cfg.Logger,
	})
	if err != nil {
		return nil, err
	}
	m.nat = n
	type buffered interface {
		SetReadBuffer(int) error
		SetWriteBuffer(int) error
	}
	if b, ok := cfg.Conn.(buffered); ok {
		if err := b.SetReadBuffer(cfg.SocketBuffer); err != nil {
			cfg.Logger.Warn("set UDP read buffer", "err", err)
		}
		if err := b.SetWriteBuffer(cfg.SocketBuffer); err != nil {
			cfg.Logger.Warn("set UDP write buffer", "err", err)
		}
	}
	m.initOffload()
	if cfg.Plaintext {
		cfg.Logger.Warn("tunnel encryption disabled (-encrypt=false): diagnostics only")
	}
	return m, nil
}

// Run reads the socket and runs the maintenance loop, the worker pool and
// the beacon client until ctx ends or Close is called. It closes the socket
// and waits for every goroutine before returning.
func (m *Manager) Run(ctx context.Context) error {
	if !m.running.CompareAndSwap(false, true) {
		return errors.New("tunnel: Run called twice")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(3 + m.cfg.Workers)
	go func() { defer wg.Done(); _ = m.nat.Run(ctx) }()
	go func() { defer wg.Done(); m.tickLoop(ctx) }()
	for range m.cfg.Workers {
		go func() { defer wg.Done(); m.workerLoop(ctx) }()
	}
	readErr := make(chan error, 1)
	go func() { defer wg.Done(); readErr <- m.readLoop() }()
	var err error
	select {
	case <-ctx.Done():
	case <-m.stop:
	case err = <-readErr:
	}
	cancel()
	m.Close()
	wg.Wait()
	return err
}

// Close stops Run and closes the socket. It is idempotent.
func (m *Manager) Close() error {
	var err error
	m.stopOnce.Do(func() {
		close(m.stop)
		err = m.conn.Close()
	})
	return err
}

// SetNodeID records our node ID once the layer above registered (§6.2:
// no PILA before registration). Queued packets start their key exchange on
// the next tick; discovers become signed.
func (m *Manager) SetNodeID(id addr.NodeID) {
	m.node.Store(uint32(id))
	m.nat.SetNode(id)
}

// NodeID returns our node ID (0 before SetNodeID).
func (m *Manager) NodeID() addr.NodeID { return addr.NodeID(m.node.Load()) }

// Discover runs the start-up discovery (beacon.md §3.2) and returns our
// observed endpoint. Run must be running.
func (m *Manager) Discover(ctx context.Context) (netip.AddrPort, error) {
	return m.nat.Discover(ctx)
}

// ObservedEndpoint returns our endpoint as last observed by the beacon.
func (m *Manager) ObservedEndpoint() netip.AddrPort { return m.nat.Observed() }

// NAT returns the beacon client (for its statistics).
func (m *Manager) NAT() *nat.Client { return m.nat }

// readLoop is the socket's only reader. It never blocks on anything but
// the socket: key exchange goes to the worker pool.
func (m *Manager) readLoop() error {
	buf := make([]byte, 1<<16) // a coalesced read is one IP packet at most
	oob := make([]byte, groOOBSize)
	for {
		n, seg, src, err := m.read(buf, oob)
		if err != nil {
			select {
			case <-m.stop:
				return nil
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				continue
			}
			m.cfg.Logger.Debug("tunnel read", "err", err)
			continue
		}
		m.holding = seg > 0 && seg < n
		for b := buf[:n]; ; {
			d, rest := nextSegment(b, seg)
			m.ctr.pktsRecv.Add(1)
			m.ctr.bytesRecv.Add(uint64(len(d)))
			m.handleDatagram(d, src)
			if len(rest) == 0 {
				break
			}
			b = rest
		}
		if len(m.deferred) > 0 {
			m.flushDeferred()
		}
	}
}

// handleDatagram demultiplexes one datagram (§4.1).
func (m *Manager) handleDatagram(b []byte, src netip.AddrPort) {
	if frame.Classify(b) == frame.KindBeacon {
		d, ok := m.nat.Handle(b, src)
		if ok {
			m.handleFrame(d.Frame, src, d.Sender, true)
		}
		return
	}
	m.handleFrame(b, src, 0, false)
}

// handleFrame processes a tunnel frame received directly (viaRelay false)
// or through the relay from relaySender.
func (m *Manager) handleFrame(b []byte, src netip.AddrPort, relaySender addr.NodeID, viaRelay bool) {
	switch frame.Classify(b) {
	case frame.KindPILS:
		m.handlePILS(b, src, relaySender, viaRelay)
	case frame.KindPILA, frame.KindPILK:
		m.handleKeyExchange(b, src, relaySender, viaRelay)
	case frame.KindPILT:
		m.handlePILT(b, src, relaySender, viaRelay)
	default:
		// PILP, beacon messages inside a relay, garbage: drop.
		m.ctr.dropped.Add(1)
	}
}

// write sends one datagram on the socket, counting it.
func (m *Manager) write(b []byte, to netip.AddrPort) error {
	if !to.IsValid() {
		return errors.New("tunnel: no destination")
	}
	n, err := m.conn.WriteToUDPAddrPort(b, to)
	if err != nil {
		m.ctr.writeErrors.Add(1)
		return err
	}
	m.ctr.pktsSent.Add(1)
	m.ctr.bytesSent.Add(uint64(n))
	return nil
}

// submit hands a job to the worker pool without blocking; a full pool
// drops it.
func (m *Manager) submit(job func(context.Context)) bool {
	select {
	case m.jobs <- job:
		return true
	default:
		m.ctr.jobsDropped.Add(1)
		return false
	}
}

func (m *Manager) workerLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case job := <-m.jobs:
			job(ctx)
		}
	}
}

// tickLoop runs timers (§6.2 T1/T5, §6.5 queue age, §6.9, §7.5, §7.6)
// every Config.Tick while some peer has a short timer running, every
// quietTick while frames flow, and otherwise sleeps until the next
// deadline (idle removal, age rekey; an hour without peers) or until poke
// (a new peer, a short timer, the first frame after a nap), so an idle
// daemon does not wake at all.
func (m *Manager) tickLoop(ctx context.Context) {
	t := time.NewTimer(m.cfg.Tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.poke:
			t.Reset(m.cfg.Tick)
			continue
		case <-t.C:
		}
		t.Reset(m.tick())
	}
}

// wakeTicker returns the maintenance loop to its fast period after a peer
// was created or started a short timer.
func (m *Manager) wakeTicker() {
	select {
	case m.poke <- struct{}{}:
	default:
	}
}

func (m *Manager) emit(e Event) {
	if m.cfg.Events != nil {
		m.cfg.Events(e)
	}
}

// validPeer reports whether id can be a peer: not 0, not broadcast, not us.
func (m *Manager) validPeer(id addr.NodeID) bool {
	return id != 0 && id != 0xFFFFFFFF && id != m.NodeID()
}

// lookupPeer returns the peer entry or nil.
func (m *Manager) lookupPeer(id addr.NodeID) *peer {
	m.mu.Lock()
	p := m.peers[id]
	m.mu.Unlock()
	return p
}

// getPeer returns the peer entry, creating it (nil when the table is
// full).
func (m *Manager) getPeer(id addr.NodeID) *peer {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.peers[id]
	if p == nil {
		if len(m.peers) >= MaxPeers {
			return nil
		}
		p = newPeer(id)
		m.peers[id] = p
		m.wakeTicker()
	}
	return p
}

// snapshot returns the current peers.
func (m *Manager) snapshot() []*peer {
	m.mu.Lock()
	defer m.mu.Unlock()
	ps := make([]*peer, 0, len(m.peers))
	for _, p := range m.peers {
		ps = append(ps, p)
	}
	return ps
}

// removePeer deletes p from the table (teardown, idle GC). The caller must
// not hold p.mu (lock order).
func (m *Manager) removePeer(p *peer) {
	m.mu.Lock()
	if m.peers[p.id] == p {
		delete(m.peers, p.id)
	}
	m.mu.Unlock()
}

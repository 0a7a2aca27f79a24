package dataplane

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/stream"
	"github.com/pilot-go/pilot/internal/wire/ipcmsg"
	"github.com/pilot-go/pilot/internal/wire/packet"
)

// LossReason says which stream event suspects that a peer lost its tunnel
// state (the values of the tunnel's own reasons, wire.md §6.9 (f), §7.5).
type LossReason uint8

// Loss reasons.
const (
	LossRTO LossReason = iota + 1 // two RTOs with nothing received in between
	LossSYN                       // a dial's SYN timed out twice
)

// Transport is the tunnel manager as seen from the data plane.
type Transport interface {
	// Send sends p to peer. It never blocks on the network; nil does not
	// mean delivery. An error wrapping ErrTooManyPending (or whose text
	// contains it) maps to IPC code 8.
	Send(peer addr.NodeID, p *packet.Packet) error
	// SuspectPeerLoss is the rekey / relay hint after two SYN timeouts of
	// a dial or two RTOs of a connection. It reports whether the path to
	// peer switched to the relay, whereupon a pending dial's SYN timer
	// restarts at 1 s (wire.md §7.5).
	SuspectPeerLoss(peer addr.NodeID, why LossReason) (toRelay bool)
}

// BatchTransport is optionally implemented by a Transport that can hand
// several packets for one peer to the network at once (the tunnel seals
// them under one lock and writes runs of them in one system call). A
// connection's engine pass sends its packets through it. SendBatch is
// Send for each packet in order: every packet is attempted and the first
// error is returned. It must not retain ps or their payloads.
type BatchTransport interface {
	SendBatch(peer addr.NodeID, ps []packet.Packet) error
}

// Resolver is optionally implemented by a Transport: Dial and SendDatagram
// resolve the peer first (wire.md §7.1); the error text is
// "resolve node N: …".
type Resolver interface {
	Resolve(ctx context.Context, peer addr.NodeID) error
}

// Verdict is an admission decision (wire.md §8).
type Verdict struct {
	Admit bool
	// PortRejected: shared networks exist but none allows the port; Network
	// is one of them (webhook *.port_rejected). Otherwise a rejection means
	// the peer is neither trusted nor shares a network (*.rejected).
	PortRejected bool
	Network      addr.NetworkID
}

// Admission decides whether a peer may open a connection to, or send a
// datagram to, a local port: public mode, the trust store and the
// registry's cached check_trust and network policies (wire.md §8).
type Admission interface {
	// Admit decides asynchronously; it must call done exactly once
	// (possibly later, from any goroutine) and never block the caller.
	Admit(peer addr.NodeID, dstPort addr.Port, proto packet.Protocol, done func(Verdict))
}

// AuthAdmission is optionally implemented by an Admission that must know
// whether the packet came under an authenticated tunnel state: peers with
// an unauthenticated (PILK) state or PILT packets are rejected at steps 3–4
// of wire.md §8. Deliver passes the tunnel's flag; HandlePacket passes true.
type AuthAdmission interface {
	AdmitAuth(peer addr.NodeID, authenticated bool, dstPort addr.Port, proto packet.Protocol, done func(Verdict))
}

// Events receives webhook events (services.md §8.3) as alternating key and
// value arguments. A nil Events discards them.
type Events interface {
	Emit(event string, kv ...any)
}

// Self is our identity and memberships.
type Self interface {
	// NodeID returns our node ID (0 before registration).
	NodeID() addr.NodeID
}

// Errors.
var (
	// ErrTooManyPending is the tunnel's "too many pending key exchanges".
	ErrTooManyPending = errors.New("too many pending key exchanges")
	// ErrClosed is returned after Shutdown.
	ErrClosed = errors.New("dataplane: closed")
	// ErrPortInUse is returned by ServeBuiltin / ListenBuiltin for a taken port.
	ErrPortInUse = errors.New("dataplane: port in use")
)

// Defaults of wire.md §8, §9.15, §10, §11, §12.
const (
	DefaultMaxBufferMemory = 512 << 20
	DefaultMaxConnsPerPort = 1024
	DefaultMaxConnsTotal   = 4096
	DefaultSYNRate         = 100
	DefaultAcceptQueue     = 64
	DefaultDrainTimeout    = 2 * time.Second
	DefaultFinWait         = time.Second
	DefaultMailbox         = 1024

	perSourceSYNRate  = 10
	maxTracked        = 4096
	maxParked         = 256
	parkTimeout       = 5 * time.Second
	dgramRate         = 1000
	dgramBurst        = 2000
	pingAnswersPerSec = 10
	maxPingPayload    = 1024
	tupleQuarantine   = 60 * time.Second
)

// Config configures a DataPlane. Zero values select the defaults.
type Config struct {
	Self      Self      // required
	Transport Transport // required
	Admission Admission // nil admits everything
	Events    Events
	Members   MemberLister // nil: broadcast fails with "not a member"
	// DeliverDatagram routes an inbound datagram to IPC clients
	// (ipc.Server.DeliverDatagram); nil drops datagrams.
	DeliverDatagram func(ipcmsg.RecvFrom) int
	// PortTaken reports ports owned by IPC clients that the data plane does
	// not see through Listen (datagram ports), for ephemeral allocation.
	PortTaken func(addr.Port) bool
	// Stream is the per-connection template (MSS, buffers, keepalive, idle
	// timeout, TIME_WAIT, dial timeout, CC). Budget is set by the data plane.
	Stream stream.Config
	// MaxBufferMemory is the daemon-wide buffer cap (-max-buffer-memory).
	MaxBufferMemory int
	MaxConnsPerPort int
	MaxConnsTotal   int
	// SYNRate is the daemon-wide SYN rate (and burst) per second.
	SYNRate int
	// AcceptQueue is the per-listener accept queue of built-in listeners.
	AcceptQueue int
	// DrainTimeout bounds the active-close drain at Shutdown (2 s); FinWait
	// is the wait for FIN exchanges after it (1 s).
	DrainTimeout, FinWait time.Duration
	// Mailbox is the per-connection inbound packet queue length.
	Mailbox int
	Logger  *slog.Logger
}

// DataPlane is the daemon's data plane. Create with New; stop with Shutdown.
type DataPlane struct {
	cfg    Config
	log    *slog.Logger
	budget *Budget
	ctx    context.Context // cancelled by Shutdown's end
	cancel context.CancelFunc

	mu           sync.Mutex
	closing      bool
	conns        map[tupleKey]*conn
	byID         map[ipcmsg.ConnID]*conn
	portConns    map[addr.Port]int
	listeners    map[addr.Port]*listener
	ports        portAlloc
	rstSent      map[tupleKey]time.Time
	synSrc       map[addr.NodeID]*rate.Limiter
	dgramSrc     map[addr.NodeID]*rate.Limiter
	pingSrc      map[addr.NodeID]*rate.Limiter
	pings        map[pingKey]pingWait
	bcast        map[addr.Port]*rate.Limiter
	nextID       ipcmsg.ConnID
	synLimitedAt time.Time // last security.syn_rate_limited webhook

	synLimit     *rate.Limiter
	pacer        *rate.Limiter
	parked       atomic.Int32
	mailboxDrops atomic.Uint64
	loop         chan *packet.Packet
	members      memberCache
	wg           sync.WaitGroup // connection and helper goroutines
}

// New validates cfg and returns a DataPlane.
func New(cfg Config) (*DataPlane, error) {
	if cfg.Self == nil || cfg.Transport == nil {
		return nil, errors.New("dataplane: Config.Self and Config.Transport are required")
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&cfg.MaxBufferMemory, DefaultMaxBufferMemory)
	def(&cfg.MaxConnsPerPort, DefaultMaxConnsPerPort)
	def(&cfg.MaxConnsTotal, DefaultMaxConnsTotal)
	def(&cfg.SYNRate, DefaultSYNRate)
	def(&cfg.AcceptQueue, DefaultAcceptQueue)
	def(&cfg.Mailbox, DefaultMailbox)
	if cfg.DrainTimeout <= 0 {
		cfg.DrainTimeout = DefaultDrainTimeout
	}
	if cfg.FinWait <= 0 {
		cfg.FinWait = DefaultFinWait
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	cfg.Stream.Budget = nil
	probe := cfg.Stream
	if _, err := stream.NewDialer(probe, time.Now()); err != nil {
		return nil, fmt.Errorf("dataplane: stream config: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	dp := &DataPlane{
		cfg: cfg, log: log, ctx: ctx, cancel: cancel,
		budget:    NewBudget(cfg.MaxBufferMemory),
		conns:     make(map[tupleKey]*conn),
		byID:      make(map[ipcmsg.ConnID]*conn),
		portConns: make(map[addr.Port]int),
		listeners: make(map[addr.Port]*listener),
		rstSent:   make(map[tupleKey]time.Time),
		synSrc:    make(map[addr.NodeID]*rate.Limiter),
		dgramSrc:  make(map[addr.NodeID]*rate.Limiter),
		pingSrc:   make(map[addr.NodeID]*rate.Limiter),
		pings:     make(map[pingKey]pingWait),
		bcast:     make(map[addr.Port]*rate.Limiter),
		synLimit:  rate.NewLimiter(rate.Limit(cfg.SYNRate), cfg.SYNRate),
		pacer:     rate.NewLimiter(broadcastPace, 1),
	}
	dp.ports.init()
	dp.members.init()
	dp.loop = make(chan *packet.Packet, loopbackQueue)
	dp.wg.Add(1)
	go dp.loopbackLoop()
	return dp, nil
}

// MailboxDrops counts inbound stream packets dropped because their
// connection's mailbox was full (the stream engine recovers them as loss).
func (dp *DataPlane) MailboxDrops() uint64 { return dp.mailboxDrops.Load() }

// Budget returns the daemon-wide memory budget (for tests and metrics).
func (dp *DataPlane) Budget() *Budget { return dp.budget }

func (dp *DataPlane) self() addr.NodeID { return dp.cfg.Self.NodeID() }

func (dp *DataPlane) emit(event string, kv ...any) {
	if dp.cfg.Events != nil {
		dp.cfg.Events.Emit(event, kv...)
	}
}

// HandlePacket handles one inbound packet from peer from whose tunnel state
// is authenticated. It never blocks; p and its payload are not retained.
func (dp *DataPlane) HandlePacket(from addr.NodeID, p *packet.Packet) {
	dp.Deliver(from, false, true, p)
}

// Deliver has the signature of the tunnel's Deliver callback: auth is false
// for peers with an unauthenticated state and for PILT packets (passed to
// an AuthAdmission). viaRelay does not matter here. It never blocks; p and
// its payload are not retained.
func (dp *DataPlane) Deliver(from addr.NodeID, viaRelay, auth bool, p *packet.Packet) {
	self := dp.self()
	// §1.4: node 0 and broadcast never appear on the wire; packets not
	// addressed to our node are not ours (networks are ignored, §1.5).
	if from == 0 || p.Src.Node != from || p.Src.IsBroadcast() || p.Dst.IsBroadcast() ||
		self == 0 || p.Dst.Node != self {
		return
	}
	switch p.Protocol {
	case packet.ProtoStream:
		dp.handleStream(from, auth, p)
	case packet.ProtoDatagram:
		dp.handleDatagram(from, auth, p)
	case packet.ProtoControl:
		dp.handleControl(from, p)
	}
}

// send transmits p to peer, looping back packets for our own node (§9.1).
func (dp *DataPlane) send(peer addr.NodeID, p *packet.Packet) error {
	if peer == dp.self() {
		dp.loopback(p)
		return nil
	}
	return dp.cfg.Transport.Send(peer, p)
}

// sendAll transmits ps to peer in order, as one batch when the transport
// supports it; it returns the first error.
func (dp *DataPlane) sendAll(peer addr.NodeID, ps []packet.Packet) error {
	if bt, ok := dp.cfg.Transport.(BatchTransport); ok && len(ps) > 1 && peer != dp.self() {
		return bt.SendBatch(peer, ps)
	}
	var first error
	for i := range ps {
		if err := dp.send(peer, &ps[i]); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// admit runs admission for a SYN or datagram, parking it while the verdict
// is pending (wire.md §8). next runs at most once, only when admitted and
// in time; it may run synchronously.
func (dp *DataPlane) admit(from addr.NodeID, auth bool, p *packet.Packet, next func()) {
	if from == dp.self() || dp.cfg.Admission == nil {
		next()
		return
	}
	if dp.parked.Add(1) > maxParked {
		dp.parked.Add(-1)
		return
	}
	var state atomic.Int32 // 0 pending, 1 decided, 2 expired
	var timer *time.Timer
	var tmu sync.Mutex
	release := func() bool {
		if state.CompareAndSwap(0, 1) {
			dp.parked.Add(-1)
			return true
		}
		return false
	}
	dst, proto, src := p.DstPort, p.Protocol, p.Src
	done := func(v Verdict) {
		if !release() {
			return // expired: dropped (§8)
		}
		tmu.Lock()
		if timer != nil {
			timer.Stop()
		}
		tmu.Unlock()
		if v.Admit {
			next()
			return
		}
		dp.rejected(from, src, dst, proto, v)
	}
	if aa, ok := dp.cfg.Admission.(AuthAdmission); ok {
		aa.AdmitAuth(from, auth, dst, proto, done)
	} else {
		dp.cfg.Admission.Admit(from, dst, proto, done)
	}
	if state.Load() == 0 {
		tmu.Lock()
		timer = time.AfterFunc(parkTimeout, func() {
			if state.CompareAndSwap(0, 2) {
				dp.parked.Add(-1)
			}
		})
		tmu.Unlock()
	}
}

func (dp *DataPlane) rejected(from addr.NodeID, src addr.Addr, dstPort addr.Port, proto packet.Protocol, v Verdict) {
	kind := "syn"
	if proto == packet.ProtoDatagram {
		kind = "datagram"
	}
	if v.PortRejected {
		dp.emit(kind+".port_rejected", "src_node_id", int(from), "dst_port", int(dstPort), "network", int(v.Network))
		return
	}
	dp.emit(kind+".rejected", "src_node_id", int(from), "src_addr", src.String(), "dst_port", int(dstPort))
}

// limiterFor returns the per-node token bucket of m, creating it; m holds
// at most maxTracked sources (idle full buckets are evicted first).
// Callers hold dp.mu.
func limiterFor(m map[addr.NodeID]*rate.Limiter, n addr.NodeID, r float64, burst int) *rate.Limiter {
	if l, ok := m[n]; ok {
		return l
	}
	if len(m) >= maxTracked {
		now := time.Now()
		for k, l := range m {
			if l.TokensAt(now) >= float64(l.Burst()) {
				delete(m, k)
			}
		}
		if len(m) >= maxTracked {
			return nil
		}
	}
	l := rate.NewLimiter(rate.Limit(r), burst)
	m[n] = l
	return l
}

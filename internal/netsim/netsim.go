package netsim

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"time"
)

// PacketConn is the UDP socket surface the daemon, the beacon and tests use.
// *net.UDPConn and *Conn both satisfy it.
type PacketConn interface {
	ReadFromUDPAddrPort(b []byte) (n int, addr netip.AddrPort, err error)
	WriteToUDPAddrPort(b []byte, addr netip.AddrPort) (int, error)
	LocalAddr() net.Addr
	SetReadDeadline(t time.Time) error
	Close() error
}

var (
	_ PacketConn     = (*net.UDPConn)(nil)
	_ PacketConn     = (*Conn)(nil)
	_ net.PacketConn = (*Conn)(nil)
)

// Sentinel errors; returned errors wrap them.
var (
	ErrClosed       = net.ErrClosed // the Network or the Conn is closed
	ErrUnknownHost  = errors.New("netsim: unknown host")
	ErrAddrInUse    = errors.New("netsim: address already in use")
	ErrAddrTaken    = errors.New("netsim: address already assigned")
	ErrInvalidAddr  = errors.New("netsim: invalid address")
	ErrTooLarge     = errors.New("netsim: datagram too large")
	ErrInvalidParam = errors.New("netsim: invalid parameter")
)

// MaxDatagram is the largest UDP payload over IPv4 (wire.md §13).
const MaxDatagram = 65507

const (
	defaultRecvQueue = 1024
	ephemeralFirst   = 49152
	ephemeralLast    = 65535
)

// Config configures a Network. The zero value is a perfect, zero-delay
// internet seeded with 0.
type Config struct {
	// Seed seeds every random choice: loss, duplication, delays, reorder,
	// ephemeral ports and NAT public ports.
	Seed uint64
	// Link is the initial default condition of every internet path
	// (see SetDefault). Traffic inside a NAT's LAN uses NATConfig.LAN.
	Link LinkConfig
	// RecvQueue is the number of datagrams each Conn buffers before it drops
	// (DropRecvQueue). Zero means 1024.
	RecvQueue int
}

// Network is a simulated internet. Create it with New and stop it with Close.
type Network struct {
	// Set once in New.
	recvQueue int
	done      chan struct{} // closed by Close: stops schedulerLoop
	wake      chan struct{} // capacity 1: a new earliest event was queued
	wg        sync.WaitGroup

	mu     sync.Mutex // guards everything below, NAT state and Conn bindings
	closed bool
	rng    *rand.Rand
	hosts  map[netip.Addr]*host
	nats   map[netip.Addr]*NAT // by public address
	def    LinkConfig
	rules  []rule
	cuts   map[[2]netip.Addr]struct{} // unordered pairs, smaller address first
	paths  map[pathKey]*path
	events eventQueue
	seq    uint64 // tie-breaker keeping equal arrival times in send order
	stats  Stats
}

// host is one IPv4 address with its bound sockets.
type host struct {
	ip       netip.Addr
	nat      *NAT // nil for a public host
	conns    map[uint16]*Conn
	nextPort uint16 // next ephemeral port to try
}

// pathKey identifies a path as the sender sees it: its own host address and
// the destination address it wrote to.
type pathKey struct{ from, to netip.Addr }

// path holds the per-path bandwidth queue and counters.
type path struct {
	busyUntil time.Time // when the bandwidth limiter has sent its backlog
	stats     Stats
}

// packet is one datagram in flight. Copies made by duplication share it, so
// it is never modified after it is scheduled.
type packet struct {
	src, dst netip.AddrPort // addresses on the wire (src after outbound NAT)
	data     []byte
	path     *path
}

// New creates a Network and starts its scheduler goroutine.
func New(cfg Config) (*Network, error) {
	if err := cfg.Link.validate(); err != nil {
		return nil, fmt.Errorf("netsim: default link: %w", err)
	}
	if cfg.RecvQueue < 0 {
		return nil, fmt.Errorf("%w: RecvQueue %d is negative", ErrInvalidParam, cfg.RecvQueue)
	}
	n := &Network{
		recvQueue: cfg.RecvQueue,
		done:      make(chan struct{}),
		wake:      make(chan struct{}, 1),
		rng:       rand.New(rand.NewPCG(cfg.Seed, 0x6e657473696d)), // "netsim"
		hosts:     make(map[netip.Addr]*host),
		nats:      make(map[netip.Addr]*NAT),
		def:       cfg.Link,
		cuts:      make(map[[2]netip.Addr]struct{}),
		paths:     make(map[pathKey]*path),
	}
	if n.recvQueue == 0 {
		n.recvQueue = defaultRecvQueue
	}
	n.wg.Add(1)
	go n.schedulerLoop()
	return n, nil
}

// Close closes every Conn (unblocking their readers), discards datagrams in
// flight and stops the scheduler. It is idempotent and always returns nil.
func (n *Network) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	for _, h := range n.hosts {
		for _, c := range h.conns {
			c.closeLocked()
		}
	}
	n.events = nil
	n.mu.Unlock()
	close(n.done)
	n.wg.Wait()
	return nil
}

// AddHost adds a public host: its address is routable on the internet.
func (n *Network) AddHost(ip netip.Addr) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	_, err := n.addHostLocked(ip, nil)
	return err
}

func (n *Network) addHostLocked(ip netip.Addr, nat *NAT) (*host, error) {
	ip = ip.Unmap()
	if err := n.checkNewAddrLocked(ip); err != nil {
		return nil, err
	}
	h := &host{
		ip:       ip,
		nat:      nat,
		conns:    make(map[uint16]*Conn),
		nextPort: ephemeralFirst + uint16(n.rng.IntN(ephemeralLast-ephemeralFirst+1)),
	}
	n.hosts[ip] = h
	return h, nil
}

func (n *Network) checkNewAddrLocked(ip netip.Addr) error {
	if n.closed {
		return fmt.Errorf("netsim: add %v: %w", ip, ErrClosed)
	}
	if !ip.Is4() || ip.IsUnspecified() {
		return fmt.Errorf("%w: %v is not a unicast IPv4 address", ErrInvalidAddr, ip)
	}
	if _, ok := n.hosts[ip]; ok {
		return fmt.Errorf("%w: %v is a host", ErrAddrTaken, ip)
	}
	if _, ok := n.nats[ip]; ok {
		return fmt.Errorf("%w: %v is a NAT", ErrAddrTaken, ip)
	}
	return nil
}

// Listen binds a UDP socket on host ip. Port 0 picks a free ephemeral port
// (49152–65535) starting from a seeded random point.
func (n *Network) Listen(ip netip.Addr, port uint16) (PacketConn, error) {
	c, err := n.ListenConn(ip, port)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// ListenConn is Listen returning the concrete *Conn (for ConnStats).
func (n *Network) ListenConn(ip netip.Addr, port uint16) (*Conn, error) {
	ip = ip.Unmap()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil, fmt.Errorf("netsim: listen %v:%d: %w", ip, port, ErrClosed)
	}
	h := n.hosts[ip]
	if h == nil {
		return nil, fmt.Errorf("netsim: listen %v:%d: %w", ip, port, ErrUnknownHost)
	}
	if port == 0 {
		p, ok := h.freeEphemeral()
		if !ok {
			return nil, fmt.Errorf("netsim: listen %v:0: %w: no free ephemeral port", ip, ErrAddrInUse)
		}
		port = p
	} else if _, used := h.conns[port]; used {
		return nil, fmt.Errorf("netsim: listen %v:%d: %w", ip, port, ErrAddrInUse)
	}
	c := newConn(n, h, port, n.recvQueue)
	h.conns[port] = c
	return c, nil
}

func (h *host) freeEphemeral() (uint16, bool) {
	for range ephemeralLast - ephemeralFirst + 1 {
		p := h.nextPort
		if h.nextPort == ephemeralLast {
			h.nextPort = ephemeralFirst
		} else {
			h.nextPort++
		}
		if _, used := h.conns[p]; !used {
			return p, true
		}
	}
	return 0, false
}

// Stats returns the network-wide counters.
func (n *Network) Stats() Stats {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.stats
}

// PathStats returns the counters of datagrams written by host from to the
// address to (as the sender addressed them: a NAT's public address for a
// host behind a NAT, a private address for LAN traffic).
func (n *Network) PathStats(from, to netip.Addr) Stats {
	n.mu.Lock()
	defer n.mu.Unlock()
	if p := n.paths[pathKey{from.Unmap(), to.Unmap()}]; p != nil {
		return p.stats
	}
	return Stats{}
}

func (n *Network) pathLocked(from, to netip.Addr) *path {
	k := pathKey{from, to}
	p := n.paths[k]
	if p == nil {
		p = &path{}
		n.paths[k] = p
	}
	return p
}

func (n *Network) dropLocked(p *packet, r DropReason) {
	n.stats.Dropped[r]++
	p.path.stats.Dropped[r]++
}

// sendLocked routes one datagram written by c.
func (n *Network) sendLocked(c *Conn, data []byte, dst netip.AddrPort, now time.Time) {
	h := c.h
	p := &packet{src: c.local, dst: dst, data: data, path: n.pathLocked(h.ip, dst.Addr())}
	n.stats.Sent++
	p.path.stats.Sent++
	c.stats.Sent++
	nat := h.nat
	if nat != nil {
		if peer := nat.hosts[dst.Addr()]; peer != nil {
			if n.cutLocked(h.ip, h.ip, dst.Addr(), dst.Addr()) {
				n.dropLocked(p, DropDown)
				return
			}
			n.transmitLocked(p, nat.lan, now)
			return
		}
		if dst.Addr() == nat.cfg.Public && !nat.cfg.Hairpin {
			n.dropLocked(p, DropHairpin)
			return
		}
		pub, ok := nat.outboundLocked(c.local, dst, now)
		if !ok {
			n.dropLocked(p, DropNATPorts)
			return
		}
		p.src = pub
		if dst.Addr() == nat.cfg.Public {
			n.arriveLocked(p, now) // hairpin: turned around inside the NAT
			return
		}
	}
	var to netip.Addr // receiving host, if known now
	if dn := n.nats[dst.Addr()]; dn != nil {
		to = dn.peekLocked(dst.Port())
	} else if dh := n.hosts[dst.Addr()]; dh != nil && dh.nat == nil {
		to = dh.ip
	} else {
		n.dropLocked(p, DropNoRoute)
		return
	}
	if n.cutLocked(h.ip, p.src.Addr(), dst.Addr(), to) {
		n.dropLocked(p, DropDown)
		return
	}
	n.transmitLocked(p, n.linkLocked(h.ip, p.src.Addr(), dst.Addr(), to), now)
}

// arriveLocked hands a datagram to the receiving NAT and socket.
func (n *Network) arriveLocked(p *packet, now time.Time) {
	dst := p.dst
	if nat := n.nats[dst.Addr()]; nat != nil {
		priv, r, ok := nat.inboundLocked(p.src, dst.Port(), now)
		if !ok {
			n.dropLocked(p, r)
			return
		}
		dst = priv
	}
	h := n.hosts[dst.Addr()]
	if h == nil {
		n.dropLocked(p, DropNoRoute)
		return
	}
	c := h.conns[dst.Port()]
	if c == nil {
		n.dropLocked(p, DropNoListener)
		return
	}
	select {
	case c.queue <- datagram{src: p.src, data: p.data}:
		n.stats.Delivered++
		p.path.stats.Delivered++
		c.stats.Received++
	default:
		c.stats.Dropped++
		n.dropLocked(p, DropRecvQueue)
	}
}

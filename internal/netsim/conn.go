package netsim

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"
)

// Conn is a simulated UDP socket bound with Network.Listen. Like a real
// socket it may be read, written and closed from different goroutines; one
// reader per socket is the intended use.
type Conn struct {
	// Set once in newConn.
	n     *Network
	h     *host
	local netip.AddrPort
	queue chan datagram // bounded receive queue; written under n.mu without blocking
	done  chan struct{} // closed by Close
	rd    deadline

	// Guarded by n.mu.
	closed bool
	stats  ConnStats
}

type datagram struct {
	src  netip.AddrPort
	data []byte
}

func newConn(n *Network, h *host, port uint16, queue int) *Conn {
	return &Conn{
		n:     n,
		h:     h,
		local: netip.AddrPortFrom(h.ip, port),
		queue: make(chan datagram, queue),
		done:  make(chan struct{}),
		rd:    deadline{ch: make(chan struct{})},
	}
}

// LocalAddr returns the bound address as a *net.UDPAddr (the private address
// for a host behind a NAT).
func (c *Conn) LocalAddr() net.Addr { return net.UDPAddrFromAddrPort(c.local) }

// LocalAddrPort returns the bound address.
func (c *Conn) LocalAddrPort() netip.AddrPort { return c.local }

// Stats returns this socket's counters.
func (c *Conn) Stats() ConnStats {
	c.n.mu.Lock()
	defer c.n.mu.Unlock()
	return c.stats
}

func (c *Conn) opErr(op string, err error) error {
	return &net.OpError{Op: op, Net: "udp", Addr: c.LocalAddr(), Err: err}
}

// ReadFromUDPAddrPort waits for a datagram and copies it into b, truncating
// it if b is too small (as UDP does). It returns an error wrapping
// net.ErrClosed once the Conn or the Network is closed, and one wrapping
// os.ErrDeadlineExceeded (a net.Error whose Timeout() is true) once the read
// deadline has passed.
func (c *Conn) ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error) {
	select {
	case <-c.done:
		return 0, netip.AddrPort{}, c.opErr("read", net.ErrClosed)
	default:
	}
	expired := c.rd.wait()
	select {
	case <-expired:
		return 0, netip.AddrPort{}, c.opErr("read", os.ErrDeadlineExceeded)
	default:
	}
	select {
	case d := <-c.queue:
		return copy(b, d.data), d.src, nil
	case <-c.done:
		return 0, netip.AddrPort{}, c.opErr("read", net.ErrClosed)
	case <-expired:
		return 0, netip.AddrPort{}, c.opErr("read", os.ErrDeadlineExceeded)
	}
}

// WriteToUDPAddrPort sends b to addr. Like UDP it succeeds even when the
// datagram is later lost; errors are for a closed Conn, a non-IPv4 or port-0
// destination and payloads over MaxDatagram.
func (c *Conn) WriteToUDPAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	addr = netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port())
	if !addr.Addr().Is4() || addr.Port() == 0 {
		return 0, c.opErr("write", fmt.Errorf("%w: destination %v", ErrInvalidAddr, addr))
	}
	if len(b) > MaxDatagram {
		return 0, c.opErr("write", fmt.Errorf("%w: %d bytes > %d", ErrTooLarge, len(b), MaxDatagram))
	}
	data := make([]byte, len(b))
	copy(data, b)
	c.n.mu.Lock()
	defer c.n.mu.Unlock()
	if c.closed {
		return 0, c.opErr("write", net.ErrClosed)
	}
	c.n.sendLocked(c, data, addr, time.Now())
	return len(b), nil
}

// ReadFrom implements net.PacketConn.
func (c *Conn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, from, err := c.ReadFromUDPAddrPort(b)
	if err != nil {
		return n, nil, err
	}
	return n, net.UDPAddrFromAddrPort(from), nil
}

// WriteTo implements net.PacketConn; addr must be a *net.UDPAddr.
func (c *Conn) WriteTo(b []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return 0, c.opErr("write", fmt.Errorf("%w: %T is not a *net.UDPAddr", ErrInvalidAddr, addr))
	}
	return c.WriteToUDPAddrPort(b, ua.AddrPort())
}

// SetReadDeadline sets the time after which reads fail with
// os.ErrDeadlineExceeded, including a read already blocked. The zero time
// clears it.
func (c *Conn) SetReadDeadline(t time.Time) error {
	select {
	case <-c.done:
		return c.opErr("set", net.ErrClosed)
	default:
	}
	c.rd.set(t)
	return nil
}

// SetWriteDeadline accepts and ignores t: writes never block.
func (c *Conn) SetWriteDeadline(time.Time) error {
	select {
	case <-c.done:
		return c.opErr("set", net.ErrClosed)
	default:
	}
	return nil
}

// SetDeadline is SetReadDeadline (writes never block).
func (c *Conn) SetDeadline(t time.Time) error { return c.SetReadDeadline(t) }

// Close unbinds the port, discards queued datagrams and unblocks readers.
// A second Close returns an error wrapping net.ErrClosed.
func (c *Conn) Close() error {
	c.n.mu.Lock()
	defer c.n.mu.Unlock()
	if c.closed {
		return c.opErr("close", net.ErrClosed)
	}
	c.closeLocked()
	return nil
}

func (c *Conn) closeLocked() {
	c.closed = true
	if c.h.conns[c.local.Port()] == c {
		delete(c.h.conns, c.local.Port())
	}
	close(c.done)
	c.rd.stop()
}

// deadline is a read deadline: ch is closed once it has passed. A reader
// waits on the channel it got from wait; moving the deadline before it
// passes keeps the channel (so blocked readers see the new time), and moving
// it after it passed installs a fresh channel.
type deadline struct {
	mu      sync.Mutex
	ch      chan struct{}
	expired bool
	timer   *time.Timer
	gen     uint64 // invalidates callbacks of stopped timers
}

func (d *deadline) wait() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.ch
}

func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stopLocked()
	if d.expired {
		d.ch = make(chan struct{})
		d.expired = false
	}
	if t.IsZero() {
		return
	}
	dur := time.Until(t)
	if dur <= 0 {
		d.expireLocked()
		return
	}
	gen := d.gen
	d.timer = time.AfterFunc(dur, func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.gen == gen && !d.expired {
			d.expireLocked()
		}
	})
}

func (d *deadline) expireLocked() {
	close(d.ch)
	d.expired = true
}

func (d *deadline) stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stopLocked()
}

func (d *deadline) stopLocked() {
	d.gen++
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
}

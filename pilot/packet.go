package pilot

import (
	"context"
	"net"
	"sync"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/wire/ipcmsg"
)

// maxQueuedDatagrams bounds a PacketConn's receive queue; datagrams beyond
// it are dropped (datagrams are unreliable; streams never drop).
const maxQueuedDatagrams = 1024

// PacketConn sends and receives datagrams on a port bound by this client.
// It implements net.PacketConn with read and write deadlines.
type PacketConn struct {
	// set once
	c          *Client
	local      *Addr
	ownsClient bool
	ready      chan struct{}
	closedCh   chan struct{}
	rd, wd     deadline

	mu      sync.Mutex
	queue   []ipcmsg.RecvFrom
	closed  bool
	dropped uint64
}

// ListenPacket binds a port for datagrams. address is as for Listen.
func (c *Client) ListenPacket(ctx context.Context, network, address string) (*PacketConn, error) {
	pc := &PacketConn{c: c, ready: make(chan struct{}, 1), closedCh: make(chan struct{})}
	err := c.bindAddress(ctx, network, address, func(p addr.Port) {
		pc.local = &Addr{Addr: c.local, Port: p}
		c.mu.Lock()
		c.packets[p] = pc
		c.mu.Unlock()
	})
	if err != nil {
		return nil, err
	}
	return pc, nil
}

func (pc *PacketConn) deliver(m ipcmsg.RecvFrom) {
	pc.mu.Lock()
	if pc.closed || len(pc.queue) >= maxQueuedDatagrams {
		pc.dropped++
		pc.mu.Unlock()
		return
	}
	pc.queue = append(pc.queue, m)
	pc.mu.Unlock()
	signal(pc.ready)
}

// Dropped returns the datagrams dropped because the queue was full.
func (pc *PacketConn) Dropped() uint64 {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	return pc.dropped
}

// ReadFrom reads one datagram; a datagram longer than p is truncated.
func (pc *PacketConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		pc.mu.Lock()
		if pc.closed {
			pc.mu.Unlock()
			return 0, nil, opError("read", pc.local, nil, net.ErrClosed)
		}
		if len(pc.queue) > 0 {
			m := pc.queue[0]
			pc.queue[0] = ipcmsg.RecvFrom{}
			pc.queue = pc.queue[1:]
			if len(pc.queue) > 0 {
				signal(pc.ready)
			}
			pc.mu.Unlock()
			return copy(p, m.Data), &Addr{Addr: m.Src, Port: m.SrcPort}, nil
		}
		pc.mu.Unlock()
		if err := pc.rd.wait(pc.ready, pc.closedCh, pc.c.done, net.ErrClosed); err != nil {
			return 0, nil, opError("read", pc.local, nil, err)
		}
	}
}

// WriteTo sends p as one datagram from this PacketConn's port. In tagged
// mode it waits for the daemon's OK, bounded by the write deadline.
func (pc *PacketConn) WriteTo(p []byte, to net.Addr) (int, error) {
	dst, err := toAddr(to)
	if err != nil {
		return 0, opError("write", pc.local, to, err)
	}
	pc.mu.Lock()
	closed := pc.closed
	pc.mu.Unlock()
	if closed {
		return 0, opError("write", pc.local, dst, net.ErrClosed)
	}
	c := pc.c
	if c.legacy {
		// An original daemon knows no SendToFrom: the source port is its choice.
		err := c.write(ipcmsg.SendTo{Addr: dst.Addr, Port: dst.Port, Data: p})
		return writeResult(len(p), pc.local, dst, err)
	}
	ctx := context.Background()
	if when := pc.wd.get(); !when.IsZero() {
		if !time.Now().Before(when) {
			return 0, opError("write", pc.local, dst, errTimeout)
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, when)
		defer cancel()
	}
	m := ipcmsg.SendToFrom{Addr: dst.Addr, DstPort: dst.Port, SrcPort: pc.local.Port, Data: p}
	if !c.tagged {
		err := c.write(m)
		return writeResult(len(p), pc.local, dst, err)
	}
	_, err = c.roundTrip(ctx, m, ipcmsg.CmdOK)
	if err == context.DeadlineExceeded {
		err = errTimeout
	}
	return writeResult(len(p), pc.local, dst, err)
}

func writeResult(n int, local, remote net.Addr, err error) (int, error) {
	if err != nil {
		return 0, opError("write", local, remote, err)
	}
	return n, nil
}

// Close sends Unbind and waits for the answer; queued datagrams are dropped.
func (pc *PacketConn) Close() error {
	pc.mu.Lock()
	if pc.closed {
		pc.mu.Unlock()
		return opError("close", pc.local, nil, net.ErrClosed)
	}
	pc.closed = true
	pc.queue = nil
	pc.mu.Unlock()
	close(pc.closedCh)
	c := pc.c
	c.mu.Lock()
	if c.packets[pc.local.Port] == pc {
		delete(c.packets, pc.local.Port)
	}
	c.mu.Unlock()
	var err error
	if uerr := c.unbind(pc.local.Port); uerr != nil {
		err = opError("close", pc.local, nil, uerr)
	}
	if pc.ownsClient {
		c.Close()
	}
	return err
}

// LocalAddr returns our address and the bound port.
func (pc *PacketConn) LocalAddr() net.Addr { return pc.local }

// SetDeadline sets both deadlines.
func (pc *PacketConn) SetDeadline(t time.Time) error {
	pc.rd.set(t)
	pc.wd.set(t)
	return nil
}

// SetReadDeadline bounds ReadFrom.
func (pc *PacketConn) SetReadDeadline(t time.Time) error { pc.rd.set(t); return nil }

// SetWriteDeadline bounds the wait for the daemon's OK in WriteTo.
func (pc *PacketConn) SetWriteDeadline(t time.Time) error { pc.wd.set(t); return nil }

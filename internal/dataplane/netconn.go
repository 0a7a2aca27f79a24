package dataplane

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/stream"
	"github.com/pilot-go/pilot/internal/wire/ipcmsg"
)

// NetAddr is a virtual socket address as a net.Addr (network "pilot").
type NetAddr struct{ addr.SocketAddr }

// Network implements net.Addr.
func (NetAddr) Network() string { return "pilot" }

// ConnError is a connection's abnormal end as seen through net.Conn; a
// clean close by the peer is io.EOF instead.
type ConnError struct {
	Reason ipcmsg.CloseReason
	Detail string
}

func (e *ConnError) Error() string {
	if e.Detail != "" {
		return fmt.Sprintf("pilot connection closed (reason %d): %s", e.Reason, e.Detail)
	}
	return fmt.Sprintf("pilot connection closed (reason %d)", e.Reason)
}

// Listener is a daemon-owned stream listener (net.Listener) for a built-in
// service. Its accept queue holds AcceptQueue connections; a SYN that finds
// it full gets an RST (§9.15).
type Listener struct {
	dp     *DataPlane
	port   addr.Port
	queue  chan *conn
	closed chan struct{}
	once   sync.Once
}

// ListenBuiltin makes port a daemon-owned listener; an IPC Bind of it then
// fails with "port N already bound".
func (dp *DataPlane) ListenBuiltin(port addr.Port) (*Listener, error) {
	dp.mu.Lock()
	defer dp.mu.Unlock()
	if dp.closing {
		return nil, ErrClosed
	}
	if _, ok := dp.listeners[port]; ok {
		return nil, fmt.Errorf("%w: %d", ErrPortInUse, port)
	}
	l := &Listener{dp: dp, port: port, queue: make(chan *conn, dp.cfg.AcceptQueue), closed: make(chan struct{})}
	dp.listeners[port] = &listener{port: port, bl: l}
	return l, nil
}

// ServeBuiltin registers a daemon-owned listener on port and runs handler
// in its own goroutine for every accepted connection (the connection is
// closed when handler returns). Handlers must return once ctx is done or
// their connection fails: Shutdown waits for them.
func (dp *DataPlane) ServeBuiltin(port addr.Port, handler func(ctx context.Context, c net.Conn, remote addr.Addr)) error {
	l, err := dp.ListenBuiltin(port)
	if err != nil {
		return err
	}
	dp.wg.Go(func() {
		for {
			nc, err := l.Accept()
			if err != nil {
				return
			}
			dp.wg.Go(func() {
				defer nc.Close()
				handler(dp.ctx, nc, nc.(*netConn).c.remote)
			})
		}
	})
	return nil
}

// Accept implements net.Listener.
func (l *Listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.queue:
		return newNetConn(c), nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

// Close implements net.Listener: the port is released and connections
// waiting in the accept queue are reset.
func (l *Listener) Close() error {
	l.dp.mu.Lock()
	if cur, ok := l.dp.listeners[l.port]; ok && cur.bl == l {
		delete(l.dp.listeners, l.port)
	}
	l.dp.mu.Unlock()
	l.shut()
	return nil
}

func (l *Listener) shut() {
	l.once.Do(func() { close(l.closed) })
	for {
		select {
		case c := <-l.queue:
			c.abort(ipcmsg.ReasonOther)
		default:
			return
		}
	}
}

// Addr implements net.Listener.
func (l *Listener) Addr() net.Addr {
	return NetAddr{addr.SocketAddr{Addr: addr.New(addr.Backbone, l.dp.self()), Port: l.port}}
}

// DialConn opens a stream connection for the daemon itself (for example
// the trust handshake on port 444) and returns it as a net.Conn.
func (dp *DataPlane) DialConn(ctx context.Context, a addr.Addr, port addr.Port) (net.Conn, error) {
	c, err := dp.dial(ctx, a, port, 0, false, nil)
	if err != nil {
		return nil, err
	}
	return newNetConn(c), nil
}

// netConn adapts a connection to net.Conn with working deadlines.
type netConn struct {
	c      *conn
	rd, wd *deadline
	closed chan struct{}
	once   sync.Once
}

func newNetConn(c *conn) *netConn {
	return &netConn{c: c, closed: make(chan struct{}), rd: newDeadline(), wd: newDeadline()}
}

func (n *netConn) isClosed() bool {
	select {
	case <-n.closed:
		return true
	default:
		return false
	}
}

// Read implements net.Conn: io.EOF after a clean close by the peer, a
// *ConnError after a reset.
func (n *netConn) Read(b []byte) (int, error) {
	c := n.c
	for {
		if n.isClosed() {
			return 0, net.ErrClosed
		}
		if len(b) == 0 {
			return 0, nil
		}
		c.mu.Lock()
		r, err := c.eng.Read(b)
		if r > 0 {
			c.unlockAfter(c.pumpLocked(time.Now()) &^ nReadable)
			return r, nil
		}
		if err != nil {
			eos := c.endOfStreamLocked()
			c.mu.Unlock()
			if eos.Reason == ipcmsg.ReasonPeerClosed {
				return 0, io.EOF
			}
			return 0, &ConnError{Reason: eos.Reason, Detail: eos.Detail}
		}
		c.mu.Unlock()
		select {
		case <-c.rcvSig:
		case <-n.rd.wait():
			return 0, os.ErrDeadlineExceeded
		case <-n.closed:
		}
	}
}

// Write implements net.Conn: it waits for send-buffer space.
func (n *netConn) Write(b []byte) (int, error) {
	c := n.c
	total := 0
	for {
		if n.isClosed() {
			return total, net.ErrClosed
		}
		select {
		case <-n.wd.wait():
			return total, os.ErrDeadlineExceeded
		default:
		}
		c.mu.Lock()
		w, err := c.eng.Write(b[total:])
		if err != nil || c.closeReq {
			eos := c.endOfStreamLocked()
			c.mu.Unlock()
			switch {
			case err == stream.ErrReset:
				return total, &ConnError{Reason: eos.Reason, Detail: eos.Detail}
			case c.closeReq && !n.isClosed():
				return total, &ConnError{Reason: eos.Reason, Detail: "connection closing"}
			}
			return total, io.ErrClosedPipe
		}
		total += w
		c.unlockAfter(c.pumpLocked(time.Now()))
		if total == len(b) {
			return total, nil
		}
		select {
		case <-c.wrSig:
		case <-c.done:
		case <-n.wd.wait():
			return total, os.ErrDeadlineExceeded
		case <-n.closed:
		}
	}
}

// Close implements net.Conn: a graceful close (queued data, then FIN).
func (n *netConn) Close() error {
	n.once.Do(func() {
		close(n.closed)
		n.c.Close()
	})
	return nil
}

// CloseWait closes gracefully and waits until the peer has acknowledged
// every byte written (services.md §5.1, "closes once the data is
// acknowledged (at most 5 s)"). A reset, the peer's FIN while data was
// still unsent, or ctx ending first is an error: the data may not have
// arrived.
func (n *netConn) CloseWait(ctx context.Context) error {
	n.Close()
	c := n.c
	for {
		changed := c.stateChanged()
		c.mu.Lock()
		delivered := c.pendN == 0 && c.eng.Delivered()
		ended := c.finished || c.eng.State() == stream.StateClosed
		eos := c.endOfStreamLocked()
		c.mu.Unlock()
		switch {
		case delivered:
			return nil
		case ended:
			return &ConnError{Reason: eos.Reason, Detail: "closed before the data was acknowledged"}
		}
		select {
		case <-changed: // our FIN goes out once everything is acknowledged
		case <-c.done:
		case <-ctx.Done():
			return fmt.Errorf("data not acknowledged: %w", ctx.Err())
		}
	}
}

// LocalAddr implements net.Conn.
func (n *netConn) LocalAddr() net.Addr {
	return NetAddr{addr.SocketAddr{Addr: n.c.local, Port: n.c.key.local}}
}

// RemoteAddr implements net.Conn.
func (n *netConn) RemoteAddr() net.Addr {
	return NetAddr{addr.SocketAddr{Addr: n.c.remote, Port: n.c.key.rport}}
}

// SetDeadline implements net.Conn.
func (n *netConn) SetDeadline(t time.Time) error {
	n.rd.set(t)
	n.wd.set(t)
	return nil
}

// SetReadDeadline implements net.Conn.
func (n *netConn) SetReadDeadline(t time.Time) error { n.rd.set(t); return nil }

// SetWriteDeadline implements net.Conn.
func (n *netConn) SetWriteDeadline(t time.Time) error { n.wd.set(t); return nil }

// deadline is a resettable timer whose channel is closed when it expires.
type deadline struct {
	mu    sync.Mutex
	timer *time.Timer
	gen   uint64
	ch    chan struct{}
}

func newDeadline() *deadline { return &deadline{ch: make(chan struct{})} }

func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.gen++
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	select {
	case <-d.ch: // expired: a fresh channel for the new deadline
		d.ch = make(chan struct{})
	default:
	}
	if t.IsZero() {
		return
	}
	dur := time.Until(t)
	if dur <= 0 {
		close(d.ch)
		return
	}
	gen := d.gen
	d.timer = time.AfterFunc(dur, func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.gen == gen {
			close(d.ch)
			d.gen++
		}
	})
}

func (d *deadline) wait() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.ch
}

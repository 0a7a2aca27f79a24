package pilot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/pilot-go/pilot/internal/wire/ipcmsg"
)

// Flow control of tagged Sends (ipc.md §10.3, §11 rule 3): each Write is
// cut into chunks of sendChunk bytes and at most maxInflight of a
// connection's chunks await their OK at a time. The daemon delays an OK
// while the connection's untransmitted data exceeds its send buffer, so a
// full window slows this connection's writers and nothing else.
const (
	sendChunk   = 256 << 10
	maxInflight = 8
)

// Conn is a Pilot stream connection. It implements net.Conn; read and
// write deadlines are supported. Reads are served from a per-connection
// buffer filled by the client's reader.
type Conn struct {
	// set once
	c          *Client
	id         ipcmsg.ConnID
	local      *Addr
	remote     *Addr
	ownsClient bool // set before the Conn is returned by the package-level Dial
	readable   chan struct{}
	sent       chan struct{}
	closedCh   chan struct{}
	rd, wd     deadline

	mu       sync.Mutex
	buf      [][]byte
	eof      bool
	reason   *ipcmsg.ConnClosed
	closed   bool
	inflight int
	sendErr  error
}

// ClosedError is returned by Read when the daemon ended the stream for a
// reason other than a clean close by the peer (ipc.md §10.7).
type ClosedError struct {
	Reason uint8
	Detail string
}

func (e *ClosedError) Error() string {
	names := map[uint8]string{2: "reset by peer", 3: "timed out", 4: "idle or dead peer",
		5: "data lost", 6: "daemon shutting down", 7: "trust revoked", 255: "closed"}
	s := names[e.Reason]
	if s == "" {
		s = fmt.Sprintf("closed (reason %d)", e.Reason)
	}
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return "pilot: connection " + s
}

// newConn creates and registers a connection, taking any data that
// arrived before it (reader goroutine).
func (c *Client) newConn(id ipcmsg.ConnID, local, remote *Addr) *Conn {
	cn := &Conn{c: c, id: id, local: local, remote: remote,
		readable: make(chan struct{}, 1), sent: make(chan struct{}, 1), closedCh: make(chan struct{})}
	c.mu.Lock()
	c.conns[id] = cn
	c.takeExtraCloseOKLocked(id) // the ID is reused: its CloseOKs are this connection's
	if e := c.early[id]; e != nil {
		delete(c.early, id)
		cn.buf, cn.eof = e.data, e.eof
	}
	c.mu.Unlock()
	return cn
}

func (cn *Conn) deliver(data []byte) {
	cn.mu.Lock()
	cn.buf = append(cn.buf, data)
	cn.mu.Unlock()
	signal(cn.readable)
}

func (cn *Conn) setEOF() {
	cn.mu.Lock()
	cn.eof = true
	cn.mu.Unlock()
	signal(cn.readable)
	signal(cn.sent) // a Write waiting for OKs checks whether data was lost
}

// lostLocked is the error that ends a Write's wait for OKs once the stream
// ended in a way that discarded the untransmitted data (reset, timeout,
// shutdown, … — every reason but the peer's clean close, ipc.md §10.7),
// nil otherwise. After a clean close by the peer the daemon still
// transmits what it queued and answers every Send, so the wait goes on.
func (cn *Conn) lostLocked() error {
	if !cn.eof || cn.reason == nil || cn.reason.Reason == ipcmsg.ReasonPeerClosed {
		return nil
	}
	return &ClosedError{Reason: uint8(cn.reason.Reason), Detail: cn.reason.Detail}
}

func (cn *Conn) setReason(m ipcmsg.ConnClosed) {
	cn.mu.Lock()
	cn.reason = &m
	cn.mu.Unlock()
}

func (cn *Conn) opErr(op string, err error) error {
	if errors.Is(err, ErrClientClosed) {
		err = fmt.Errorf("%w (%v)", net.ErrClosed, err)
	}
	return opError(op, cn.local, cn.remote, err)
}

// Read reads buffered stream data. It returns io.EOF after the peer closed
// cleanly, a *ClosedError (wrapped) for other ends of stream, and an error
// wrapping os.ErrDeadlineExceeded when the read deadline passes.
func (cn *Conn) Read(p []byte) (int, error) {
	for {
		cn.mu.Lock()
		switch {
		case cn.closed:
			cn.mu.Unlock()
			return 0, cn.opErr("read", net.ErrClosed)
		case len(cn.buf) > 0:
			n := 0
			for n < len(p) && len(cn.buf) > 0 {
				k := copy(p[n:], cn.buf[0])
				n += k
				if k == len(cn.buf[0]) {
					cn.buf[0] = nil
					cn.buf = cn.buf[1:]
				} else {
					cn.buf[0] = cn.buf[0][k:]
				}
			}
			cn.mu.Unlock()
			return n, nil
		case cn.eof:
			reason := cn.reason
			cn.mu.Unlock()
			if reason == nil || reason.Reason == ipcmsg.ReasonPeerClosed {
				return 0, io.EOF
			}
			return 0, cn.opErr("read", &ClosedError{Reason: uint8(reason.Reason), Detail: reason.Detail})
		}
		cn.mu.Unlock()
		if len(p) == 0 {
			return 0, nil
		}
		if err := cn.rd.wait(cn.readable, cn.closedCh, cn.c.done, ErrClientClosed); err != nil {
			return 0, cn.opErr("read", err)
		}
	}
}

// Write sends p. In tagged mode it returns once the daemon has accepted
// every chunk (its OKs arrived); the write deadline bounds that wait, and a
// timeout reports the bytes already handed to the daemon. Against an
// original daemon it returns once p is written to the IPC socket.
func (cn *Conn) Write(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		chunk := p[n:min(len(p), n+sendChunk)]
		if err := cn.acquire(); err != nil {
			return n, cn.opErr("write", err)
		}
		if err := cn.sendChunk(chunk); err != nil {
			return n, cn.opErr("write", err)
		}
		n += len(chunk)
	}
	if cn.c.tagged {
		if err := cn.drain(); err != nil {
			return n, cn.opErr("write", err)
		}
	}
	return n, nil
}

// acquire waits for a free Send slot (tagged mode).
func (cn *Conn) acquire() error {
	for {
		cn.mu.Lock()
		switch {
		case cn.closed:
			cn.mu.Unlock()
			return net.ErrClosed
		case cn.sendErr != nil:
			err := cn.sendErr
			cn.mu.Unlock()
			return err
		case !cn.c.tagged || cn.inflight < maxInflight:
			if cn.c.tagged {
				cn.inflight++
			}
			cn.mu.Unlock()
			return nil
		}
		lost := cn.lostLocked()
		cn.mu.Unlock()
		if lost != nil {
			return lost
		}
		if err := cn.wd.wait(cn.sent, cn.closedCh, cn.c.done, ErrClientClosed); err != nil {
			return err
		}
	}
}

// drain waits until every Send of this connection is acknowledged. Like
// every wait of a net.Conn it ends when the connection is closed
// (net.ErrClosed, ipc.md §11 rule 4: Close waits for nothing, and neither
// does a Write it interrupts), when the client stops, when the deadline
// passes, on a failed Send, and when the stream ends with its data lost.
func (cn *Conn) drain() error {
	for {
		cn.mu.Lock()
		inflight, err, closed, lost := cn.inflight, cn.sendErr, cn.closed, cn.lostLocked()
		cn.mu.Unlock()
		switch {
		case err != nil:
			return err
		case inflight == 0:
			return nil
		case closed:
			return net.ErrClosed
		case lost != nil:
			return lost
		}
		if err := cn.wd.wait(cn.sent, cn.closedCh, cn.c.done, ErrClientClosed); err != nil {
			return err
		}
	}
}

func (cn *Conn) sendChunk(chunk []byte) error {
	m := ipcmsg.Send{Conn: cn.id, Data: chunk}
	if !cn.c.tagged {
		return cn.c.write(m)
	}
	_, err := cn.c.start(m, ipcmsg.CmdOK, func(r ipcmsg.Reply, _ bool) {
		cn.mu.Lock()
		cn.inflight--
		if e, ok := r.(ipcmsg.Error); ok && cn.sendErr == nil {
			cn.sendErr = daemonError(e)
		}
		cn.mu.Unlock()
		signal(cn.sent)
	})
	if err != nil {
		cn.mu.Lock()
		cn.inflight--
		cn.mu.Unlock()
	}
	return err
}

// Close sends Close to the daemon and returns without waiting (ipc.md
// §11 rule 4). Buffered unread data is discarded.
func (cn *Conn) Close() error {
	if !cn.close(false) {
		return cn.opErr("close", net.ErrClosed)
	}
	if cn.ownsClient {
		cn.c.Close()
	}
	return nil
}

// close marks the connection closed and sends Close (from a new goroutine
// when called on the reader). It returns false if it was already closed.
func (cn *Conn) close(async bool) bool {
	cn.mu.Lock()
	if cn.closed {
		cn.mu.Unlock()
		return false
	}
	cn.closed = true
	cn.buf = nil
	cn.mu.Unlock()
	close(cn.closedCh)
	c := cn.c
	c.mu.Lock()
	if c.conns[cn.id] == cn {
		delete(c.conns, cn.id)
	}
	c.closing[cn.id] = struct{}{}
	c.mu.Unlock()
	send := func() {
		m := ipcmsg.Close{Conn: cn.id}
		if !c.tagged {
			c.write(m)
			return
		}
		c.start(m, ipcmsg.CmdCloseOK, func(ipcmsg.Reply, bool) {
			c.mu.Lock()
			delete(c.closing, cn.id)
			c.mu.Unlock()
		})
	}
	if async {
		c.wg.Go(send)
	} else {
		send()
	}
	return true
}

// SetNoDelay switches Nagle's algorithm off (true, the default) or on
// (false) for this connection (ConnOpt, ipc.md §10.8). An original daemon
// does not support it.
func (cn *Conn) SetNoDelay(noDelay bool) error {
	if cn.c.legacy {
		return opError("set", cn.local, cn.remote, errors.New("pilot: SetNoDelay needs a daemon with conn-opt"))
	}
	v := byte(1)
	if noDelay {
		v = 0
	}
	ctx, cancel := context.WithTimeout(context.Background(), unbindTimeout)
	defer cancel()
	_, err := cn.c.roundTrip(ctx, ipcmsg.ConnOpt{Conn: cn.id, Option: ipcmsg.OptNagle, Value: []byte{v}}, ipcmsg.CmdConnOptOK)
	return opError("set", cn.local, cn.remote, err)
}

// LocalAddr returns our address and port (port 0 for dialed connections:
// the daemon does not report the local port).
func (cn *Conn) LocalAddr() net.Addr { return cn.local }

// RemoteAddr returns the peer's address and port.
func (cn *Conn) RemoteAddr() net.Addr { return cn.remote }

// SetDeadline sets both the read and the write deadline.
func (cn *Conn) SetDeadline(t time.Time) error {
	cn.rd.set(t)
	cn.wd.set(t)
	return nil
}

// SetReadDeadline bounds Read; a zero time removes the bound.
func (cn *Conn) SetReadDeadline(t time.Time) error { cn.rd.set(t); return nil }

// SetWriteDeadline bounds the wait for the daemon's acceptance of written
// data; a zero time removes the bound.
func (cn *Conn) SetWriteDeadline(t time.Time) error { cn.wd.set(t); return nil }

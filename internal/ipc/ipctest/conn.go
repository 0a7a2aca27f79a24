package ipctest

import (
	"sync"

	"github.com/pilot-go/pilot/internal/ipc"
	"github.com/pilot-go/pilot/internal/wire/ipcmsg"
)

// Conn is one end of a looped-back connection. Data sent on one end is
// readable at the other at once (nothing is ever untransmitted unless Hold
// is used); Close on one end ends the other's receive side with reason 0.
type Conn struct {
	b    *Backend
	id   ipcmsg.ConnID
	sink ipc.Sink
	peer *Conn // set before the conn is handed out

	mu     sync.Mutex
	buf    []byte
	eos    *ipc.EndOfStream
	closed bool
	nagle  bool
	unsent int // bytes held by Hold
}

// ID implements ipc.Conn.
func (c *Conn) ID() ipcmsg.ConnID { return c.id }

// Read implements ipc.Conn.
func (c *Conn) Read(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.buf) > 0 {
		n := copy(p, c.buf)
		c.buf = c.buf[n:]
		return n, nil
	}
	if c.eos != nil {
		return 0, c.eos
	}
	return 0, nil
}

// Send implements ipc.Conn.
func (c *Conn) Send(data []byte) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ipc.Errorf(ipcmsg.CodeFailedPrecondition, "send: connection closed")
	}
	c.mu.Unlock()
	if c.peer != nil {
		c.peer.Inject(data)
	}
	return nil
}

// Unsent implements ipc.Conn.
func (c *Conn) Unsent() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.unsent
}

// Hold sets the untransmitted byte count Unsent reports; Hold(0) also
// signals Writable. Tests use it to exercise send budgets.
func (c *Conn) Hold(n int) {
	c.mu.Lock()
	c.unsent = n
	c.mu.Unlock()
	if n == 0 {
		c.sink.Writable(c.id)
	}
}

// SetNagle implements ipc.Conn.
func (c *Conn) SetNagle(on bool) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nagle = on
	return on
}

// Close implements ipc.Conn: the peer's receive side ends cleanly.
func (c *Conn) Close() {
	c.mu.Lock()
	already := c.closed
	c.closed = true
	c.mu.Unlock()
	if already {
		return
	}
	c.b.mu.Lock()
	c.b.closed = append(c.b.closed, c.id)
	c.b.notifyLocked()
	c.b.mu.Unlock()
	if c.peer != nil {
		c.peer.End(ipcmsg.ReasonPeerClosed, "")
	}
}

// Inject appends data to this end's receive buffer, as if the peer had
// sent it, and notifies the owner.
func (c *Conn) Inject(data []byte) {
	c.mu.Lock()
	if c.eos != nil {
		c.mu.Unlock()
		return
	}
	c.buf = append(c.buf, data...)
	c.mu.Unlock()
	c.sink.Readable(c.id)
}

// End ends this end's receive side with reason and detail.
func (c *Conn) End(reason ipcmsg.CloseReason, detail string) {
	c.mu.Lock()
	if c.eos == nil {
		c.eos = &ipc.EndOfStream{Reason: reason, Detail: detail}
	}
	c.mu.Unlock()
	c.sink.Readable(c.id)
}

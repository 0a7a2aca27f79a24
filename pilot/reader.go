package pilot

import (
	"bufio"
	"errors"
	"fmt"
	"slices"

	"github.com/pilot-go/pilot/internal/wire/ipcmsg"
)

// readLoop is the only reader of the daemon socket. It never blocks on a
// consumer: data goes to per-connection buffers, so a slow reader of one
// connection never delays the others (ipc.md §11 rule 3).
func (c *Client) readLoop() {
	br := bufio.NewReaderSize(c.rw, 64<<10)
	for {
		msg, err := ipcmsg.ReadFrameBuffered(br)
		if err != nil {
			c.fail(fmt.Errorf("%w: daemon connection: %v", ErrClientClosed, err))
			return
		}
		if len(msg) == 0 {
			continue
		}
		r, err := ipcmsg.DecodeReply(msg)
		if err != nil {
			var te *ipcmsg.TaggedError
			if errors.As(err, &te) {
				c.route(ipcmsg.TaggedReply{Tag: te.Tag, Inner: ipcmsg.Error{Code: ipcmsg.CodeInternal, Text: "bad reply: " + err.Error()}})
			}
			continue
		}
		c.route(r)
	}
}

func (c *Client) route(r ipcmsg.Reply) {
	switch m := r.(type) {
	case ipcmsg.TaggedReply:
		c.mu.Lock()
		cl := c.pending[m.Tag]
		delete(c.pending, m.Tag)
		c.mu.Unlock()
		if cl != nil {
			c.complete(cl, m.Inner)
		}
	case ipcmsg.Accept:
		c.onAccept(m)
	case ipcmsg.Recv:
		c.onRecv(m)
	case ipcmsg.RecvFrom:
		c.mu.Lock()
		pc := c.packets[m.DstPort]
		c.mu.Unlock()
		if pc != nil {
			pc.deliver(m)
		}
	case ipcmsg.ConnClosed:
		c.mu.Lock()
		cn := c.conns[m.Conn]
		c.mu.Unlock()
		if cn != nil {
			cn.setReason(m)
		}
	case ipcmsg.CloseOK:
		c.onCloseOK(m.Conn)
	default:
		c.completeLegacy(r)
	}
}

// completeLegacy matches a legacy reply to the first call expecting its
// command byte; an Error goes to the oldest call (as the original driver).
func (c *Client) completeLegacy(r ipcmsg.Reply) {
	c.mu.Lock()
	idx := -1
	for i, cl := range c.fifo {
		if r.Cmd() == ipcmsg.CmdError || cl.expect == r.Cmd() {
			idx = i
			break
		}
	}
	if idx < 0 {
		c.mu.Unlock()
		return // e.g. the Error of a failed legacy Send: nobody waits
	}
	cl := c.fifo[idx]
	c.fifo = append(c.fifo[:idx], c.fifo[idx+1:]...)
	c.mu.Unlock()
	c.complete(cl, r)
}

func (c *Client) onRecv(m ipcmsg.Recv) {
	c.mu.Lock()
	cn := c.conns[m.Conn]
	if cn == nil {
		if _, closing := c.closing[m.Conn]; !closing {
			c.earlyLocked(m.Conn).data = append(c.earlyLocked(m.Conn).data, m.Data)
		}
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	cn.deliver(m.Data)
}

// earlyLocked returns the early buffer of id, creating it (the oldest
// unknown IDs are forgotten beyond maxEarlyConns).
func (c *Client) earlyLocked(id ipcmsg.ConnID) *earlyData {
	e := c.early[id]
	if e == nil {
		if len(c.early) >= maxEarlyConns {
			for k := range c.early {
				delete(c.early, k)
				break
			}
		}
		e = &earlyData{}
		c.early[id] = e
	}
	return e
}

// onCloseOK is end of stream for a live connection, or the answer to our
// own Close for one we closed (untagged only in legacy mode). In legacy
// mode the original daemon sends a second, unsolicited CloseOK for a
// connection we closed (ipc.md §5.6): it is absorbed, never buffered as
// the early end of stream of a connection not yet announced.
func (c *Client) onCloseOK(id ipcmsg.ConnID) {
	c.mu.Lock()
	if _, ok := c.closing[id]; ok {
		delete(c.closing, id)
		if c.legacy {
			c.expectExtraCloseOKLocked(id)
		}
		c.mu.Unlock()
		return
	}
	cn := c.conns[id]
	if cn == nil {
		if !c.takeExtraCloseOKLocked(id) {
			c.earlyLocked(id).eof = true
		}
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	cn.setEOF()
}

// onAccept routes an inbound connection by its local port; with no
// listener there (for example a PacketConn's port) it is closed.
func (c *Client) onAccept(m ipcmsg.Accept) {
	c.mu.Lock()
	l := c.listeners[m.LocalPort]
	c.mu.Unlock()
	local := &Addr{Addr: c.local, Port: m.LocalPort}
	remote := &Addr{Addr: m.Remote, Port: m.RemotePort}
	cn := c.newConn(m.Conn, local, remote)
	if l == nil || !l.enqueue(cn) {
		cn.close(true)
	}
}

// expectExtraCloseOKLocked records that one more CloseOK for id may come
// (legacy mode), forgetting the oldest record beyond maxClosedExtra.
func (c *Client) expectExtraCloseOKLocked(id ipcmsg.ConnID) {
	c.takeExtraCloseOKLocked(id)
	if len(c.closedExtra) >= maxClosedExtra {
		c.closedExtra = slices.Delete(c.closedExtra, 0, 1)
	}
	c.closedExtra = append(c.closedExtra, id)
}

// takeExtraCloseOKLocked removes id's record and reports whether there was
// one: a CloseOK for id is then the original daemon's extra one.
func (c *Client) takeExtraCloseOKLocked(id ipcmsg.ConnID) bool {
	i := slices.Index(c.closedExtra, id)
	if i < 0 {
		return false
	}
	c.closedExtra = slices.Delete(c.closedExtra, i, i+1)
	return true
}

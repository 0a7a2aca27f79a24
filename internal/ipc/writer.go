package ipc

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/pilot-go/pilot/internal/wire/ipcmsg"
)

// recvHeader is u32 length ‖ 07 ‖ u32 conn ID.
const recvHeader = ipcmsg.FrameHeaderLen + 1 + 4

var errCloseAfter = errors.New("closing after final error")

// writeLoop is the client's only writer (ipc.md §3.3). Each round it writes
// the legacy replies whose turn has come, the tagged replies, the
// unsolicited Accept and RecvFrom messages, and then at most one Recv chunk
// (≤ 64 KiB) per readable connection, round-robin. A client that stops
// reading blocks only this goroutine.
func (c *client) writeLoop() error {
	bw := bufio.NewWriterSize(c.rw, 64<<10)
	buf := make([]byte, recvHeader+ipcmsg.MaxRecvData)
	var frame []byte
	var batch []outMsg
	var ring []*connEntry
	for {
		batch, ring = c.collect(batch[:0], ring[:0])
		if len(batch) == 0 && len(ring) == 0 {
			if err := bw.Flush(); err != nil {
				return err
			}
			c.releaseFlushWaits()
			select {
			case <-c.wake:
				continue
			case <-c.ctx.Done():
				return nil
			}
		}
		for i, o := range batch {
			frame = c.appendCapped(frame[:0], o.msg)
			if _, err := bw.Write(frame); err != nil {
				return err
			}
			if o.after != nil {
				c.mu.Lock()
				o.after()
				c.mu.Unlock()
			}
			batch[i] = outMsg{}
			if o.closeAfter {
				bw.Flush()
				return errCloseAfter
			}
		}
		for i, e := range ring {
			if err := c.serveConn(bw, e, buf); err != nil {
				return err
			}
			ring[i] = nil
		}
	}
}

// releaseFlushWaits runs after an empty collect and a successful Flush. It
// closes the flushed channels if nothing is queued now: everything queued
// before they were requested was then taken by an earlier collect, and so
// written and flushed.
func (c *client) releaseFlushWaits() {
	c.mu.Lock()
	var ws []chan struct{}
	if len(c.flushWaits) > 0 && c.idleLocked() {
		ws = c.flushWaits
		c.flushWaits = nil
	}
	c.mu.Unlock()
	for _, w := range ws {
		close(w)
	}
}

// appendCapped appends the frame of m, or, when m would exceed MaxMessage
// (a daemon bug: JSON replies are kept under the cap, ipc.md §2), never m:
// a reply is replaced by an Error (code internal) in its place, inside the
// same TaggedReply when tagged, so the client gets its one answer and the
// stream stays in sync; an unsolicited message has no request to answer
// and is dropped. Either way the connection stays usable.
func (c *client) appendCapped(frame []byte, m ipcmsg.Message) []byte {
	start := len(frame)
	frame = ipcmsg.AppendFrame(frame, m)
	n := len(frame) - start - ipcmsg.FrameHeaderLen
	if n <= ipcmsg.MaxMessage {
		return frame
	}
	frame = frame[:start]
	inner, tag, tagged := m, ipcmsg.Tag(0), false
	if tr, ok := m.(ipcmsg.TaggedReply); ok && tr.Inner != nil {
		inner, tag, tagged = tr.Inner, tr.Tag, true
	}
	c.s.log.Error("ipc message over the 1 MiB limit not sent", "cmd", inner.Cmd().String(), "bytes", n)
	switch inner.Cmd() {
	case ipcmsg.CmdAccept, ipcmsg.CmdRecv, ipcmsg.CmdRecvFrom, ipcmsg.CmdConnClosed:
		return frame
	}
	rep := oversizedReply(inner.Cmd(), n)
	if tagged {
		return ipcmsg.AppendFrame(frame, ipcmsg.TaggedReply{Tag: tag, Inner: rep})
	}
	return ipcmsg.AppendFrame(frame, rep)
}

// oversizedReply is the Error sent in place of a reply over MaxMessage.
func oversizedReply(cmd ipcmsg.Cmd, n int) ipcmsg.Error {
	return ipcmsg.Error{Code: ipcmsg.CodeInternal, Text: fmt.Sprintf(
		"reply exceeded the 1 MiB IPC limit and was not sent (%s, %d bytes, max %d)", cmd, n, ipcmsg.MaxMessage)}
}

// collect takes the messages that may be written now and the connections
// to read, in priority order.
func (c *client) collect(batch []outMsg, ring []*connEntry) ([]outMsg, []*connEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	popped := false
	for len(c.slots) > 0 && c.slots[0].done {
		if c.slots[0].out.msg != nil {
			batch = append(batch, c.slots[0].out)
		} else {
			c.emptySlots-- // every done slot without a message was counted by fillSlot
		}
		c.slots[0] = nil
		c.slots = c.slots[1:]
		popped = true
	}
	if popped {
		signal(c.readerWake)
	}
	batch = append(batch, c.tagReplies...)
	clear(c.tagReplies)
	c.tagReplies = c.tagReplies[:0]
	batch = append(batch, c.unsolicited...)
	clear(c.unsolicited)
	c.unsolicited = c.unsolicited[:0]
	c.datagrams = 0
	for _, e := range c.ring {
		e.queued = false
	}
	ring = append(ring, c.ring...)
	clear(c.ring)
	c.ring = c.ring[:0]
	return batch, ring
}

// serveConn reads one chunk of e's data and writes it as Recv, or, at the
// end of stream, sends the unsolicited ConnClosed and CloseOK (ipc.md §3.2,
// §5.6, §10.7). Data after the owner's Close is discarded.
func (c *client) serveConn(bw *bufio.Writer, e *connEntry, buf []byte) error {
	n, err := e.conn.Read(buf[recvHeader:])
	c.mu.Lock()
	ownerClosed := e.ownerClosed
	if n > 0 {
		c.queueLocked(e) // read again until it reports no data
		c.mu.Unlock()
		if ownerClosed {
			return nil
		}
		binary.BigEndian.PutUint32(buf, uint32(1+4+n))
		buf[4] = byte(ipcmsg.CmdRecv)
		binary.BigEndian.PutUint32(buf[5:], uint32(e.id))
		_, werr := bw.Write(buf[:recvHeader+n])
		return werr
	}
	if err == nil || e.ended {
		c.mu.Unlock()
		return nil
	}
	var eos *EndOfStream
	if !errors.As(err, &eos) {
		eos = &EndOfStream{Reason: ipcmsg.ReasonOther, Detail: err.Error()}
	}
	e.ended = true
	forget := ownerClosed && e.closeRan // else the Close, still queued, forgets it
	if forget {
		c.forgetLocked(e)
	}
	c.wakeWritersLocked()
	c.mu.Unlock()
	if forget {
		c.s.forgetConn(e)
	}
	if ownerClosed {
		return nil
	}
	var frame []byte
	if c.closeReason.Load() {
		frame = ipcmsg.AppendFrame(frame, ipcmsg.ConnClosed{Conn: e.id, Reason: eos.Reason, Detail: eos.Detail})
	}
	frame = ipcmsg.AppendFrame(frame, ipcmsg.CloseOK{Conn: e.id})
	_, werr := bw.Write(frame)
	return werr
}

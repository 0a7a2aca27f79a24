package ipc

import (
	"bytes"
	"errors"

	"github.com/pilot-go/pilot/internal/wire/ipcmsg"
)

// Framework-generated errors that do not depend on the request.
var (
	errNotTagged      = ipcmsg.Error{Code: ipcmsg.CodeFailedPrecondition, Text: "tagged mode not negotiated"}
	errHelloTwice     = ipcmsg.Error{Code: ipcmsg.CodeFailedPrecondition, Text: "hello already received"}
	errDuplicateTag   = ipcmsg.Error{Code: ipcmsg.CodeInvalidArgument, Text: "duplicate tag"}
	errTooManyPending = ipcmsg.Error{Code: ipcmsg.CodeResourceExhausted, Text: "too many outstanding requests"}
)

// serialKey names what requests must not overtake each other on (ipc.md
// §3.1 rule 2, §10.3): a connection ID or a port.
type serialKey struct {
	port bool
	id   uint32
}

func serialKeyOf(req ipcmsg.Request) (serialKey, bool) {
	switch r := req.(type) {
	case ipcmsg.Send:
		return serialKey{id: uint32(r.Conn)}, true
	case ipcmsg.Close:
		return serialKey{id: uint32(r.Conn)}, true
	case ipcmsg.ConnOpt:
		return serialKey{id: uint32(r.Conn)}, true
	case ipcmsg.Bind:
		return serialKey{port: true, id: uint32(r.Port)}, r.Port != 0
	case ipcmsg.Unbind:
		return serialKey{port: true, id: uint32(r.Port)}, true
	}
	return serialKey{}, false
}

// chain appends a request to key's serialisation chain: it must wait for
// prev (nil when first) and call done when finished.
func (c *client) chain(key serialKey) (prev <-chan struct{}, done func()) {
	ch := make(chan struct{})
	c.mu.Lock()
	if p, ok := c.keyed[key]; ok {
		prev = p
	}
	c.keyed[key] = ch
	c.mu.Unlock()
	return prev, func() {
		close(ch)
		c.mu.Lock()
		if c.keyed[key] == ch {
			delete(c.keyed, key)
		}
		c.mu.Unlock()
	}
}

// handle decodes one request and starts it. It runs on readLoop, so the
// order of slots and chains is the arrival order. borrowed means msg is
// readLoop's reusable buffer (a Send): nothing may keep it past the call.
func (c *client) handle(msg []byte, borrowed bool) {
	req, err := ipcmsg.DecodeRequest(msg)
	if err != nil {
		var te *ipcmsg.TaggedError
		if !errors.As(err, &te) {
			c.pushSlot(outMsg{msg: errorReply(err)})
			return
		}
		if !c.tagged.Load() {
			c.pushSlot(outMsg{msg: errNotTagged})
			return
		}
		if c.admitTag(te.Tag) {
			c.pushTagged(te.Tag, te.Reply().Inner, nil, true)
		}
		return
	}
	switch r := req.(type) {
	case ipcmsg.Hello:
		c.pushSlot(outMsg{msg: c.helloReply(r)})
	case ipcmsg.Tagged:
		if !c.tagged.Load() {
			c.pushSlot(outMsg{msg: errNotTagged})
			return
		}
		if c.admitTag(r.Tag) {
			tag := r.Tag
			c.dispatch(r.Inner, &tag, borrowed)
		}
	default:
		c.dispatch(req, nil, borrowed)
	}
}

// admitTag registers a new outstanding tag, or answers at once with the
// duplicate-tag or too-many-outstanding Error (ipc.md §10.3).
func (c *client) admitTag(tag ipcmsg.Tag) bool {
	c.mu.Lock()
	_, dup := c.tags[tag]
	full := len(c.tags) >= c.s.cfg.MaxOutstanding
	if !dup && !full && tag != 0 {
		c.tags[tag] = struct{}{}
	}
	c.mu.Unlock()
	switch {
	case dup || tag == 0:
		c.pushTagged(tag, errDuplicateTag, nil, false)
	case full:
		c.pushTagged(tag, errTooManyPending, nil, false)
	default:
		return true
	}
	return false
}

// helloReply negotiates features (ipc.md §10.2).
func (c *client) helloReply(h ipcmsg.Hello) ipcmsg.Reply {
	if c.hello {
		return errHelloTwice
	}
	c.hello = true
	c.tagged.Store(h.Has(ipcmsg.FeatureTagged))
	c.dgramBind.Store(h.Has(ipcmsg.FeatureDatagramBind))
	c.closeReason.Store(h.Has(ipcmsg.FeatureCloseReason))
	node, a := c.s.backend.Identity()
	body, err := ipcmsg.EncodeJSON(ipcmsg.HelloReply{
		Daemon: ipcmsg.DaemonName, Version: c.s.cfg.Version, IPCVersion: ipcmsg.IPCVersion,
		NodeID: node, Address: a, MaxMessage: ipcmsg.MaxMessage, Features: ipcmsg.DaemonFeatures(),
	})
	if err != nil {
		return errorReply(err)
	}
	return ipcmsg.HelloOK{Body: body}
}

// dispatch starts one request on its own executor goroutine. Legacy
// requests get a reply slot now, in arrival order; tagged ones reply when
// done. Requests on the same connection or port run in arrival order.
// borrowed means req's bytes are readLoop's reusable buffer (only Sends
// are read into it): a Send that cannot run inline is copied first.
func (c *client) dispatch(req ipcmsg.Request, tag *ipcmsg.Tag, borrowed bool) {
	if r, ok := req.(ipcmsg.Close); ok {
		c.noteOwnerClose(r.Conn)
	}
	if r, ok := req.(ipcmsg.Send); ok {
		if c.sendInline(r, tag) {
			return
		}
		if borrowed {
			r.Data = bytes.Clone(r.Data)
			req = r
		}
	}
	var prev <-chan struct{}
	var done func()
	if key, ok := serialKeyOf(req); ok {
		prev, done = c.chain(key)
	}
	var sl *slot
	if tag == nil {
		sl = c.newSlot()
	}
	sendBytes := 0
	if s, ok := req.(ipcmsg.Send); ok {
		sendBytes = len(s.Data)
		c.mu.Lock()
		c.sendPending += sendBytes
		c.mu.Unlock()
	}
	c.execWG.Go(func() {
		if prev != nil {
			select {
			case <-prev:
			case <-c.ctx.Done():
			}
		}
		var reply ipcmsg.Reply
		var after func()
		if c.ctx.Err() == nil {
			reply, after = c.execute(req, tag != nil)
		} else {
			reply = errorReply(errClientGone)
		}
		if sendBytes > 0 {
			c.mu.Lock()
			c.sendPending -= sendBytes
			c.mu.Unlock()
			signal(c.readerWake)
		}
		if tag != nil {
			if reply == nil {
				reply = ipcmsg.OK{}
			}
			c.pushTagged(*tag, reply, after, true)
		} else {
			o := outMsg{after: after}
			if reply != nil {
				o.msg = reply
			}
			c.fillSlot(sl, o)
		}
		if done != nil {
			done()
		}
	})
}

// sendInline runs a Send on readLoop, sparing an executor goroutine, a
// chain channel and a wake-up per message, when it cannot wait: nothing
// earlier on its connection is still executing and, tagged, the data fits
// under SendBuffer so the reply is due at once (send's wait loop would not
// run). It reports false when the Send must be dispatched as usual.
func (c *client) sendInline(r ipcmsg.Send, tag *ipcmsg.Tag) bool {
	if len(r.Data) == 0 || c.ctx.Err() != nil {
		return false
	}
	key, _ := serialKeyOf(r)
	c.mu.Lock()
	_, busy := c.keyed[key]
	e := c.conns[r.Conn]
	c.mu.Unlock()
	if busy || e == nil {
		return false
	}
	if tag != nil && e.conn.Unsent()+len(r.Data) >= c.s.cfg.SendBuffer {
		return false
	}
	reply := orNil(e.conn.Send(r.Data))
	if tag != nil {
		if reply == nil {
			reply = ipcmsg.OK{}
		}
		c.pushTagged(*tag, reply, nil, true)
		return true
	}
	o := outMsg{}
	if reply != nil {
		o.msg = reply
	}
	c.pushSlot(o)
	return true
}

// noteOwnerClose marks c's own connection id as closed by its owner when
// the Close arrives, on readLoop, not when it runs: a Close waits behind
// the earlier requests on its connection (a tagged Send can wait seconds
// for buffer space), and an end of stream in between must not produce an
// unsolicited CloseOK on top of the Close's reply (ipc.md §5.6: after the
// owner has sent Close, no unsolicited CloseOK is sent for it).
func (c *client) noteOwnerClose(id ipcmsg.ConnID) {
	c.mu.Lock()
	if e := c.conns[id]; e != nil {
		e.ownerClosed = true
	}
	c.mu.Unlock()
}

package ipc

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/rawsock"
	"github.com/pilot-go/pilot/internal/wire/ipcmsg"
)

// client is one connection on the IPC socket. Goroutines: readLoop (the
// only reader of nc), writeLoop (the only writer of nc) and one executor per
// request; run waits for all of them, then releases what the client owned.
type client struct {
	// set once in newClient
	s      *Server
	nc     *net.UnixConn
	rw     io.ReadWriter   // nc, read and written with raw system calls where the platform has them (rawsock)
	ctx    context.Context // cancelled when the client goes away
	cancel context.CancelFunc
	wake   chan struct{} // cap 1: work for writeLoop
	execWG sync.WaitGroup

	// owned by readLoop
	hello bool

	// features negotiated by Hello (written by readLoop, read anywhere)
	tagged, dgramBind, closeReason atomic.Bool

	mu          sync.Mutex // guards the fields below; never held while calling the Backend or a Conn
	closed      bool
	slots       []*slot      // legacy replies in request order
	emptySlots  int          // slots done with nothing to write (not counted by the cap)
	tagReplies  []outMsg     // completed tagged replies
	unsolicited []outMsg     // Accept and RecvFrom
	datagrams   int          // RecvFrom messages in unsolicited
	ring        []*connEntry // announced connections to Read
	conns       map[ipcmsg.ConnID]*connEntry
	bound       map[addr.Port]struct{}
	dgramPort   addr.Port
	tags        map[ipcmsg.Tag]struct{}     // outstanding tagged requests
	keyed       map[serialKey]chan struct{} // tail of each serialisation chain
	writable    chan struct{}               // closed and replaced on every Writable
	readerWake  chan struct{}               // cap 1: the reader may proceed
	sendPending int                         // Send bytes read but not yet executed
	flushWaits  []chan struct{}             // closed by writeLoop once idle with all output written (flushed)
}

// slot is the position of one legacy request's reply.
type slot struct {
	done bool
	out  outMsg // msg nil once done: nothing to write (counted in emptySlots)
}

// maxSlotsFactor × MaxOutstanding bounds a client's slots, counted or not:
// empty slots cost memory only, but not without limit.
const maxSlotsFactor = 64

// outMsg is a message for the writer; after runs under c.mu once it has
// been handed to the socket buffer; closeAfter closes the client after it.
type outMsg struct {
	msg        ipcmsg.Message
	after      func()
	closeAfter bool
}

// connEntry is a connection owned by a client; its flags are guarded by
// the owner's mu.
type connEntry struct {
	conn        Conn
	id          ipcmsg.ConnID
	owner       *client
	announced   bool // DialOK or Accept written: Recv may follow
	queued      bool // in owner.ring
	ownerClosed bool // the owner sent Close (set on arrival): no Recv, no unsolicited CloseOK
	closeRan    bool // the owner's Close ran: forgotten once ended too
	ended       bool // Read reported the end of stream
}

func newClient(s *Server, nc *net.UnixConn) *client {
	ctx, cancel := context.WithCancel(s.ctx)
	return &client{
		s: s, nc: nc, rw: rawsock.ReadWriter(nc), ctx: ctx, cancel: cancel,
		wake:       make(chan struct{}, 1),
		conns:      make(map[ipcmsg.ConnID]*connEntry),
		bound:      make(map[addr.Port]struct{}),
		tags:       make(map[ipcmsg.Tag]struct{}),
		keyed:      make(map[serialKey]chan struct{}),
		writable:   make(chan struct{}),
		readerWake: make(chan struct{}, 1),
	}
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

func (c *client) run() {
	defer c.s.wg.Done()
	var loops sync.WaitGroup
	loops.Go(func() {
		if drain := c.readLoop(); !drain {
			c.stop()
		}
	})
	loops.Go(func() {
		if err := c.writeLoop(); err != nil && err != errCloseAfter && c.ctx.Err() == nil {
			c.s.log.Debug("ipc client write failed", "err", err)
		}
		c.stop()
	})
	loops.Wait()
	c.execWG.Wait()
	c.cleanup()
}

func (c *client) stop() {
	c.cancel()
	c.nc.Close()
}

// readLoop reads and dispatches frames until the client goes away. It
// returns true when it stopped on an oversized frame whose Error the writer
// must still send before closing (ipc.md §2).
func (c *client) readLoop() (drain bool) {
	br := bufio.NewReaderSize(c.rw, 64<<10)
	// Sends are read into scratch: the inline path (sendInline) hands the
	// data to the stream engine, which copies it, and any other path
	// copies it first (dispatch), so one buffer serves them all.
	scratch := make([]byte, 0, scratchFrame)
	for {
		if !c.waitReadable() {
			return false
		}
		msg, borrowed, err := ipcmsg.ReadFrameReusing(br, scratch)
		var tooLarge *ipcmsg.FrameTooLargeError
		if errors.As(err, &tooLarge) {
			c.pushSlot(outMsg{msg: tooLarge.Reply(), closeAfter: true})
			return true
		}
		if err != nil {
			return false
		}
		if len(msg) == 0 {
			continue // length 0 is ignored
		}
		c.handle(msg, borrowed)
	}
}

// scratchFrame bounds the Send frames readLoop reads into its reusable
// buffer: the SDK's 256 KiB chunks (ipc.md §11) with their headers.
const scratchFrame = 256<<10 + 64

// waitReadable blocks while the client exceeds its unsent-data budget or
// its unanswered legacy requests (ipc.md §3.1 rule 4). It returns false
// when the client is going away.
func (c *client) waitReadable() bool {
	for {
		c.mu.Lock()
		// Only replies still to come or to write count against
		// MaxOutstanding: a successful Send writes nothing, so it must
		// not stop the reader behind one slow request (ipc.md §3.1 rules
		// 1, 4 and 5).
		over := len(c.slots)-c.emptySlots >= c.s.cfg.MaxOutstanding ||
			len(c.slots) >= maxSlotsFactor*c.s.cfg.MaxOutstanding
		pending := c.sendPending
		var conns []Conn
		if !over && pending < c.s.cfg.SendBudget {
			conns = make([]Conn, 0, len(c.conns))
			for _, e := range c.conns {
				conns = append(conns, e.conn)
			}
		}
		ch := c.writable
		c.mu.Unlock()
		if !over {
			total := pending
			for _, cn := range conns {
				total += cn.Unsent()
			}
			over = total >= c.s.cfg.SendBudget
		}
		if !over {
			return true
		}
		select {
		case <-ch:
		case <-c.readerWake:
		case <-c.ctx.Done():
			return false
		}
	}
}

// pushSlot appends an already completed legacy reply. A request that
// completed with nothing to write (a successful inline Send) takes no slot:
// it has no position to keep among the replies (ipc.md §3.1 rule 3).
func (c *client) pushSlot(o outMsg) {
	if o.msg == nil {
		return
	}
	c.mu.Lock()
	c.slots = append(c.slots, &slot{done: true, out: o})
	c.mu.Unlock()
	signal(c.wake)
}

// newSlot reserves the position of a legacy reply.
func (c *client) newSlot() *slot {
	sl := &slot{}
	c.mu.Lock()
	c.slots = append(c.slots, sl)
	c.mu.Unlock()
	return sl
}

// fillSlot completes sl. With nothing to write (o.msg nil: a successful
// Send) it stops counting against MaxOutstanding at once, so the reader,
// if it waits for that, may go on.
func (c *client) fillSlot(sl *slot, o outMsg) {
	c.mu.Lock()
	sl.done, sl.out = true, o
	empty := o.msg == nil
	if empty {
		c.emptySlots++
	}
	c.mu.Unlock()
	signal(c.wake)
	if empty {
		signal(c.readerWake)
	}
}

func (c *client) pushTagged(tag ipcmsg.Tag, reply ipcmsg.Reply, after func(), release bool) {
	c.mu.Lock()
	if release {
		delete(c.tags, tag)
	}
	c.tagReplies = append(c.tagReplies, outMsg{msg: ipcmsg.TaggedReply{Tag: tag, Inner: reply}, after: after})
	c.mu.Unlock()
	signal(c.wake)
}

// register records a connection owned by c. It returns nil when c is gone.
func (c *client) register(conn Conn) *connEntry {
	e := &connEntry{conn: conn, id: conn.ID(), owner: c}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.conns[e.id] = e
	c.mu.Unlock()
	c.s.mu.Lock()
	c.s.conns[e.id] = e
	c.s.mu.Unlock()
	return e
}

// announceLocked runs once DialOK or Accept is in the socket buffer: the
// connection's data may now be sent (ipc.md §3.2).
func (c *client) announceLocked(e *connEntry) {
	e.announced = true
	c.queueLocked(e)
}

func (c *client) queueLocked(e *connEntry) {
	if e.announced && !e.queued && !e.ended {
		e.queued = true
		c.ring = append(c.ring, e)
	}
}

// forgetLocked removes e from c's table; the caller removes it from the
// server's table after unlocking.
func (c *client) forgetLocked(e *connEntry) {
	if c.conns[e.id] == e {
		delete(c.conns, e.id)
	}
}

func (s *Server) forgetConn(e *connEntry) {
	s.mu.Lock()
	if s.conns[e.id] == e {
		delete(s.conns, e.id)
	}
	s.mu.Unlock()
}

func (s *Server) lookupConn(id ipcmsg.ConnID) *connEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns[id]
}

// ownConn returns c's connection id, or nil.
func (c *client) ownConn(id ipcmsg.ConnID) *connEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.conns[id]
}

func (c *client) addBound(p addr.Port) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.bound[p] = struct{}{}
	return true
}

func (c *client) removeBound(p addr.Port) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.bound[p]; !ok {
		return false
	}
	delete(c.bound, p)
	return true
}

// Accept implements Sink.
func (c *client) Accept(localPort addr.Port, conn Conn, remote addr.Addr, remotePort addr.Port) bool {
	c.mu.Lock()
	_, listening := c.bound[localPort]
	c.mu.Unlock()
	if !listening {
		return false
	}
	e := c.register(conn)
	if e == nil {
		return false
	}
	m := ipcmsg.Accept{LocalPort: localPort, Conn: e.id, Remote: remote, RemotePort: remotePort}
	c.mu.Lock()
	c.unsolicited = append(c.unsolicited, outMsg{msg: m, after: func() { c.announceLocked(e) }})
	c.mu.Unlock()
	signal(c.wake)
	return true
}

// Readable implements Sink.
func (c *client) Readable(id ipcmsg.ConnID) {
	c.mu.Lock()
	e := c.conns[id]
	if e == nil || !e.announced || e.queued || e.ended {
		c.mu.Unlock()
		return
	}
	c.queueLocked(e)
	c.mu.Unlock()
	signal(c.wake)
}

// Writable implements Sink.
func (c *client) Writable(ipcmsg.ConnID) {
	c.mu.Lock()
	c.wakeWritersLocked()
	c.mu.Unlock()
}

// wakeWritersLocked wakes every wait on untransmitted data: the reader's
// budget wait (waitReadable) and tagged Sends waiting for buffer space.
// Besides Writable it runs when a connection's end of stream is seen or a
// connection leaves c.conns: a connection that ended may have dropped its
// queued data, and a forgotten one no longer counts toward the budget,
// and neither need come with a Writable (ipc.md §3.1 rule 4, §10.3).
func (c *client) wakeWritersLocked() {
	close(c.writable)
	c.writable = make(chan struct{})
	signal(c.readerWake)
}

// writableChan returns the channel closed by the next Writable.
func (c *client) writableChan() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writable
}

// enqueueDatagram queues a RecvFrom unless the client is gone or its
// datagram queue is full.
func (c *client) enqueueDatagram(m ipcmsg.RecvFrom) bool {
	c.mu.Lock()
	if c.closed || c.datagrams >= c.s.cfg.DatagramQueue {
		c.mu.Unlock()
		return false
	}
	c.datagrams++
	c.unsolicited = append(c.unsolicited, outMsg{msg: m})
	c.mu.Unlock()
	signal(c.wake)
	return true
}

// flushed returns a channel that writeLoop closes once everything queued
// for c before the call has been written to the socket: the writer found
// nothing more to write and flushed its buffer. A writer that stops
// (c.ctx ends) never closes it; callers wait on c.ctx too.
func (c *client) flushed() <-chan struct{} {
	ch := make(chan struct{})
	c.mu.Lock()
	c.flushWaits = append(c.flushWaits, ch)
	c.mu.Unlock()
	signal(c.wake) // an idle writer goes round once more to answer
	return ch
}

// idleLocked reports whether writeLoop has nothing to write now (c.mu held).
func (c *client) idleLocked() bool {
	return (len(c.slots) == 0 || !c.slots[0].done) && len(c.tagReplies) == 0 &&
		len(c.unsolicited) == 0 && len(c.ring) == 0
}

// cleanup closes every connection the client owns, removes its listeners
// and releases its datagram port (ipc.md §1).
func (c *client) cleanup() {
	c.mu.Lock()
	c.closed = true
	conns := make([]*connEntry, 0, len(c.conns))
	for _, e := range c.conns {
		conns = append(conns, e)
	}
	ports := make([]addr.Port, 0, len(c.bound)+1)
	for p := range c.bound {
		ports = append(ports, p)
	}
	dgram := c.dgramPort
	c.conns, c.bound, c.ring = nil, nil, nil
	c.mu.Unlock()
	for _, e := range conns {
		c.s.forgetConn(e)
		e.conn.Close()
	}
	for _, p := range ports {
		c.s.backend.Unlisten(p)
		c.s.releasePort(p, c)
	}
	if dgram != 0 {
		c.s.releasePort(dgram, c)
	}
	c.s.mu.Lock()
	delete(c.s.clients, c)
	c.s.mu.Unlock()
}

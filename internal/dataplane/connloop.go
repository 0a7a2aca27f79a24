package dataplane

import (
	"time"

	"github.com/pilot-go/pilot/internal/ipc"
	"github.com/pilot-go/pilot/internal/stream"
	"github.com/pilot-go/pilot/internal/wire/ipcmsg"
	"github.com/pilot-go/pilot/internal/wire/packet"
)

// notify is what a pump found that must be reported once conn.mu is
// released.
type notify uint8

const (
	nReadable notify = 1 << iota
	nWritable
	nEstablished
	nSuspectSYN
	nSuspectRTO
)

// mailboxBatch bounds the packets handled per wake-up before the timer is
// re-armed.
const mailboxBatch = 64

// start launches the connection's goroutine.
func (c *conn) start() {
	c.dp.wg.Add(1)
	go c.run()
}

// run drives the engine: mailbox packets and timer ticks. Application
// calls and the inline packet path run the engine themselves and re-arm
// the timer under conn.mu (settleLocked), so they never need to wake this
// goroutine: a wake-up costs two thread switches, which on a virtual
// machine cost more than the engine call itself. The goroutine is kicked
// only when the connection finished and it must exit.
func (c *conn) run() {
	defer c.dp.wg.Done()
	defer close(c.done)
	defer c.timer.Stop()
	for {
		c.mu.Lock()
		if c.finished {
			c.mu.Unlock()
			return
		}
		c.settleLocked()
		c.mu.Unlock()
		select {
		case p := <-c.mbox:
			c.handle(p)
			for range mailboxBatch {
				select {
				case p = <-c.mbox:
					c.handle(p)
					continue
				default:
				}
				break
			}
		case <-c.kick:
		case <-c.timer.C:
			c.mu.Lock()
			c.armed = time.Time{} // fired: settleLocked re-arms
			now := time.Now()
			c.eng.Tick(now)
			n := c.pumpLocked(now)
			c.mu.Unlock()
			c.after(n)
		case <-c.dp.ctx.Done():
			c.mu.Lock()
			now := time.Now()
			if !c.finished {
				c.eng.Abort()
				n := c.pumpLocked(now)
				c.mu.Unlock()
				c.after(n)
				c.mu.Lock()
			}
			fin := c.finishLocked(now)
			c.mu.Unlock()
			c.after(nReadable | fin)
			return
		}
	}
}

// settleLocked ends an engine call (c.mu held): it arms the timer when the
// engine's next deadline is earlier than the armed one, or when none is
// armed. A later deadline leaves the timer alone; it fires early and the
// goroutine's Tick does nothing but re-arm. It reports whether the
// connection finished, so that the caller kicks the goroutine out.
func (c *conn) settleLocked() (finished bool) {
	if c.finished {
		return true
	}
	dl := c.eng.NextDeadline()
	if !dl.IsZero() && (c.armed.IsZero() || dl.Before(c.armed)) {
		c.armed = dl
		c.timer.Reset(time.Until(dl))
	}
	return false
}

// unlockAfter releases c.mu after an engine call made outside the
// goroutine, with the timer settled, and reports n.
func (c *conn) unlockAfter(n notify) {
	kick := c.settleLocked()
	c.mu.Unlock()
	c.after(n)
	if kick {
		c.wake()
	}
}

func (c *conn) handle(p *packet.Packet) {
	c.mu.Lock()
	now := time.Now()
	c.eng.Handle(p, now)
	c.queued.Add(-1)
	n := c.pumpLocked(now)
	c.mu.Unlock()
	c.after(n)
}

// enqueue puts p in the mailbox for the goroutine; false when it is full.
func (c *conn) enqueue(p *packet.Packet) bool {
	c.queued.Add(1)
	select {
	case c.mbox <- p:
		return true
	default:
		c.queued.Add(-1)
		return false
	}
}

// handleInline runs the engine for p on the caller's goroutine (the
// tunnel's socket reader) when nothing is queued before it and the
// connection is not busy, sparing the copy of p and a goroutine hand-off
// per packet. It reports false when p must go through the mailbox.
func (c *conn) handleInline(p *packet.Packet) bool {
	if c.queued.Load() != 0 || !c.mu.TryLock() {
		return false
	}
	if c.queued.Load() != 0 { // a packet ahead of p is in the mailbox
		c.mu.Unlock()
		return false
	}
	if c.finished {
		c.mu.Unlock()
		return true // the goroutine has stopped taking packets: dropped
	}
	now := time.Now()
	c.eng.Handle(p, now)
	c.unlockAfter(c.pumpLocked(now))
	return true
}

// wake tells the goroutine to look at the connection again (it finished).
func (c *conn) wake() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// pumpLocked is the "Output after every call" step: it moves queued IPC
// data into the engine, starts a requested close, sends Output, updates the
// shared state and collects the engine's events.
func (c *conn) pumpLocked(now time.Time) notify {
	var n notify
	moved := false
	for len(c.pend) > 0 {
		w, err := c.eng.Write(c.pend[0])
		if err != nil {
			// The send side is gone (reset, abort): the queued data is
			// dropped, so Unsent fell to 0 and whoever waits for it to
			// fall (the IPC budget and tagged Send waits) must hear it.
			c.pend, c.pendN = nil, 0
			n |= nWritable
			break
		}
		if w == 0 {
			break
		}
		moved = true
		c.pendN -= w
		if w < len(c.pend[0]) {
			c.pend[0] = c.pend[0][w:]
			break
		}
		c.pend[0] = nil
		c.pend = c.pend[1:]
	}
	if c.closeReq && len(c.pend) == 0 {
		c.eng.Close(now)
	}
	c.out = c.eng.Output(now, c.out[:0])
	for i := range c.out {
		c.packetFor(&c.out[i])
	}
	if err := c.dp.sendAll(c.key.peer, c.out); err != nil && c.sendErr == nil {
		c.sendErr = err
	}
	ev := c.eng.Events()
	st := c.eng.State()
	if stream.State(c.state.Swap(int32(st))) != st {
		close(c.stateCh) // every waiter of stateChanged wakes
		c.stateCh = make(chan struct{})
	}
	if c.dialer && st == stream.StateSynSent && !c.synHinted && c.eng.SYNTransmissions() >= 3 {
		c.synHinted = true
		n |= nSuspectSYN
	}
	if st == stream.StateEstablished || st == stream.StateFinWait {
		s := c.eng.Stats()
		if s.SegsRecv != c.lastSegs {
			c.lastSegs, c.lastRTOs, c.suspected = s.SegsRecv, s.RTOs, false
		} else if s.RTOs-c.lastRTOs >= 2 && !c.suspected {
			c.suspected = true
			n |= nSuspectRTO
		}
	}
	if ev&stream.EvEstablished != 0 {
		c.wasEstab = true
		c.peerISN.Store(c.eng.PeerISN())
		n |= nEstablished
		c.openEstabLocked()
	}
	if ev&(stream.EvReadable|stream.EvEOF|stream.EvReset|stream.EvClosed) != 0 {
		n |= nReadable
	}
	if moved || ev&stream.EvWritable != 0 {
		n |= nWritable
	}
	if ev&stream.EvEOF != 0 && !c.eofSeen {
		c.eofSeen = true
		c.dp.emitConn("conn.fin", c)
	}
	if ev&stream.EvReset != 0 {
		c.reason = c.eng.Reason()
		if c.reason == stream.ReasonDeadPeer {
			c.dp.emitConn("conn.dead_peer", c)
		}
		c.dp.emitConn("conn.rst", c)
	}
	if ev&stream.EvClosed != 0 {
		n |= c.finishLocked(now)
	}
	return n
}

// finishLocked removes a CLOSED connection from the table; its unread
// bytes stay readable. It drops the IPC data not yet taken by the engine
// and returns nWritable when there was some: Unsent fell to 0, which the
// caller must report like any other drop (Sink.Writable), or the IPC
// server's budget and tagged Send waits would never wake.
func (c *conn) finishLocked(now time.Time) (n notify) {
	if c.finished {
		return 0
	}
	c.finished = true
	if len(c.pend) > 0 || c.pendN > 0 {
		n = nWritable
	}
	c.pend, c.pendN = nil, 0
	c.openEstabLocked()
	c.dp.mu.Lock()
	c.dp.removeLocked(c, now)
	c.dp.mu.Unlock()
	return n
}

func (c *conn) openEstabLocked() {
	if !c.estabOpen {
		c.estabOpen = true
		close(c.estab)
	}
}

// after reports n outside conn.mu.
func (c *conn) after(n notify) {
	s := c.getSink()
	if n&nReadable != 0 {
		signal(c.rcvSig)
		if s != nil {
			s.Readable(c.id)
		}
	}
	if n&nWritable != 0 {
		signal(c.wrSig)
		if s != nil {
			s.Writable(c.id)
		}
	}
	if c.key.peer != c.dp.self() {
		if n&nSuspectSYN != 0 && c.dp.cfg.Transport.SuspectPeerLoss(c.key.peer, LossSYN) {
			// The path switched to the relay: the dial's SYN timer
			// restarts at 1 s (wire.md §7.5).
			c.mu.Lock()
			c.eng.RestartSYN(time.Now())
			c.settleLocked()
			c.mu.Unlock()
		}
		if n&nSuspectRTO != 0 {
			c.dp.cfg.Transport.SuspectPeerLoss(c.key.peer, LossRTO)
		}
	}
}

// stateChanged returns the channel closed at the next change of the
// engine's state: take it, then check the state, then wait on it.
func (c *conn) stateChanged() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stateCh
}

// sinkRef wraps the sink so that every Store has the same concrete type.
type sinkRef struct{ ipc.Sink }

func (c *conn) setSink(s ipc.Sink) { c.sink.Store(sinkRef{s}) }

// getSink is the IPC sink, nil for net.Conn users. It takes no lock: it
// runs after every engine call.
func (c *conn) getSink() ipc.Sink {
	r, _ := c.sink.Load().(sinkRef)
	return r.Sink
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// abort resets the connection locally (RST to the peer) with an IPC reason.
func (c *conn) abort(r ipcmsg.CloseReason) {
	c.mu.Lock()
	if c.finished {
		c.mu.Unlock()
		return
	}
	if c.override == 0 {
		c.override = r
	}
	c.eng.Abort()
	c.unlockAfter(c.pumpLocked(time.Now()))
}

// emitConn emits a conn.* webhook (services.md §8.3).
func (dp *DataPlane) emitConn(event string, c *conn) {
	dp.emit(event, "remote_addr", c.remote.String(), "remote_port", int(c.key.rport),
		"local_port", int(c.key.local), "conn_id", int(c.id))
}

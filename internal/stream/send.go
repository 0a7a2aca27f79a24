package stream

import (
	"time"

	"github.com/pilot-go/pilot/internal/wire/packet"
	"github.com/pilot-go/pilot/internal/wire/sack"
)

// sender is the sending half: the send buffer, the segments in flight and
// their scoreboard (sackboard.go), the RTO (rto.go), congestion control
// (cc.go) and pacing (pacing.go).
type sender struct {
	mss      int
	una, nxt uint32 // snd.una, snd.nxt (nxt includes a sent FIN)
	lost     bool   // written bytes were discarded unacknowledged (reset, peer's FIN first)
	base     uint32 // sequence number of buf offset 0
	buf      ring   // bytes from base: in flight, then unsent
	capLimit int    // send buffer capacity currently charged
	maxCap   int

	segs     []segment // in flight, in sequence order, from index head
	head     int
	retxHint int // index from which lost segments are searched

	peerWnd uint16 // last advertised window (units; 0 = no limit)

	cwnd, ssthresh int
	cc             controller
	rtt            rttEstimator
	rtoAt          time.Duration
	rtoCount       int
	lastProgress   time.Duration

	inRecovery, rtoRecovery bool
	recoveryPoint           uint32
	dupAcks                 int
	pipe                    int // RFC 6675 pipe, bytes
	sacked                  int // segments SACKed
	sackedBytes             int // bytes in SACKed segments
	prrDelivered, prrOut    int // RFC 6937 proportional rate reduction
	recoverFS               int
	// reordering and undo (undo.go)
	reordered                bool
	reoMult, reoQuiet        int
	priorCwnd, priorSsthresh int
	epRetx, epSpurious       int
	epSpuriousSeen           bool
	undos                    int
	retxOut                  int // segments retransmitted and not yet SACKed/acked
	highSack                 uint32
	rackXmit, rackRTT        time.Duration
	reoAt                    time.Duration

	pace   pacer
	paceAt time.Duration

	tlpAt      time.Duration
	tlpProbe   bool
	tlpEnabled bool
	tlpCount   int // probes sent since the last ACK with news

	writeBlocked bool
	cwndLimited  bool
	nagleSince   time.Duration
	nagleAt      time.Duration
	closedWrite  bool // passive close: unsent data discarded, writes fail

	lastAcked byte // last acknowledged byte, for keepalive probes
}

func (s *sender) init(c *Conn, charged int) {
	s.mss = c.cfg.MSS
	s.capLimit = charged
	s.maxCap = c.cfg.SendBuffer
	s.cwnd = initialWindow * s.mss
	s.ssthresh = maxCwnd
	s.cc = newController(c.cfg.CC)
	s.rtt.init()
	s.rtoAt, s.reoAt, s.paceAt, s.tlpAt, s.nagleAt = never, never, never, never, never
	s.nagleSince = never
	s.pace.init(s.mss, c.cfg.DisablePacing)
	s.tlpEnabled = !c.cfg.DisableTLP
	s.reoMult = 1
}

func (s *sender) updateWindow(w uint16) { s.peerWnd = w }

// peerWndBytes is the peer's window in bytes, 0 meaning no limit.
func (s *sender) peerWndBytes() int { return int(s.peerWnd) * WindowUnit }

func (s *sender) inFlightSegs() int { return len(s.segs) - s.head }

// unsent returns the number of buffered bytes not yet sent.
func (s *sender) unsent() int { return s.buf.n - int(s.nxt-s.base) }

// Write queues up to len(b) bytes for sending and returns how many were
// accepted (limited by the send buffer, §9.15). A short count sets
// EvWritable once space frees up.
func (c *Conn) Write(b []byte) (int, error) {
	s := &c.snd
	switch {
	case c.state == StateClosed && c.reason != ReasonNone:
		return 0, ErrReset
	case c.appClosed || s.closedWrite || c.state == StateClosed || c.state == StateFinWait || c.state == StateTimeWait:
		return 0, ErrClosed
	}
	if len(b) == 0 {
		return 0, nil
	}
	if free := s.capLimit - s.buf.n; free < len(b) && s.capLimit < s.maxCap {
		want := min(s.maxCap, max(2*s.capLimit, s.buf.n+len(b))) - s.capLimit
		s.capLimit += c.acquireUpTo(want)
	}
	if s.buf.cap() < s.capLimit {
		s.buf.grow(s.capLimit, s.buf.n)
	}
	n := s.buf.appendTail(b)
	if n < len(b) {
		s.writeBlocked = true
	}
	return n, nil
}

// Delivered reports whether the peer acknowledged every byte written: the
// send buffer is empty and nothing was discarded unacknowledged (a reset,
// or the peer's FIN while data was still unsent).
func (c *Conn) Delivered() bool { return c.snd.buf.n == 0 && !c.snd.lost }

// WriteSpace returns how many bytes Write would accept without growing.
func (c *Conn) WriteSpace() int { return c.snd.capLimit - c.snd.buf.n }

// SetNagle turns Nagle's algorithm on or off (IPC ConnOpt, §9.11).
func (c *Conn) SetNagle(on bool) { c.cfg.Nagle = on }

// flowRoom returns how many new bytes the peer's window admits now (§9.8).
func (s *sender) flowRoom() int {
	if s.peerWnd == 0 {
		// No limit, but at most one new segment in flight (persist).
		if s.inFlightSegs() == 0 {
			return s.mss
		}
		return 0
	}
	if s.inFlightSegs() >= int(s.peerWnd) {
		return 0
	}
	return max(0, s.peerWndBytes()-int(s.nxt-s.una))
}

// outputData appends retransmissions and new data segments allowed by cwnd,
// the peer window and pacing.
func (c *Conn) outputData(t time.Duration, out []packet.Packet) ([]packet.Packet, bool) {
	s := &c.snd
	sent := false
	s.paceAt, s.nagleAt = never, never
	if s.tlpProbe {
		s.tlpProbe = false
		if p, ok := c.tailProbe(t); ok {
			out = append(out, p)
			s.paceRefill(t)
			s.paceSpend(len(p.Payload))
			sent = true
			s.tlpCount++
			s.armTLP(t)
		}
	}
	for {
		if i := s.nextLost(); i >= 0 {
			seg := &s.segs[i]
			if s.pipe+int(seg.n) > s.cwnd && s.pipe > 0 {
				s.cwndLimited = true
				break
			}
			if !s.paceAllows(t, int(seg.n)) {
				break
			}
			out = append(out, c.dataPacket(seg.seq, int(seg.n)))
			s.setFlags(seg, seg.fl|segRetx|segEverRetx)
			seg.xmit = t
			s.paceSpend(int(seg.n))
			c.stats.Retransmits++
			if s.inRecovery && !s.rtoRecovery {
				c.stats.FastRetx++
				s.prrOut += int(seg.n)
				s.epRetx++
			}
			sent = true
			s.armRTO(t, false)
			if s.tlpAt == never {
				s.armTLP(t)
			}
			continue
		}
		un := s.unsent()
		if un <= 0 || c.state != StateEstablished {
			s.cwndLimited = false
			break
		}
		off := int(s.nxt - s.base)
		run := s.buf.run(off, min(s.mss, un))
		n := sack.SafeDataLen(run, len(run))
		room := s.flowRoom()
		if room <= 0 {
			break
		}
		n = min(n, room)
		if c.cfg.Nagle && n < s.mss && n == un && s.inFlightSegs() > 0 {
			if s.nagleSince == never {
				s.nagleSince = t
			}
			if t < s.nagleSince+nagleHold {
				s.nagleAt = s.nagleSince + nagleHold
				break
			}
		}
		if s.pipe+n > s.cwnd {
			s.cwndLimited = true
			break
		}
		if !s.paceAllows(t, n) {
			s.cwndLimited = true
			break
		}
		if s.inFlightSegs() == 0 {
			s.lastProgress = t
		}
		out = append(out, c.dataPacket(s.nxt, n))
		s.segs = append(s.segs, segment{seq: s.nxt, n: uint32(n), xmit: t})
		s.nxt += uint32(n)
		s.pipe += n
		if s.inRecovery {
			s.prrOut += n
		}
		s.paceSpend(n)
		s.nagleSince = never
		c.stats.BytesSent += int64(n)
		sent = true
		s.armRTO(t, false)
		s.armTLP(t)
	}
	return out, sent
}

// dataPacket builds the data segment [seq, seq+n) from the send buffer.
func (c *Conn) dataPacket(seq uint32, n int) packet.Packet {
	s := &c.snd
	payload := s.buf.run(int(seq-s.base), n)
	return packet.Packet{
		Flags:    packet.FlagACK,
		Protocol: packet.ProtoStream,
		Seq:      seq,
		Ack:      c.rcv.nxt,
		Window:   c.rcv.window(),
		Payload:  payload,
	}
}

// tailProbe is the tail loss probe of RFC 8985 §7: one new segment when the
// window allows, else the last segment in flight again (same boundaries).
//
// Ours: when a probe draws no ACK, further probes follow with the probe
// timeout doubling until the RTO fires, and they resend the first hole (the
// segment that advances snd.una). With a 200 ms minimum RTO on a path of a
// few milliseconds, waiting for the RTO would idle the path for hundreds of
// round trips; probes never touch cwnd.
func (c *Conn) tailProbe(t time.Duration) (packet.Packet, bool) {
	s := &c.snd
	if un := s.unsent(); s.tlpCount == 0 && un > 0 && c.state == StateEstablished && s.flowRoom() > 0 {
		off := int(s.nxt - s.base)
		run := s.buf.run(off, min(s.mss, un))
		n := min(sack.SafeDataLen(run, len(run)), s.flowRoom())
		p := c.dataPacket(s.nxt, n)
		s.segs = append(s.segs, segment{seq: s.nxt, n: uint32(n), xmit: t})
		s.nxt += uint32(n)
		s.pipe += n
		c.stats.BytesSent += int64(n)
		return p, true
	}
	if s.inFlightSegs() == 0 {
		return packet.Packet{}, false
	}
	seg := &s.segs[len(s.segs)-1]
	if seg.fl&segSacked != 0 || s.tlpCount > 0 {
		// The tail arrived: probe the first hole instead, so that its ACK
		// (or the lack of one) drives recovery without waiting for the RTO.
		seg = nil
		for i := s.head; i < len(s.segs); i++ {
			if s.segs[i].fl&segSacked == 0 {
				seg = &s.segs[i]
				break
			}
		}
		if seg == nil {
			return packet.Packet{}, false
		}
	}
	seg.fl |= segEverRetx
	seg.xmit = t
	c.stats.Retransmits++
	return c.dataPacket(seg.seq, int(seg.n)), true
}

// armRTO starts the retransmission timer if it is not running (or restarts
// it when restart is set).
func (s *sender) armRTO(t time.Duration, restart bool) {
	if s.inFlightSegs() == 0 {
		s.rtoAt = never
		return
	}
	if restart || s.rtoAt == never {
		s.rtoAt = t + s.rtt.rto
	}
}

// tlpMinPTO floors the probe timeout on sub-millisecond paths.
const tlpMinPTO = 2 * time.Millisecond

// armTLP schedules a tail loss probe 2·SRTT after the last send.
func (s *sender) armTLP(t time.Duration) {
	if !s.tlpEnabled || !s.rtt.has || s.inFlightSegs() == 0 {
		s.tlpAt = never
		return
	}
	pto := 2 * s.rtt.srtt
	if s.inFlightSegs() == 1 {
		pto += delAckTimeout
	}
	pto = max(pto, tlpMinPTO) << min(s.tlpCount, 10)
	if at := t + pto; at < s.rtoAt {
		s.tlpAt = at
	} else {
		s.tlpAt = never
	}
}

// deadline is the sender's earliest timer.
func (s *sender) deadline(c *Conn) time.Duration {
	d := min(s.rtoAt, s.reoAt, s.tlpAt)
	if s.unsent() > 0 || s.retxHint < len(s.segs) {
		d = min(d, s.paceAt, s.nagleAt)
	}
	return d
}

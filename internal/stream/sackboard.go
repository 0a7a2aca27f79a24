package stream

import (
	"time"

	"github.com/pilot-go/pilot/internal/wire/packet"
	"github.com/pilot-go/pilot/internal/wire/sack"
)

// segFlags is the scoreboard state of one segment in flight (RFC 6675).
type segFlags uint8

const (
	segSacked   segFlags = 1 << iota // covered by a SACK block
	segLost                          // deemed lost (DupThresh, RACK or RTO)
	segRetx                          // retransmitted since it was deemed lost
	segEverRetx                      // ever sent twice (Karn's rule)
)

// segment is a sent range; its boundaries never change (§9.5 rule 2).
type segment struct {
	seq  uint32
	n    uint32
	xmit time.Duration // last transmission
	fl   segFlags
}

func (s *segment) end() uint32 { return s.seq + s.n }

// contrib is the segment's share of pipe (RFC 6675 §4): its bytes unless
// SACKed or lost, plus its bytes again when retransmitted.
func contrib(fl segFlags, n uint32) int {
	if fl&segSacked != 0 {
		return 0
	}
	v := 0
	if fl&segLost == 0 {
		v += int(n)
	}
	if fl&segRetx != 0 {
		v += int(n)
	}
	return v
}

func (s *sender) setFlags(seg *segment, fl segFlags) {
	old := seg.fl
	s.pipe += contrib(fl, seg.n) - contrib(old, seg.n)
	if old&segSacked == 0 && fl&segSacked != 0 {
		s.sacked++
		s.sackedBytes += int(seg.n)
	}
	wasOut := old&segRetx != 0 && old&segSacked == 0
	isOut := fl&segRetx != 0 && fl&segSacked == 0
	if wasOut != isOut {
		if isOut {
			s.retxOut++
		} else {
			s.retxOut--
		}
	}
	seg.fl = fl
}

// find returns the index of the segment containing seq, or -1.
func (s *sender) find(seq uint32) int {
	lo, hi := s.head, len(s.segs)
	if lo == hi || seqLT(seq, s.segs[lo].seq) {
		return -1
	}
	first := s.segs[lo].seq
	off := seq - first
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if s.segs[m].seq-first <= off {
			lo = m + 1
		} else {
			hi = m
		}
	}
	i := lo - 1
	if i < s.head || off >= s.segs[i].end()-first {
		return -1
	}
	return i
}

// markLost flags segment i lost and makes it the next retransmission.
func (s *sender) markLost(i int) {
	seg := &s.segs[i]
	s.setFlags(seg, (seg.fl|segLost)&^segRetx)
	s.retxHint = min(s.retxHint, i)
}

// nextLost is NextSeg rule 1 of RFC 6675: the first lost segment that has
// not been retransmitted since. Lost segments form a prefix of the
// un-SACKed ones, so the search stops at the first un-SACKed live segment.
func (s *sender) nextLost() int {
	s.retxHint = max(s.retxHint, s.head)
	for i := s.retxHint; i < len(s.segs); i++ {
		f := s.segs[i].fl
		if f&segSacked != 0 || f&segRetx != 0 {
			if i == s.retxHint {
				s.retxHint++
			}
			continue
		}
		if f&segLost != 0 {
			return i
		}
		return -1
	}
	return -1
}

// delivered records that seg reached the peer (RACK: the latest send time
// of a delivered segment and its RTT).
func (s *sender) delivered(seg *segment, t time.Duration) {
	if seg.fl&segEverRetx != 0 && t-seg.xmit < s.rtt.minRTT {
		// Ambiguous: probably the original transmission. Much sooner than
		// an RTT after a fast retransmission, it certainly was.
		if seg.fl&segRetx != 0 && t-seg.xmit < s.rtt.minRTT*3/4 {
			s.spurious()
		}
		return
	}
	if seg.xmit >= s.rackXmit {
		s.rackXmit = seg.xmit
		s.rackRTT = t - seg.xmit
	}
}

// markSacked applies SACK blocks; it reports whether any segment was newly
// SACKed. Blocks outside [snd.una, snd.nxt] or with left ≥ right are
// ignored (§9.7).
func (s *sender) markSacked(blocks []sack.Block, t time.Duration) bool {
	news := false
	sample := time.Duration(-1)
	defer func() {
		if sample >= 0 {
			s.rtt.sample(sample)
		}
	}()
	for _, b := range blocks {
		if !seqLT(b.Left, b.Right) || seqLT(b.Left, s.una) || seqGT(b.Right, s.nxt) {
			continue
		}
		i := s.find(b.Left)
		if i < 0 {
			continue
		}
		if s.segs[i].seq != b.Left {
			i++ // a partly covered segment is not SACKed
		}
		for ; i < len(s.segs) && seqLE(s.segs[i].end(), b.Right); i++ {
			seg := &s.segs[i]
			if seg.fl&segSacked != 0 {
				continue
			}
			s.setFlags(seg, seg.fl|segSacked)
			s.delivered(seg, t)
			if seg.fl&segEverRetx == 0 {
				sample = t - seg.xmit
			}
			news = true
			if seqGT(seg.end(), s.highSack) {
				s.highSack = seg.end()
			}
		}
	}
	return news
}

// popAcked removes segments fully acknowledged by ack, takes an RTT sample
// from the newest one sent only once, and trims the send buffer. It returns
// whether a sample was taken.
func (s *sender) popAcked(c *Conn, ack uint32, t time.Duration) {
	sample := time.Duration(-1)
	for s.head < len(s.segs) {
		seg := &s.segs[s.head]
		if seqGT(seg.end(), ack) {
			break
		}
		if seg.fl&segSacked == 0 {
			s.delivered(seg, t)
			if seg.fl&segRetx != 0 {
				s.retxOut--
			}
			// Karn's rule; segments SACKed earlier gave their sample then
			// (a cumulative ACK after a hole is filled says nothing of the RTT).
			if seg.fl&segEverRetx == 0 {
				sample = t - seg.xmit
			}
		} else {
			s.sacked--
			s.sackedBytes -= int(seg.n)
		}
		s.pipe -= contrib(seg.fl, seg.n)
		s.head++
	}
	if sample >= 0 {
		s.rtt.sample(sample)
	}
	if s.head == len(s.segs) {
		s.segs = s.segs[:0]
		s.head, s.retxHint = 0, 0
	} else if s.head >= 256 && 2*s.head >= len(s.segs) {
		k := copy(s.segs, s.segs[s.head:])
		s.segs = s.segs[:k]
		s.retxHint -= s.head
		s.head = 0
	}
	// The buffer keeps the whole first segment (retransmissions resend it
	// entire), or everything from snd.una when nothing is in flight.
	nb := ack
	if s.head < len(s.segs) {
		nb = s.segs[s.head].seq
	}
	if d := int(nb - s.base); d > 0 && d <= s.buf.n {
		s.lastAcked = s.buf.byteAt(d - 1)
		s.buf.discard(d)
		s.base = nb
		if s.writeBlocked {
			s.writeBlocked = false
			c.ev |= EvWritable
		}
	}
}

// onAck processes the acknowledgement fields of an ACK-flagged packet and
// reports whether ack was acceptable (not after snd.nxt).
func (c *Conn) onAck(p *packet.Packet, blocks []sack.Block, t time.Duration) bool {
	s := &c.snd
	ack := p.Ack
	if seqGT(ack, s.nxt) {
		return false // acknowledges data never sent: ignored
	}
	if seqLT(ack, s.una) {
		return true // old: only its payload matters
	}
	prevWnd := s.peerWnd
	if p.Flags&(packet.FlagFIN|packet.FlagRST) == 0 {
		s.updateWindow(p.Window)
	}
	limited := s.cwndLimited || 2*s.pipe >= s.cwnd
	sackedBefore := s.sackedBytes
	newSack := false
	if len(blocks) > 0 {
		c.stats.SackRecv++
		newSack = s.markSacked(blocks, t)
	}
	advanced := seqGT(ack, s.una)
	acked := 0
	if advanced {
		acked = int(ack - s.una)
		s.popAcked(c, ack, t)
		s.una = ack
		s.dupAcks = 0
		s.rtoCount = 0
		s.lastProgress = t
		// Progress ends the backoff (as Linux does; RFC 6298 §5.7 keeps it
		// until a fresh sample, which under heavy loss stalls for seconds).
		s.rtt.rto = s.rtt.base()
		s.armRTO(t, true)
		if seqLT(s.highSack, s.una) {
			s.highSack = s.una
		}
	} else if s.inFlightSegs() > 0 && (newSack || (len(blocks) == 0 && len(p.Payload) == 0 && p.Window == prevWnd)) {
		s.dupAcks++
		c.stats.DupAcks++
	}
	if s.inRecovery && !seqLT(s.una, s.recoveryPoint) {
		if !s.rtoRecovery {
			s.cwnd = max(s.ssthresh, 2*s.mss)
		}
		s.inRecovery, s.rtoRecovery = false, false
		s.recoveryDone()
	}
	lost := false
	if newSack || advanced {
		lost = s.detectLoss(t)
	}
	if s.dupAcks >= dupThresh && (!s.reordered || s.sacked == 0) && s.head < len(s.segs) {
		if f := s.segs[s.head].fl; f&(segSacked|segLost) == 0 {
			s.markLost(s.head)
			lost = true
		}
	}
	if lost && !s.inRecovery {
		s.enterRecovery(t)
	}
	if s.inRecovery && !s.rtoRecovery {
		s.prr(acked + s.sackedBytes - sackedBefore)
	}
	if advanced && (!s.inRecovery || s.rtoRecovery) {
		s.onAckCC(acked, t, limited)
	}
	if s.inFlightSegs() == 0 {
		s.tlpAt, s.reoAt = never, never
	} else if advanced || newSack {
		s.tlpCount = 0
		s.armTLP(t)
	}
	return true
}

// detectLoss marks segments lost by the DupThresh rule of RFC 6675 (three
// SACKed segments, or more than two full segments of SACKed bytes, above
// it) or by RACK (RFC 8985: a segment sent at least a reordering window
// before a delivered one, once an RTT plus that window has passed). It
// reports whether any segment was newly marked.
func (s *sender) detectLoss(t time.Duration) bool {
	s.reoAt = never
	if s.sacked == 0 && s.retxOut == 0 {
		return false
	}
	reo := s.reoWnd()
	lost := false
	rackLost := func(seg *segment) bool {
		if seg.xmit+reo >= s.rackXmit {
			return false
		}
		if at := seg.xmit + s.rackRTT + reo; at > t {
			s.reoAt = min(s.reoAt, at)
			return false
		}
		return true
	}
	// Retransmissions lost again (only RACK can tell).
	if s.retxOut > 0 {
		for i := s.head; i < len(s.segs); i++ {
			seg := &s.segs[i]
			if seg.fl&(segRetx|segSacked) == segRetx && rackLost(seg) {
				s.markLost(i)
				lost = true
			}
		}
	}
	if s.sacked == 0 {
		return lost
	}
	top := s.find(s.highSack - 1)
	if top < 0 {
		return lost
	}
	count, bytes := 0, 0
	for i := top; i >= s.head; i-- {
		seg := &s.segs[i]
		if seg.fl&segSacked != 0 {
			count++
			bytes += int(seg.n)
			continue
		}
		if seg.fl&segLost != 0 {
			break // everything below is lost or SACKed already
		}
		if !s.reordered && (count >= dupThresh || bytes > (dupThresh-1)*s.mss) || rackLost(seg) {
			s.markLost(i)
			lost = true
		}
	}
	return lost
}

// tick runs the sender's timers: RTO, RACK reordering timer, TLP.
func (s *sender) tick(c *Conn, t time.Duration) {
	if s.rtoAt <= t {
		s.rtoAt = never
		if s.inFlightSegs() > 0 {
			c.onRTO(t)
			if c.state == StateClosed {
				return
			}
		}
	}
	if s.reoAt <= t {
		s.reoAt = never
		if s.detectLoss(t) && !s.inRecovery {
			s.enterRecovery(t)
		}
	}
	if s.tlpAt <= t {
		s.tlpAt = never
		if s.inFlightSegs() > 0 {
			s.tlpProbe = true
		}
	}
}

// onRTO handles a retransmission timeout (§9.9): give up after 60 s without
// progress and at least 6 timeouts; otherwise cwnd = 1 segment, every
// un-SACKed segment lost, retransmission in sequence order, backoff.
func (c *Conn) onRTO(t time.Duration) {
	s := &c.snd
	s.rtoCount++
	c.stats.RTOs++
	if s.rtoCount >= giveUpRTOs && t-s.lastProgress >= giveUpAfter {
		c.reset(ReasonTimeout, true)
		return
	}
	s.onRTOCC(t)
	for i := s.head; i < len(s.segs); i++ {
		seg := &s.segs[i]
		if seg.fl&segSacked == 0 {
			s.setFlags(seg, (seg.fl|segLost)&^segRetx)
		}
	}
	s.retxHint = s.head
	s.dupAcks = 0
	s.tlpAt, s.reoAt = never, never
	s.tlpCount = 0
	s.rtt.backoff()
	s.rtoAt = t + s.rtt.rto
}

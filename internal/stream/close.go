package stream

import (
	"time"

	"github.com/pilot-go/pilot/internal/wire/packet"
)

// finAnswersPerSec bounds pure ACKs for already accepted FINs (§9.12 rule 4).
const finAnswersPerSec = 5

// Close is the application's close (§9.12 active close): queued data is
// still sent; once everything is acknowledged a bare FIN follows. Data
// arriving afterwards is acknowledged and discarded. Close is idempotent.
func (c *Conn) Close(now time.Time) {
	if c.appClosed {
		return
	}
	c.appClosed = true
	r := &c.rcv
	r.discard = true
	r.buf.discard(r.buf.n)
	r.readSeq = r.nxt
	switch c.state {
	case StateSynSent:
		c.sendRST = c.synTx > 0
		c.toClosed()
	case StateEstablished:
		c.maybeFin()
	}
}

// maybeFin sends the bare FIN once everything written has been acknowledged.
func (c *Conn) maybeFin() {
	s := &c.snd
	if !c.appClosed || c.finSent || c.state != StateEstablished || s.buf.n > 0 || s.una != s.nxt {
		return
	}
	c.finSent = true
	c.finSeq = s.nxt
	s.nxt++
	c.sendFin = true
	c.finAt = never
	c.state = StateFinWait
}

func (c *Conn) finPacket() packet.Packet {
	return packet.Packet{Flags: packet.FlagFIN, Protocol: packet.ProtoStream, Seq: c.finSeq}
}

// tickFin retransmits the FIN on the data RTO schedule; after 8
// transmissions the connection is reset (§9.12 rule 3).
func (c *Conn) tickFin(t time.Duration) {
	if c.state != StateFinWait || c.finAt > t {
		return
	}
	c.finAt = never
	if c.finTx >= finMaxTx {
		c.reset(ReasonTimeout, true)
		return
	}
	c.sendFin = true
}

// finSent records a FIN transmission and arms its retransmission.
func (c *Conn) finTransmitted(t time.Duration) {
	c.finTx++
	rto := c.snd.rtt.base()
	for i := 1; i < c.finTx && rto < rtoMax; i++ {
		rto *= 2
	}
	c.finAt = t + min(rto, rtoMax)
}

// handleFin processes a FIN-flagged packet on an open connection.
func (c *Conn) handleFin(p *packet.Packet, t time.Duration) {
	bare := !p.Flags.Has(packet.FlagACK)
	s := p.Seq + uint32(len(p.Payload))
	r := &c.rcv
	switch c.state {
	case StateFinWait:
		// Our FIN is out: the peer's FIN+ACK ends FIN_WAIT unanswered; a
		// bare FIN is answered with a pure ACK (never with FIN+ACK).
		r.nxt = s + 1
		if bare {
			r.ackNow = true
		}
		c.finAccepted(s)
		c.toTimeWait(t)
		return
	case StateTimeWait:
		if bare && seqLE(s+1, r.nxt) {
			c.answerOldFin(t)
		}
		return
	}
	switch {
	case seqLE(s, r.nxt) && r.finHeld && r.finHeldSeq != s:
		// Rule 3: the peer retransmits its FIN from its oldest unacked byte
		// (at or below rcv.nxt, our ACK of it having been lost): the bytes
		// before the held FIN were abandoned.
		c.reset(ReasonDataLost, bare)
	case s == r.nxt:
		c.acceptFin(s, bare, t)
	case seqGT(s, r.nxt):
		// Rule 2: hold it; ACK (with SACK) only for a bare FIN.
		if !r.finHeld || seqLT(s, r.finHeldSeq) {
			r.finHeld, r.finHeldSeq, r.finHeldBare = true, s, bare
		}
		if bare {
			r.ackNow = true
		}
	default:
		// A FIN below rcv.nxt on an open connection: everything before it
		// arrived; take it as the close at rcv.nxt.
		c.acceptFin(r.nxt, bare, t)
	}
}

// acceptFin is passive close rule 1: EOF after the buffered data, unsent
// data discarded, one FIN+ACK answer for a bare FIN, TIME_WAIT.
func (c *Conn) acceptFin(s uint32, bare bool, t time.Duration) {
	r := &c.rcv
	r.nxt = s + 1
	r.finHeld = false
	c.finAccepted(s)
	snd := &c.snd
	snd.closedWrite = true
	if un := snd.unsent(); un > 0 {
		snd.buf.n -= un
		snd.lost = true
	}
	if bare {
		c.sendFinAck = true
		c.finAckSeq = s + 1
	}
	c.toTimeWait(t)
}

func (c *Conn) finAccepted(s uint32) {
	r := &c.rcv
	if !r.eof {
		r.eof = true
		r.finSeq = s
		c.ev |= EvEOF | EvReadable
	}
}

func (c *Conn) toTimeWait(t time.Duration) {
	c.state = StateTimeWait
	c.timeWaitAt = t + c.cfg.TimeWait
	s := &c.snd
	s.rtoAt, s.tlpAt, s.reoAt, s.paceAt, s.nagleAt = never, never, never, never, never
	c.finAt = never
	c.rcv.delAckAt = never
	c.freeBuffers()
}

// answerOldFin is rule 4: a pure ACK for an already accepted FIN, at most
// five per second.
func (c *Conn) answerOldFin(t time.Duration) {
	if sec := t / time.Second; sec != c.finAckEpoch {
		c.finAckEpoch, c.finAcks = sec, 0
	}
	if c.finAcks >= finAnswersPerSec {
		return
	}
	c.finAcks++
	c.rcv.ackNow = true
}

func (c *Conn) finAckPacket() packet.Packet {
	return packet.Packet{Flags: packet.FlagFIN | packet.FlagACK, Protocol: packet.ProtoStream,
		Seq: c.snd.nxt, Ack: c.finAckSeq, Window: c.rcv.window()}
}

package stream

import (
	"time"

	"github.com/pilot-go/pilot/internal/wire/packet"
)

// tickHandshake runs the dialer's timers: SYN retransmission (1 s doubling,
// cap 8 s) and the dial timeout (§9.3).
func (c *Conn) tickHandshake(t time.Duration) {
	if t >= c.dialEnd {
		c.reset(ReasonDialTimeout, false)
		return
	}
	if t >= c.synAt {
		c.synAt = never
		c.sendSYN = true
	}
}

// SYNTransmissions returns how many SYNs the dialer has sent (the daemon
// switches to the relay after two timeouts, §7.5).
func (c *Conn) SYNTransmissions() int { return c.synTx }

// handleSynSent processes a packet in SYN_SENT: only the SYN-ACK that
// acknowledges our ISN completes the dial; a SYN is dropped (§9.3).
func (c *Conn) handleSynSent(p *packet.Packet, t time.Duration) {
	if !p.Flags.Has(packet.FlagSYN|packet.FlagACK) || p.Ack != c.iss+1 {
		return
	}
	c.irs = p.Seq
	c.rcv.start(p.Seq + 1)
	c.snd.una, c.snd.nxt, c.snd.base, c.snd.highSack = c.iss+1, c.iss+1, c.iss+1, c.iss+1
	c.snd.updateWindow(p.Window)
	if c.synTx == 1 {
		c.snd.rtt.sample(t - c.synSentAt)
	}
	c.rcv.ackNow = true
	c.state = StateEstablished
	c.ev |= EvEstablished
	c.synAt = never
	if c.appClosed {
		c.maybeFin()
	}
}

// handleSyn processes a SYN-flagged packet on an open connection (§9.3).
func (c *Conn) handleSyn(p *packet.Packet) {
	if p.Flags.Has(packet.FlagACK) {
		// SYN-ACK: re-acknowledge the one carrying the recorded peer ISN;
		// ignore others (the original's duplicate-SYN answer has a stale seq).
		if p.Seq == c.irs && c.dialer && c.state == StateEstablished {
			c.rcv.ackNow = true
		}
		return
	}
	if p.Seq == c.irs {
		if !c.dialer && c.state == StateEstablished {
			c.sendSynAck = true // duplicate SYN: the same SYN-ACK again
		}
		return
	}
	// A SYN with another ISN replaces the connection; the daemon starts a
	// new responder for it.
	c.reset(ReasonNewSYN, false)
}

func (c *Conn) synPacket() packet.Packet {
	return packet.Packet{Flags: packet.FlagSYN, Protocol: packet.ProtoStream, Seq: c.iss, Window: c.rcv.window()}
}

func (c *Conn) synAckPacket() packet.Packet {
	return packet.Packet{Flags: packet.FlagSYN | packet.FlagACK, Protocol: packet.ProtoStream,
		Seq: c.iss, Ack: c.irs + 1, Window: c.rcv.window()}
}

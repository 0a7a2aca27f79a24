package stream

import (
	"time"

	"github.com/pilot-go/pilot/internal/wire/packet"
)

// Output appends the packets to send now to out and returns it. Packets
// carry only the stream fields (flags, protocol, seq, ack, window,
// payload); the caller fills addresses and ports. Payloads alias the
// connection's buffers and stay valid until the next call on c.
func (c *Conn) Output(now time.Time, out []packet.Packet) []packet.Packet {
	t := c.ts(now)
	start := len(out)
	if c.sendRST {
		c.sendRST = false
		out = append(out, packet.Packet{Flags: packet.FlagRST, Protocol: packet.ProtoStream})
	}
	switch c.state {
	case StateClosed:
		c.countSent(out[start:])
		return out
	case StateSynSent:
		if c.sendSYN {
			c.sendSYN = false
			out = append(out, c.synPacket())
			c.synTx++
			c.synSentAt = t
			c.synAt = min(t+c.synRTO, c.dialEnd)
			c.synRTO = min(2*c.synRTO, synRTOMax)
		}
		c.countSent(out[start:])
		return out
	}
	carriesAck := false
	if c.sendSynAck {
		c.sendSynAck = false
		out = append(out, c.synAckPacket())
		c.synAckTx++
		c.synAckAt = t
	}
	if c.state == StateEstablished {
		var sent bool
		out, sent = c.outputData(t, out)
		carriesAck = carriesAck || sent
		c.maybeFin()
	}
	if c.sendFin && c.state == StateFinWait {
		c.sendFin = false
		out = append(out, c.finPacket())
		c.finTransmitted(t)
	}
	if c.sendFinAck {
		c.sendFinAck = false
		out = append(out, c.finAckPacket())
		carriesAck = true
	}
	if c.sendProbe {
		c.sendProbe = false
		if c.state == StateEstablished {
			out = append(out, c.probePacket())
			carriesAck = true
		}
	}
	r := &c.rcv
	if r.ackNow && (!carriesAck || len(r.ooo) > 0) {
		p := packet.Packet{Flags: packet.FlagACK, Protocol: packet.ProtoStream, Seq: c.snd.nxt,
			Ack: r.nxt, Window: r.window()}
		if c.state != StateTimeWait {
			p.Payload = r.sackPayload()
		}
		if p.Payload != nil {
			c.stats.SackSent++
		}
		out = append(out, p)
		carriesAck = true
	}
	if carriesAck {
		r.ackSent()
	}
	if len(out) > start {
		c.lastActivity = t
	}
	c.countSent(out[start:])
	return out
}

func (c *Conn) countSent(ps []packet.Packet) {
	c.stats.SegsSent += int64(len(ps))
}

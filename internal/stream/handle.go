package stream

import (
	"encoding/binary"
	"time"

	"github.com/pilot-go/pilot/internal/wire/packet"
	"github.com/pilot-go/pilot/internal/wire/sack"
)

// Handle processes one received stream packet for this connection (the
// daemon has matched it by local port, peer node and peer port). p and its
// payload are not retained.
func (c *Conn) Handle(p *packet.Packet, now time.Time) {
	if c.state == StateClosed {
		return
	}
	t := c.ts(now)
	c.stats.SegsRecv++
	if p.Flags.Has(packet.FlagRST) {
		// §9.14: closes the connection in any state; no sequence check is
		// possible (the original sends zeros).
		switch c.state {
		case StateSynSent:
			c.reset(ReasonRefused, false)
		case StateTimeWait:
			c.toClosed()
		default:
			c.reset(ReasonPeerReset, false)
		}
		return
	}
	if p.Flags&(packet.FlagSYN|packet.FlagACK|packet.FlagFIN) == 0 {
		return // the original ignores such segments; so do we
	}
	c.lastRecv = t
	c.lastActivity = t
	switch c.state {
	case StateSynSent:
		c.handleSynSent(p, t)
		return
	case StateTimeWait:
		if p.Flags == packet.FlagFIN {
			c.handleFin(p, t)
		}
		return
	}
	if p.Flags.Has(packet.FlagSYN) {
		c.handleSyn(p)
		return
	}
	data := p.Payload
	var blocks []sack.Block
	if p.Flags == packet.FlagACK {
		if b := parseSACK(data, &c.sackIn); b != nil {
			blocks, data = b, nil
		}
	}
	if p.Flags.Has(packet.FlagACK) {
		if !c.dialer && !c.finalAck && seqGE(p.Ack, c.iss+1) && seqLE(p.Ack, c.snd.nxt) {
			// The responder's only handshake RTT sample (Karn: one SYN-ACK).
			c.finalAck = true
			if c.synAckTx == 1 && !c.snd.rtt.has {
				c.snd.rtt.sample(t - c.synAckAt)
			}
		}
		c.onAck(p, blocks, t)
		if c.state == StateFinWait && seqGE(c.snd.una, c.finSeq+1) {
			c.toTimeWait(t)
			return
		}
	}
	if len(data) > 0 && p.Flags.Has(packet.FlagACK) {
		c.onData(p.Seq, data, t)
	}
	if c.state == StateClosed {
		return
	}
	if p.Flags.Has(packet.FlagFIN) {
		c.handleFin(p, t)
	}
	c.maybeFin()
}

// parseSACK is sack.Parse without allocating: the strict rule of §9.7
// (exactly 5 + 8·n bytes, "SACK", n in 1 … 4) into dst; nil for data.
func parseSACK(p []byte, dst *[sack.MaxBlocks]sack.Block) []sack.Block {
	if len(p) < sack.Size(1) || string(p[:4]) != sack.Magic {
		return nil
	}
	n := int(p[4])
	if n < 1 || n > sack.MaxBlocks || len(p) != sack.Size(n) {
		return nil
	}
	for i := range n {
		off := 5 + 8*i
		dst[i] = sack.Block{Left: binary.BigEndian.Uint32(p[off:]), Right: binary.BigEndian.Uint32(p[off+4:])}
	}
	return dst[:n]
}

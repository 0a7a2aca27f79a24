package stream

import (
	"time"

	"github.com/pilot-go/pilot/internal/wire/packet"
)

// Keepalive (§9.13): after Config.Keepalive without any packet sent or
// received on an ESTABLISHED connection, send a probe whose one byte lies
// below the peer's rcv.nxt, so any receiver discards it and answers with an
// ACK. Silence for Config.IdleTimeout aborts the connection (dead peer);
// that check is in Tick.

func (c *Conn) keepaliveDeadline() time.Duration {
	if c.state != StateEstablished {
		return never
	}
	return c.lastActivity + c.cfg.Keepalive
}

func (c *Conn) tickKeepalive(t time.Duration) {
	if d := c.keepaliveDeadline(); d != never && t >= d {
		c.sendProbe = true
		c.lastActivity = t
	}
}

// probePacket is the keepalive probe: seq = snd.una − 1, one byte (the last
// acknowledged byte when known, else 0), ack = rcv.nxt, our window.
func (c *Conn) probePacket() packet.Packet {
	c.probeByte[0] = c.snd.lastAcked
	return packet.Packet{Flags: packet.FlagACK, Protocol: packet.ProtoStream, Seq: c.snd.una - 1,
		Ack: c.rcv.nxt, Window: c.rcv.window(), Payload: c.probeByte[:]}
}

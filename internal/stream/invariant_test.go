package stream

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/pilot-go/pilot/internal/wire/packet"
	"github.com/pilot-go/pilot/internal/wire/sack"
)

// checked wraps a Conn for the simulator and checks, after every Output,
// the invariants of the packets it emits (§9.5, §9.7, §9.8):
//   - data segments never overlap and retransmissions keep boundaries;
//   - no data segment parses as SACK the way the original reads it;
//   - SACK payloads are exactly 5 + 8·n bytes with n ≤ 4 and valid blocks;
//   - the advertised window is never 0 (except FIN and RST);
//   - bytes and segments in flight stay within the peer's window, and with
//     window 0 at most one segment is in flight.
type checked struct {
	c      *Conn
	fail   func(format string, args ...any)
	segs   map[uint32]int // first-sent boundaries
	high   uint32         // end of the highest segment sent
	inited bool
}

func newChecked(c *Conn, fail func(string, ...any)) *checked {
	return &checked{c: c, fail: fail, segs: make(map[uint32]int)}
}

func (k *checked) Handle(p *packet.Packet, now time.Time) { k.c.Handle(p, now) }
func (k *checked) Tick(now time.Time)                     { k.c.Tick(now) }
func (k *checked) NextDeadline() time.Time                { return k.c.NextDeadline() }

func (k *checked) Output(now time.Time, out []packet.Packet) []packet.Packet {
	start := len(out)
	wasUna := k.c.snd.una
	out = k.c.Output(now, out)
	newData := 0
	for i := start; i < len(out); i++ {
		if err := k.checkPacket(&out[i], wasUna, &newData); err != nil {
			k.fail("%v: %v", k.c.State(), err)
		}
	}
	s := &k.c.snd
	if newData > 0 {
		if w := int(s.peerWnd); w > 0 {
			if s.inFlightSegs() > w || int(s.nxt-s.una) > w*WindowUnit {
				k.fail("in flight %d segments / %d bytes beyond window %d", s.inFlightSegs(), s.nxt-s.una, w)
			}
		} else if newData > 1 || s.inFlightSegs() > 1 {
			k.fail("window 0: %d new segments, %d in flight", newData, s.inFlightSegs())
		}
	}
	return out
}

func (k *checked) checkPacket(p *packet.Packet, una uint32, newData *int) error {
	if p.Flags&(packet.FlagRST) == 0 && p.Flags != packet.FlagFIN && p.Window == 0 {
		return fmt.Errorf("window 0 advertised on %v", p.Flags)
	}
	if p.Flags&packet.FlagSYN != 0 {
		if !k.inited {
			k.inited = true
			k.high = p.Seq + 1
		}
		return nil
	}
	if !k.inited {
		k.inited = true
		k.high = k.c.ISN() + 1
	}
	if p.Flags != packet.FlagACK || len(p.Payload) == 0 {
		if len(p.Payload) > 0 {
			return fmt.Errorf("payload on %v", p.Flags)
		}
		return nil
	}
	if p.Seq == una-1 && len(p.Payload) == 1 {
		return nil // keepalive probe
	}
	if blocks, err := sack.Parse(p.Payload); err == nil {
		if len(p.Payload) != sack.Size(len(blocks)) || len(blocks) > 4 {
			return fmt.Errorf("bad SACK payload %x", p.Payload)
		}
		for _, b := range blocks {
			if !seqLT(b.Left, b.Right) || !seqGT(b.Left, p.Ack) {
				return fmt.Errorf("bad SACK block %+v (ack %d)", b, p.Ack)
			}
		}
		return nil
	}
	// A data segment.
	if originalParsesAsSACK(p.Payload) {
		return fmt.Errorf("data segment parses as SACK: %x", p.Payload[:min(16, len(p.Payload))])
	}
	if len(p.Payload) > k.c.cfg.MSS {
		return fmt.Errorf("segment of %d bytes > MSS", len(p.Payload))
	}
	if n, ok := k.segs[p.Seq]; ok {
		if n != len(p.Payload) {
			return fmt.Errorf("retransmission of %d changed length %d → %d", p.Seq, n, len(p.Payload))
		}
		return nil
	}
	if p.Seq != k.high {
		return fmt.Errorf("new segment at %d overlaps or leaves a gap (next %d)", p.Seq, k.high)
	}
	k.segs[p.Seq] = len(p.Payload)
	k.high = p.Seq + uint32(len(p.Payload))
	*newData++
	return nil
}

// originalParsesAsSACK is the original's lenient reading (§9.5 rule 3).
func originalParsesAsSACK(p []byte) bool {
	if len(p) < 5 || string(p[:4]) != sack.Magic {
		return false
	}
	n := int(p[4])
	return n >= 1 && n <= 4 && len(p) >= 5+8*n
}

// sackyData returns data sprinkled with "SACK" n patterns at segment-ish
// boundaries, so that SACK-pattern avoidance is exercised.
func sackyData(n int, seed uint64) []byte {
	b := testData(n, seed)
	for off := 0; off+40 < n; off += 4096 + int(binary.BigEndian.Uint16(b[off:])%5000) {
		copy(b[off:], "SACK")
		b[off+4] = byte(1 + off%4)
	}
	return b
}

package dataplane

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/wire/packet"
)

// pingKey matches a reply: peer node, our source port, request seq
// (networks ignored, §1.5).
type pingKey struct {
	peer addr.NodeID
	port addr.Port
	seq  uint32
}

type pingWait struct {
	payload []byte
	ch      chan time.Time
}

// ErrPingTimeout is returned by Ping when ctx ends before the reply.
var ErrPingTimeout = errors.New("ping: no reply")

// handleControl is wire.md §11: answer requests to port 0 with the ACK flag
// clear (never a packet with ACK set), at most 10 answers per second per
// peer, payloads ≤ 1,024 bytes; replies to our own pings complete Ping.
// Control packets bypass admission (§8 step 1).
func (dp *DataPlane) handleControl(from addr.NodeID, p *packet.Packet) {
	if len(p.Payload) > maxPingPayload {
		return
	}
	if p.Flags.Has(packet.FlagACK) {
		dp.pingReply(from, p)
		return
	}
	if p.DstPort != 0 || p.Flags != 0 {
		return
	}
	now := time.Now()
	dp.mu.Lock()
	l := limiterFor(dp.pingSrc, from, pingAnswersPerSec, pingAnswersPerSec)
	ok := l != nil && l.AllowN(now, 1)
	dp.mu.Unlock()
	if !ok {
		return
	}
	r := packet.Packet{Flags: packet.FlagACK, Protocol: packet.ProtoControl,
		Src: p.Dst, Dst: p.Src, SrcPort: 0, DstPort: p.SrcPort,
		Seq: p.Seq, Ack: p.Seq + 1, Payload: append([]byte(nil), p.Payload...)}
	_ = dp.send(from, &r)
}

func (dp *DataPlane) pingReply(from addr.NodeID, p *packet.Packet) {
	if p.Flags != packet.FlagACK || p.SrcPort != 0 || p.Ack != p.Seq+1 {
		return
	}
	now := time.Now()
	dp.mu.Lock()
	w, ok := dp.pings[pingKey{from, p.DstPort, p.Seq}]
	dp.mu.Unlock()
	if !ok || !bytes.Equal(w.payload, p.Payload) {
		return
	}
	select {
	case w.ch <- now:
	default:
	}
}

// Ping sends a control ping to a (wire.md §11) from an ephemeral source
// port and returns the round-trip time; for path validation (§7.6).
func (dp *DataPlane) Ping(ctx context.Context, a addr.Addr) (time.Duration, error) {
	self := dp.self()
	if self == 0 || a.Node == 0 || a.IsBroadcast() {
		return 0, fmt.Errorf("ping %s: invalid address", a)
	}
	var rnd [12]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return 0, err
	}
	start := time.Now()
	payload := make([]byte, 16)
	binary.BigEndian.PutUint64(payload, uint64(start.UnixNano()))
	copy(payload[8:], rnd[4:])
	seq := binary.BigEndian.Uint32(rnd[:4])
	w := pingWait{payload: payload, ch: make(chan time.Time, 1)}
	dp.mu.Lock()
	port := dp.ephemeralLocked(0, 0, start)
	if port == 0 || dp.closing {
		dp.mu.Unlock()
		return 0, fmt.Errorf("ping %s: no free port", a)
	}
	dp.ports.held[port] = struct{}{}
	key := pingKey{a.Node, port, seq}
	dp.pings[key] = w
	dp.mu.Unlock()
	defer func() {
		dp.mu.Lock()
		delete(dp.pings, key)
		delete(dp.ports.held, port)
		dp.mu.Unlock()
	}()
	p := packet.Packet{Protocol: packet.ProtoControl, Src: addr.New(a.Network, self), Dst: a,
		SrcPort: port, DstPort: 0, Seq: seq, Payload: payload}
	if err := dp.send(a.Node, &p); err != nil {
		return 0, fmt.Errorf("ping %s: %w", a, err)
	}
	select {
	case at := <-w.ch:
		return at.Sub(start), nil
	case <-ctx.Done():
		return 0, fmt.Errorf("%w from %s: %v", ErrPingTimeout, a, ctx.Err())
	case <-dp.ctx.Done():
		return 0, ErrClosed
	}
}

package beacon

import (
	"context"
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/wire/beaconmsg"
)

// relayJob is a queued Relay message. msg is a private copy of the whole
// datagram (05 ‖ X ‖ D ‖ F): a peer forward sends it unchanged, a local
// delivery rewrites its first 9 bytes in place into 06 ‖ X ‖ F.
type relayJob struct {
	msg      []byte
	dest     addr.NodeID
	fromPeer bool
}

func (s *Server) relayDrop(r dropReason) {
	s.ctr.relay[relayDropped].Add(1)
	s.ctr.drop(r)
}

// handleRelay implements §6.1 steps 1–4 on the read loop: frame checks,
// source check, per-sender limits, then a non-blocking enqueue.
func (s *Server) handleRelay(m beaconmsg.Relay, raw []byte, src netip.AddrPort, local netip.Addr, now time.Time) {
	if len(m.Frame) > beaconmsg.MaxRelayFrame {
		s.relayDrop(dropSize)
		return
	}
	if !beaconmsg.Relayable(m.Frame) {
		s.relayDrop(dropMagic)
		return
	}
	fromPeer := s.peers.has(src)
	if fromPeer {
		s.peers.noteLocal(src, local)
	} else if e, ok := s.table.lookup(m.Sender, now); !ok || e.ep != src {
		s.relayDrop(dropSource)
		return
	}
	if !s.relayPkts.allow(m.Sender, now, 1) || !s.relayBytes.allow(m.Sender, now, len(raw)) {
		s.relayDrop(dropRate)
		return
	}
	if s.queuedBytes.Add(int64(len(raw))) > maxQueuedBytes {
		s.queuedBytes.Add(-int64(len(raw)))
		s.relayDrop(dropFull)
		return
	}
	job := relayJob{msg: append([]byte(nil), raw...), dest: m.Dest, fromPeer: fromPeer}
	select {
	case s.relayQ <- job:
	default:
		s.queuedBytes.Add(-int64(len(raw)))
		s.relayDrop(dropFull)
	}
}

// relayLoop is one relay worker (§6.1 step 5).
func (s *Server) relayLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-s.relayQ:
			if s.hooks.beforeRelay != nil {
				s.hooks.beforeRelay()
			}
			r := s.relay(j)
			s.queuedBytes.Add(-int64(len(j.msg)))
			if s.hooks.relayed != nil {
				s.hooks.relayed(r)
			}
		}
	}
}

// relay delivers a job to a local node, or forwards it once to the peer
// beacon that announced the destination (never when it came from a peer:
// one hop at most), or counts it as not found.
func (s *Server) relay(j relayJob) relayResult {
	e, isLocal, peer, viaPeer := s.table.route(j.dest, s.cfg.Now())
	switch {
	case isLocal:
		// 05 X(4) D(4) F  →  .... 06 X(4) F, 4 bytes shorter.
		sender := binary.BigEndian.Uint32(j.msg[1:5])
		d := j.msg[4:]
		d[0] = byte(beaconmsg.TypeRelayDeliver)
		binary.BigEndian.PutUint32(d[1:5], sender)
		s.send(d, e.ep, e.local)
		s.ctr.relay[relayForwarded].Add(1)
		return relayForwarded
	case viaPeer && !j.fromPeer:
		s.send(j.msg, peer, s.peers.localFor(peer))
		s.ctr.relay[relayPeer].Add(1)
		return relayPeer
	default:
		s.ctr.relay[relayNotFound].Add(1)
		return relayNotFound
	}
}

package tunnel

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/tunnel/session"
	"github.com/pilot-go/pilot/internal/wire/frame"
	"github.com/pilot-go/pilot/internal/wire/packet"
)

// ErrPeerTable: the peer table holds MaxPeers peers.
var ErrPeerTable = errors.New("tunnel: peer table full")

// bufPool holds datagram-sized scratch buffers for the send path.
var bufPool = sync.Pool{New: func() any {
	b := make([]byte, 0, frame.MaxDatagram+16)
	return &b
}}

// relayHeaderSize is 05 ‖ sender ‖ destination (§13).
const relayHeaderSize = 9

// Send sends pk to peer (wire.md §6.5). It never waits for the network:
// without a crypto state the packet is queued (at most 64 packets and
// 256 KiB per peer, 10 s) and key exchange starts (T1); it fails with
// ErrTooManyPending when 1,024 peers already have a queue. A nil error
// does not mean delivery: like UDP, frames can be lost.
func (m *Manager) Send(peerID addr.NodeID, pk *packet.Packet) error {
	if err := m.canSend(peerID); err != nil {
		return err
	}
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	raw, err := pk.AppendTo((*bp)[:0])
	if err != nil {
		return fmt.Errorf("tunnel: marshal packet: %w", err)
	}
	*bp = raw[:0]
	return m.sendRaw(peerID, raw)
}

// canSend refuses an invalid peer ID and a stopped manager.
func (m *Manager) canSend(peerID addr.NodeID) error {
	if !m.validPeer(peerID) {
		return fmt.Errorf("%w: %d", ErrInvalidPeer, peerID)
	}
	select {
	case <-m.stop:
		return ErrClosed
	default:
		return nil
	}
}

// sendRaw sends a marshalled packet.
func (m *Manager) sendRaw(id addr.NodeID, raw []byte) error {
	p := m.lockPeer(id)
	if p == nil {
		return ErrPeerTable
	}
	defer p.mu.Unlock()
	return m.sendRawLocked(p, raw, m.cfg.Now())
}

// sendRawLocked is sendRaw with p.mu held.
func (m *Manager) sendRawLocked(p *peer, raw []byte, now time.Time) error {
	if p.cur != nil {
		err := m.sealSendLocked(p, raw, now)
		if !errors.Is(err, session.ErrSendClosed) && !errors.Is(err, session.ErrExhausted) {
			return err
		}
		// The state cannot seal any more (own prefix seen, exhausted):
		// rekey at once and seal under the new state.
		m.rekeyLocked(p, now, true)
		if p.cur != nil {
			return m.sealSendLocked(p, raw, now)
		}
	}
	if m.cfg.Plaintext {
		if t := p.directTargetLocked(); t.IsValid() || p.relay {
			return m.sendPILTLocked(p, raw, now)
		}
	}
	return m.enqueueLocked(p, raw, now)
}

// enqueueLocked queues a packet while P has no crypto state (§6.5) and
// starts the setup (T1).
func (m *Manager) enqueueLocked(p *peer, raw []byte, now time.Time) error {
	if len(p.queue) == 0 {
		for {
			n := m.pending.Load()
			if n >= MaxPendingPeers {
				return ErrTooManyPending
			}
			if m.pending.CompareAndSwap(n, n+1) {
				break
			}
		}
	}
	p.queue = append(p.queue, queued{pkt: append([]byte(nil), raw...), at: now})
	p.queueBytes += len(raw)
	for len(p.queue) > QueuePackets || (p.queueBytes > QueueBytes && len(p.queue) > 1) {
		m.dropQueueHeadLocked(p)
	}
	if !p.setupActive {
		p.setupActive = true
		m.wakeTicker()
		p.setupSends = 0
		p.setupStart = now
		p.setupNext = now
		p.setupInterval = time.Second
		m.setupStepLocked(p, now)
	}
	return nil
}

func (m *Manager) dropQueueHeadLocked(p *peer) {
	p.queueBytes -= len(p.queue[0].pkt)
	p.queue[0] = queued{}
	p.queue = p.queue[1:]
	m.ctr.queueDrops.Add(1)
	if len(p.queue) == 0 {
		m.clearQueueLocked(p)
	}
}

// clearQueueLocked empties queue[P] and releases its pending slot.
func (m *Manager) clearQueueLocked(p *peer) {
	if p.queue != nil {
		m.pending.Add(-1)
	}
	p.queue, p.queueBytes = nil, 0
}

// flushLocked seals and sends every queued packet under cur[P] (§6.3 step
// 9), or as PILT with -encrypt=false and no state.
func (m *Manager) flushLocked(p *peer, now time.Time) {
	q := p.queue
	if q == nil {
		return
	}
	m.clearQueueLocked(p)
	for _, e := range q {
		if now.Sub(e.at) > QueueAge {
			continue
		}
		if p.cur != nil {
			_ = m.sealSendLocked(p, e.pkt, now)
		} else {
			_ = m.sendPILTLocked(p, e.pkt, now)
		}
	}
}

// sealSendLocked seals raw under cur[P] and sends it on path[P].
func (m *Manager) sealSendLocked(p *peer, raw []byte, now time.Time) error {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := (*bp)[:0]
	to := m.cfg.Beacon
	if p.relay {
		buf = buf[:relayHeaderSize]
		m.putRelayHeader(buf, p.id)
	} else if to = p.directTargetLocked(); !to.IsValid() {
		m.ctr.noRoute.Add(1)
		return errors.New("tunnel: no endpoint for peer")
	} else if p.txq != nil {
		if err := p.txq.sealRaw(p.cur, raw, to); err != nil {
			return err
		}
		m.sealedLocked(p, now)
		return nil
	}
	out, err := p.cur.Seal(buf, raw)
	if err != nil {
		return err
	}
	*bp = out[:0]
	m.ctr.sealed.Add(1)
	p.framesSent++
	p.lastTx = now
	m.wakeOnTraffic()
	return m.write(out, to)
}

// sendPILTLocked sends raw as PILT (-encrypt=false, §6.10).
func (m *Manager) sendPILTLocked(p *peer, raw []byte, now time.Time) error {
	buf := make([]byte, 0, relayHeaderSize+frame.MagicSize+len(raw))
	to := m.cfg.Beacon
	if p.relay {
		buf = buf[:relayHeaderSize]
		m.putRelayHeader(buf, p.id)
	} else if to = p.directTargetLocked(); !to.IsValid() {
		return errors.New("tunnel: no endpoint for peer")
	}
	buf = append(buf, frame.MagicPILT[:]...)
	buf = append(buf, raw...)
	p.framesSent++
	p.lastTx = now
	m.wakeOnTraffic()
	return m.write(buf, to)
}

// setupStepLocked is T1 (§6.2): while packets are queued without a crypto
// state, send a PILA with a fresh key to every candidate, at once and then
// after 1, 2, 4, 8, 8 … s; after 3 s without an answer switch to the relay
// (§7.5). Holds until our node ID is known and candidates exist.
func (m *Manager) setupStepLocked(p *peer, now time.Time) {
	if !p.setupActive || p.cur != nil || m.cfg.Plaintext {
		if m.cfg.Plaintext && p.cur == nil && len(p.queue) > 0 {
			if p.directTargetLocked().IsValid() || p.relay {
				m.flushLocked(p, now)
			} else {
				m.startResolveLocked(p, now)
			}
		}
		return
	}
	if m.NodeID() == 0 {
		return // §6.2: hold until registered
	}
	if !p.relay && !p.endpoint.IsValid() && len(p.candidates) == 0 {
		m.startResolveLocked(p, now) // may answer at once from the cache
		if len(p.candidates) == 0 {
			if !p.resolving && !p.resolvedAt.IsZero() && m.cfg.Beacon.IsValid() {
				m.switchRelayLocked(p, now) // nothing to try directly
			}
			return
		}
	}
	if p.setupSends == 0 {
		p.setupStart, p.setupNext = now, now
	}
	if !p.relay && m.cfg.Beacon.IsValid() && now.Sub(p.setupStart) >= RelayAfterSetup {
		m.switchRelayLocked(p, now)
		return
	}
	if now.Before(p.setupNext) {
		return
	}
	if err := m.freshLocalLocked(p); err != nil {
		return
	}
	first := p.setupSends == 0
	p.setupSends++
	if p.relay || p.endpoint.IsValid() {
		m.sendPILALocked(p, now, first)
	} else {
		m.sendPILALocked(p, now, first, p.candidates...)
	}
	p.setupNext = now.Add(p.setupInterval)
	p.setupInterval = min(2*p.setupInterval, SetupMaxBackoff)
}

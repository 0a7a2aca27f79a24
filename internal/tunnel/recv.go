package tunnel

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/tunnel/session"
	"github.com/pilot-go/pilot/internal/wire/frame"
	"github.com/pilot-go/pilot/internal/wire/packet"
)

// replayEventGap: security.nonce_replay at most once per minute per peer.
const replayEventGap = time.Minute

// maxCtrPrefixes bounds the per-prefix maxima kept for endpoint learning.
const maxCtrPrefixes = 32

// handlePILS is wire.md §6.6, on the reader.
func (m *Manager) handlePILS(b []byte, src netip.AddrPort, relaySender addr.NodeID, viaRelay bool) {
	if len(b) < frame.MinPILS { // step 1
		m.ctr.dropped.Add(1)
		return
	}
	sender := addr.NodeID(binary.BigEndian.Uint32(b[4:8]))
	if !m.validPeer(sender) || (viaRelay && sender != relaySender) || m.NodeID() == 0 {
		m.ctr.dropped.Add(1)
		return
	}
	now := m.cfg.Now()
	p := m.lookupPeer(sender) // step 2
	if p == nil {
		m.ctr.openFailures.Add(1)
		m.recover(sender, src, viaRelay, now)
		return
	}
	p.mu.Lock()
	if p.dead {
		p.mu.Unlock()
		m.recover(sender, src, viaRelay, now)
		return
	}
	cur, prev := p.cur, p.prevLocked(now)
	if cur == nil && prev == nil {
		m.ctr.openFailures.Add(1)
		m.recoverLocked(p, src, viaRelay, now)
		p.mu.Unlock()
		return
	}
	pt, st, err := session.OpenFirst(m.plain[:0], b, cur, prev) // steps 3–6
	if err != nil {
		switch {
		case errors.Is(err, session.ErrReplay): // step 4
			p.replays++
			m.ctr.replays.Add(1)
			if now.Sub(p.lastReplayEvent) >= replayEventGap {
				p.lastReplayEvent = now
				m.emit(Event{Name: EventNonceReplay, Peer: sender, Counter: binary.BigEndian.Uint64(b[12:20])})
			}
		case errors.Is(err, session.ErrAuth), errors.Is(err, session.ErrNoState): // step 5
			p.decryptFailures++
			m.ctr.openFailures.Add(1)
			m.recoverLocked(p, src, viaRelay, now)
		default:
			m.ctr.dropped.Add(1)
		}
		p.mu.Unlock()
		return
	}
	m.ctr.opened.Add(1)
	if st == cur && p.rekeyPending {
		m.confirmRekeyLocked(p, now) // any frame authenticating under the new state
	}
	pk := &m.rx                                                 // reader-owned: no allocation per packet
	if packet.Decode(pt, pk) != nil || !m.innerOK(pk, sender) { // steps 7–8
		m.ctr.innerDrops.Add(1)
		p.mu.Unlock()
		return
	}
	p.framesRecv++
	p.lastRx = now
	m.wakeOnTraffic()
	// step 9: endpoint learning (§7.2) and path evidence (§7.5)
	if st == cur {
		var prefix [4]byte
		copy(prefix[:], b[8:12])
		ctr := binary.BigEndian.Uint64(b[12:20])
		newMax := ctr > p.maxCtr[prefix]
		if newMax {
			if len(p.maxCtr) >= maxCtrPrefixes {
				clear(p.maxCtr)
			}
			p.maxCtr[prefix] = ctr
		}
		if viaRelay || newMax {
			m.pathEvidenceLocked(p, src, viaRelay, now)
		}
		if tr := cur.Triggers(now, m.cfg.RekeyInterval); tr != 0 {
			p.rekeyRequest = true // handled by the next tick, off the reader
			m.wakeTicker()
		}
	} else if !viaRelay {
		p.lastDirectAuth = now
	}
	if m.holding && !viaRelay {
		m.deferTxLocked(p) // answers leave together after the read (batch.go)
	}
	consumed := m.probeReplyLocked(p, pk, viaRelay, src, now)
	auth := p.auth == authPILA
	p.mu.Unlock()
	if !consumed {
		m.cfg.Deliver(sender, viaRelay, auth, pk)
	}
}

// innerOK is §6.6 step 8: the source is the sender, the destination is us
// in network 0 or one of ours, and neither address is unspecified or
// broadcast.
func (m *Manager) innerOK(pk *packet.Packet, sender addr.NodeID) bool {
	if pk.Src.Node != sender || pk.Dst.Node != m.NodeID() {
		return false
	}
	if pk.Src.IsUnspecified() || pk.Dst.IsUnspecified() || pk.Src.IsBroadcast() || pk.Dst.IsBroadcast() {
		return false
	}
	if pk.Dst.Network != addr.Backbone && (m.cfg.IsMember == nil || !m.cfg.IsMember(pk.Dst.Network)) {
		return false
	}
	return true
}

// handlePILT is §6.10: dropped (and answered like §6.8) with encryption
// on; accepted as plaintext with -encrypt=false.
func (m *Manager) handlePILT(b []byte, src netip.AddrPort, relaySender addr.NodeID, viaRelay bool) {
	pk := &m.rx
	if len(b) < frame.MinPILT || packet.Decode(b[frame.MagicSize:], pk) != nil {
		m.ctr.dropped.Add(1)
		return
	}
	sender := pk.Src.Node
	if !m.validPeer(sender) || (viaRelay && sender != relaySender) || m.NodeID() == 0 {
		m.ctr.dropped.Add(1)
		return
	}
	if !m.cfg.Plaintext {
		m.ctr.pilTDropped.Add(1)
		m.recover(sender, src, viaRelay, m.cfg.Now())
		return
	}
	if !m.innerOK(pk, sender) {
		m.ctr.innerDrops.Add(1)
		return
	}
	if p := m.lookupPeer(sender); p != nil {
		p.mu.Lock()
		p.framesRecv++
		p.lastRx = m.cfg.Now()
		p.mu.Unlock()
		m.wakeOnTraffic()
	}
	m.cfg.Deliver(sender, viaRelay, false, pk)
}

// recover sends a recovery PILA (§6.8) to a peer we hold no entry for.
func (m *Manager) recover(sender addr.NodeID, src netip.AddrPort, viaRelay bool, now time.Time) {
	if !m.recoverLim.AllowN(now, 1) {
		return
	}
	p := m.lockPeer(sender)
	if p == nil {
		return
	}
	defer p.mu.Unlock()
	m.recoverLockedNoGlobal(p, src, viaRelay, now)
}

// recoverLocked is T4 (§6.8): at most one per peer per 2 s and 50/s in
// total.
func (m *Manager) recoverLocked(p *peer, src netip.AddrPort, viaRelay bool, now time.Time) {
	if now.Sub(p.lastRecover) < 2*time.Second || !m.recoverLim.AllowN(now, 1) {
		return
	}
	m.recoverLockedNoGlobal(p, src, viaRelay, now)
}

func (m *Manager) recoverLockedNoGlobal(p *peer, src netip.AddrPort, viaRelay bool, now time.Time) {
	if m.cfg.Plaintext && p.cur == nil {
		return // -encrypt=false never initiates key exchange
	}
	if now.Sub(p.lastRecover) < 2*time.Second {
		return
	}
	p.lastRecover = now
	m.ctr.recoveries.Add(1)
	switch {
	case p.relay || (p.endpoint.IsValid()):
		m.sendPILALocked(p, now, false)
	case viaRelay:
		if m.cfg.Beacon.IsValid() {
			m.sendPILAViaRelayLocked(p, now)
		}
	default:
		m.sendPILALocked(p, now, false, src)
	}
}

// sendPILAViaRelayLocked sends our PILA through the relay without changing
// path[P].
func (m *Manager) sendPILAViaRelayLocked(p *peer, now time.Time) {
	was := p.relay
	p.relay = true
	m.sendPILALocked(p, now, false)
	p.relay = was
}

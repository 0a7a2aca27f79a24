package tunnel

import (
	"context"
	"encoding/binary"
	"net/netip"
	"time"

	"golang.org/x/time/rate"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/tunnel/session"
	"github.com/pilot-go/pilot/internal/wire/frame"
)

// Receive-side rate limits of §6.3 step 2.
const (
	srcRate, srcBurst   = 20, 40
	nodeRate, nodeBurst = 5, 10
	limiterMapMax       = 4096
)

// freshLocalLocked replaces local[P] with a fresh key pair (T1, T5).
func (m *Manager) freshLocalLocked(p *peer) error {
	k, err := m.newKey()
	if err != nil {
		return err
	}
	p.local = k
	copy(p.localPub[:], k.PublicKey().Bytes())
	p.pilaFrame = nil
	return nil
}

// ensureLocalLocked creates local[P] when absent (T2, T3, T4).
func (m *Manager) ensureLocalLocked(p *peer) error {
	if p.local != nil {
		return nil
	}
	return m.freshLocalLocked(p)
}

// pilaLocked returns our PILA for local[P] (§5.4), signed once per key.
func (m *Manager) pilaLocked(p *peer) ([]byte, error) {
	node := m.NodeID()
	if p.pilaFrame != nil && p.pilaNode == node {
		return p.pilaFrame, nil
	}
	f, err := session.SignPILA(m.ident.Load().PrivateKey(), node, p.localPub)
	if err != nil {
		return nil, err
	}
	b, _ := f.AppendTo(make([]byte, 0, frame.SizePILA))
	p.pilaFrame, p.pilaNode = b, node
	return b, nil
}

// sendPILALocked sends our PILA to P (§6.2): through the relay when
// path[P] is relay, else to targets, else to the direct target. Unless
// exempt (T1 first send) it obeys 4/s per peer and 500/s in total. It
// reports whether a PILA left.
func (m *Manager) sendPILALocked(p *peer, now time.Time, exempt bool, targets ...netip.AddrPort) bool {
	if m.NodeID() == 0 {
		return false // §6.2: never before registration
	}
	if err := m.ensureLocalLocked(p); err != nil {
		return false
	}
	if !exempt && !p.pilaLimit.AllowN(now, 1) {
		return false
	}
	if !m.pilaGlobal.AllowN(now, 1) {
		return false
	}
	b, err := m.pilaLocked(p)
	if err != nil {
		return false
	}
	p.lastPILA = now
	m.ctr.pilaSent.Add(1)
	switch {
	case p.relay && len(targets) == 0:
		m.relayWrite(p.id, b)
	case len(targets) > 0:
		for _, t := range targets {
			_ = m.write(b, t)
		}
	default:
		if t := p.directTargetLocked(); t.IsValid() {
			_ = m.write(b, t)
		}
	}
	return true
}

// relayWrite sends frame to peer through the beacon (§7.5).
func (m *Manager) relayWrite(peer addr.NodeID, fr []byte) {
	buf := make([]byte, 9, 9+len(fr))
	m.putRelayHeader(buf, peer)
	_ = m.write(append(buf, fr...), m.cfg.Beacon)
}

// putRelayHeader writes 05 ‖ own ID ‖ peer into b[:9].
func (m *Manager) putRelayHeader(b []byte, peer addr.NodeID) {
	b[0] = 0x05
	binary.BigEndian.PutUint32(b[1:5], uint32(m.NodeID()))
	binary.BigEndian.PutUint32(b[5:9], uint32(peer))
}

// limiter returns the token bucket of key in mp, bounding the map.
func limiter[K comparable](mp map[K]*rate.Limiter, k K, r rate.Limit, burst int) *rate.Limiter {
	l := mp[k]
	if l == nil {
		if len(mp) >= limiterMapMax {
			clear(mp)
		}
		l = rate.NewLimiter(r, burst)
		mp[k] = l
	}
	return l
}

// handleKeyExchange runs the cheap checks of §6.3 steps 2–3 / §6.4 step 1
// on the reader and hands the frame to the worker pool.
func (m *Manager) handleKeyExchange(b []byte, src netip.AddrPort, relaySender addr.NodeID, viaRelay bool) {
	if m.NodeID() == 0 {
		m.ctr.dropped.Add(1) // cannot answer before registration; P retransmits
		return
	}
	isPILA := frame.Classify(b) == frame.KindPILA
	size := frame.SizePILK
	if isPILA {
		size = frame.SizePILA
	}
	if len(b) < size {
		m.ctr.dropped.Add(1)
		return
	}
	sender := addr.NodeID(binary.BigEndian.Uint32(b[4:8]))
	if !m.validPeer(sender) || (viaRelay && sender != relaySender) {
		m.ctr.dropped.Add(1)
		return
	}
	now := m.cfg.Now()
	if !viaRelay && !limiter(m.srcLimits, src.Addr(), srcRate, srcBurst).AllowN(now, 1) {
		m.ctr.rateLimited.Add(1)
		return
	}
	if !limiter(m.nodeLimits, sender, nodeRate, nodeBurst).AllowN(now, 1) {
		m.ctr.rateLimited.Add(1)
		return
	}
	if isPILA {
		var f frame.PILA
		if f.Decode(b) != nil {
			return
		}
		m.submit(func(ctx context.Context) { m.processPILA(ctx, f, src, viaRelay) })
		return
	}
	var f frame.PILK
	if f.Decode(b) != nil {
		return
	}
	m.submit(func(ctx context.Context) { m.processPILK(ctx, f, src, viaRelay) })
}

// lockPeer returns the live peer entry for id, locked (nil when the table
// is full).
func (m *Manager) lockPeer(id addr.NodeID) *peer {
	for {
		p := m.getPeer(id)
		if p == nil {
			return nil
		}
		p.mu.Lock()
		if !p.dead {
			return p
		}
		p.mu.Unlock()
	}
}

// keyUsable: §6.3 step 4 (not zero, not retired; the shared secret is
// checked when the state is built).
func (m *Manager) keyUsable(id addr.NodeID, key [32]byte) bool {
	if key == ([32]byte{}) {
		return false
	}
	p := m.lookupPeer(id)
	if p == nil {
		return true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return !p.isRetiredLocked(key)
}

// processPILA is §6.3 steps 4–9, on a worker.
func (m *Manager) processPILA(ctx context.Context, f frame.PILA, src netip.AddrPort, viaRelay bool) {
	if !m.keyUsable(f.Sender, f.X25519) {
		m.ctr.kxRejected.Add(1)
		return
	}
	if session.VerifyPILA(&f) != nil {
		m.ctr.kxRejected.Add(1)
		return
	}
	if !m.keys.matches(ctx, f.Sender, f.Ed25519[:]) {
		m.ctr.kxRejected.Add(1)
		return
	}
	p := m.lockPeer(f.Sender)
	if p == nil {
		return
	}
	defer p.mu.Unlock()
	m.acceptKeyLocked(p, f.X25519, src, viaRelay, authPILA)
}

// processPILK is §6.4, on a worker.
func (m *Manager) processPILK(ctx context.Context, f frame.PILK, src netip.AddrPort, viaRelay bool) {
	if !m.keyUsable(f.Sender, f.X25519) {
		m.ctr.kxRejected.Add(1)
		return
	}
	if p := m.lookupPeer(f.Sender); p != nil {
		p.mu.Lock()
		authed := p.cur != nil && p.cur.Authenticated()
		p.mu.Unlock()
		if authed {
			m.ctr.kxRejected.Add(1)
			return // step 2: never downgrade
		}
	}
	known, err := m.keys.registered(ctx, f.Sender)
	if err != nil {
		m.ctr.kxRejected.Add(1)
		return
	}
	p := m.lockPeer(f.Sender)
	if p == nil {
		return
	}
	defer p.mu.Unlock()
	now := m.cfg.Now()
	if known { // step 3: a registered node must authenticate
		m.ctr.kxRejected.Add(1)
		if now.Sub(p.lastPILA) < time.Second {
			return
		}
		switch {
		case p.endpoint.IsValid() && !p.relay:
			m.sendPILALocked(p, now, false, p.endpoint)
		case viaRelay || p.relay:
			m.sendPILALocked(p, now, false)
		default:
			m.sendPILALocked(p, now, false, src)
		}
		return
	}
	if p.cur != nil && p.cur.Authenticated() {
		return
	}
	m.acceptKeyLocked(p, f.X25519, src, viaRelay, authPILK) // step 4
}

// acceptKeyLocked applies an accepted PILA/PILK: §6.3 steps 8 and 9.
func (m *Manager) acceptKeyLocked(p *peer, key [32]byte, src netip.AddrPort, viaRelay bool, mode authMode) {
	now := m.cfg.Now()
	p.lastRx = now
	m.wakeOnTraffic()
	if p.cur != nil && p.hasPeerx && key == p.peerx { // step 8: unchanged key
		if mode == authPILA && p.auth != authPILA {
			// §6.4: a later valid PILA replaces the unauthenticated
			// (PILK) state. The original keeps one X25519 key for its
			// whole life, so its PILA signs the key of our PILK state:
			// that state is now authenticated, and is kept (a new state
			// under the same key would restart its counter and windows).
			p.cur.Authenticate()
			p.auth = authPILA
			m.emit(Event{Name: EventEstablished, Peer: p.id, Authenticated: true, Relay: viaRelay || p.relay, Rekeyed: true})
		}
		m.pathEvidenceLocked(p, src, viaRelay, now)
		if p.rekeyPending {
			m.confirmRekeyLocked(p, now)
		}
		if now.Sub(p.lastPILA) >= time.Second { // T3
			m.sendPILALocked(p, now, false)
		}
		return
	}
	// step 9: new state
	if err := m.ensureLocalLocked(p); err != nil {
		return
	}
	st, err := session.New(session.Config{
		LocalNode:     m.NodeID(),
		PeerNode:      p.id,
		Private:       p.local,
		PeerPublic:    key,
		Authenticated: mode == authPILA,
		Created:       now,
		Rand:          m.cfg.Rand,
	})
	if err != nil { // low-order key: drop (§5.2)
		m.ctr.kxRejected.Add(1)
		return
	}
	rekeyed := p.cur != nil
	if p.cur != nil {
		if p.hasPeerx {
			p.retireLocked(p.peerx)
		}
		p.cur.CloseSend()
		p.prev, p.prevUntil = p.cur, now.Add(PrevMax)
	}
	p.cur, p.peerx, p.hasPeerx, p.auth = st, key, true, mode
	clear(p.maxCtr)
	p.rekeyPending = false
	p.setupActive = false
	m.pathEvidenceLocked(p, src, viaRelay, now)
	m.sendPILALocked(p, now, false) // T2
	m.flushLocked(p, now)
	m.ctr.established.Add(1)
	m.emit(Event{Name: EventEstablished, Peer: p.id, Authenticated: mode == authPILA, Relay: viaRelay || p.relay, Rekeyed: rekeyed})
}

// pathEvidenceLocked records an authenticated frame from P: direct ones
// move endpoint[P] (§7.2); relayed ones may switch the path to relay
// (§7.5, third condition).
func (m *Manager) pathEvidenceLocked(p *peer, src netip.AddrPort, viaRelay bool, now time.Time) {
	if !viaRelay {
		m.setEndpointLocked(p, src)
		p.lastDirectAuth = now
		if p.relay && now.Sub(p.retryKick) >= RekeyMinGap {
			// (ours) P reaches us directly while we relay: probe the direct
			// path now instead of at the next 5-minute retry (§7.6).
			p.retryKick = now
			p.nextRetry = now
		}
		return
	}
	if !p.relay && m.cfg.Beacon.IsValid() && now.Sub(p.lastDirectAuth) > DirectEvidence {
		m.switchRelayLocked(p, now)
	}
}

// setEndpointLocked sets endpoint[P] (raising tunnel.peer_added the first
// time).
func (m *Manager) setEndpointLocked(p *peer, ep netip.AddrPort) {
	if !ep.IsValid() || p.endpoint == ep {
		return
	}
	p.endpoint, p.lastKnown = ep, ep
	if !p.addedEventRaised {
		p.addedEventRaised = true
		m.emit(Event{Name: EventPeerAdded, Peer: p.id, Endpoint: ep})
	}
}

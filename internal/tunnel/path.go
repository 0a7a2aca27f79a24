package tunnel

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/wire/packet"
)

// resolveTimeout bounds one resolve made by a worker; resolveRetry is the
// wait before asking an unreachable registry again.
const (
	resolveTimeout = 10 * time.Second
	resolveRetry   = 2 * time.Second
)

// jitter returns d ± 10 %.
func jitter(d time.Duration) time.Duration {
	return d - d/10 + time.Duration(rand.Int64N(int64(d/5)+1))
}

// startResolveLocked starts an asynchronous resolve of P for first contact
// (§7.1) unless one is running or the 60 s cache is fresh.
func (m *Manager) startResolveLocked(p *peer, now time.Time) {
	if p.resolving || now.Before(p.resolveNext) {
		return
	}
	if m.cfg.Resolver == nil {
		m.applyResolutionLocked(p, Resolution{}, ErrUnreachable, now)
		return
	}
	p.resolving = true
	m.wakeTicker()
	id, gen := p.id, p.resolveGen
	if !m.submit(func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, resolveTimeout)
		res, err := m.cfg.Resolver.Resolve(ctx, id)
		cancel()
		p := m.lockPeer(id)
		if p == nil {
			return
		}
		defer p.mu.Unlock()
		p.resolving = false
		now := m.cfg.Now()
		if p.resolveGen != gen {
			// Invalidated while asking (trust or policy changed): the
			// answer may be a refusal that no longer holds. Ask again.
			m.startResolveLocked(p, now)
			return
		}
		m.applyResolutionLocked(p, res, err, now)
		m.setupStepLocked(p, now)
	}) {
		p.resolving = false
	}
}

// Resolve resolves peer now (first contact of a dial, §7.1 step 1),
// blocking the caller, and returns "resolve node P: <registry message>"
// when the registry refuses. A peer with an authenticated crypto state and
// a known path needs no resolve: nil at once, whatever the registry said
// before. A fresh cached answer is used as is (successes 60 s, refusals
// 5 s, until InvalidateResolve); with the registry unreachable the last
// known endpoint, if any, is used.
func (m *Manager) Resolve(ctx context.Context, id addr.NodeID) error {
	if !m.validPeer(id) {
		return fmt.Errorf("%w: %d", ErrInvalidPeer, id)
	}
	p := m.lockPeer(id)
	if p == nil {
		return ErrPeerTable
	}
	now := m.cfg.Now()
	if p.reachableLocked() {
		p.mu.Unlock()
		return nil
	}
	if now.Before(p.resolveNext) {
		err := p.resolveErr
		p.mu.Unlock()
		return err
	}
	gen := p.resolveGen
	p.mu.Unlock()
	for asked := 0; ; asked++ {
		var res Resolution
		err := ErrUnreachable
		if m.cfg.Resolver != nil {
			res, err = m.cfg.Resolver.Resolve(ctx, id)
		}
		if p = m.lockPeer(id); p == nil {
			return ErrPeerTable
		}
		if p.resolveGen != gen && asked == 0 {
			// Invalidated while asking: the answer may predate the
			// trust change. Ask once more.
			gen = p.resolveGen
			p.mu.Unlock()
			continue
		}
		now = m.cfg.Now()
		m.applyResolutionLocked(p, res, err, now)
		m.setupStepLocked(p, now)
		err = p.resolveErr
		if p.reachableLocked() {
			err = nil // a session formed meanwhile (P reached us)
		}
		p.mu.Unlock()
		return err
	}
}

// InvalidateResolve forgets the cached resolve answer for peer, a refusal
// in particular (registry.md §7.1.5: resolving a private node is allowed
// as soon as a trust pair or a shared network exists), so that the next
// dial or setup asks the registry again. Endpoints already learnt are
// kept. The layer above calls it when trust with peer forms.
func (m *Manager) InvalidateResolve(id addr.NodeID) {
	if p := m.lookupPeer(id); p != nil {
		p.mu.Lock()
		p.invalidateResolveLocked()
		p.mu.Unlock()
	}
}

// InvalidateAllResolves is InvalidateResolve for every peer; the layer
// above calls it when a heartbeat carries a new policy_epoch (§8), since
// memberships and trust may have changed.
func (m *Manager) InvalidateAllResolves() {
	for _, p := range m.snapshot() {
		p.mu.Lock()
		p.invalidateResolveLocked()
		p.mu.Unlock()
	}
}

// applyResolutionLocked records a resolve result: candidates, key seed,
// punch request (§7.1 steps 2–3); on a registry error the queue is dropped.
// Successes are cached 60 s, refusals only ResolveRefusalTTL: a refusal
// (private node, no trust) is expected to end when trust forms.
func (m *Manager) applyResolutionLocked(p *peer, res Resolution, err error, now time.Time) {
	p.resolvedAt = now
	p.resolveNext = now.Add(ResolveTTL)
	p.resolveErr = nil
	switch {
	case err == nil:
	case errors.Is(err, ErrUnreachable) || errors.Is(err, context.DeadlineExceeded):
		p.resolveNext = now.Add(resolveRetry) // not an answer: ask again soon
		if p.lastKnown.IsValid() {
			p.addCandidateLocked(p.lastKnown)
		}
		return
	default:
		p.resolveNext = now.Add(ResolveRefusalTTL)
		p.resolveErr = fmt.Errorf("resolve node %d: %w", p.id, err)
		if len(p.queue) > 0 && p.cur == nil {
			m.clearQueueLocked(p)
			p.setupActive = false
		}
		return
	}
	m.keys.seed(p.id, res.PublicKey)
	if p.relay && p.realAddr.IsValid() && res.RealAddr != p.realAddr {
		p.nextRetry = now // §7.6: P's real_addr changed, retry direct at once
	}
	p.realAddr = res.RealAddr
	if p.cur != nil && p.rekeyPending && !p.relay && res.RealAddr.IsValid() && res.RealAddr != p.endpoint {
		// (ours) suspected state loss and P registered another address
		// (it restarted on a new port): offer the rekey PILA there too.
		m.sendPILALocked(p, now, true, res.RealAddr)
	}
	var cands []netip.AddrPort
	if res.RealAddr.IsValid() && !res.RealAddr.Addr().IsLoopback() {
		if lan := m.sameLAN(res.LANAddrs); lan.IsValid() {
			cands = append(cands, lan)
		}
	}
	if res.RealAddr.IsValid() {
		cands = append(cands, res.RealAddr)
	}
	for _, c := range p.candidates { // keep punch candidates
		if len(cands) < MaxCandidates && c != res.RealAddr && (len(cands) == 0 || c != cands[0]) {
			cands = append(cands, c)
		}
	}
	p.candidates = cands
	if res.RealAddr.IsValid() && m.cfg.Beacon.IsValid() && p.cur == nil && m.NodeID() != 0 {
		_ = m.nat.RequestPunch(p.id, res.RealAddr.Addr()) // §7.1 step 3
	}
}

// sameLAN returns the first of lans in the same IPv4 /24 as one of our LAN
// addresses.
func (m *Manager) sameLAN(lans []netip.AddrPort) netip.AddrPort {
	for _, l := range lans {
		a := l.Addr().Unmap()
		if !a.Is4() {
			continue
		}
		pfx, _ := a.Prefix(24)
		for _, own := range m.cfg.LANAddrs {
			if own.Unmap().Is4() && pfx.Contains(own.Unmap()) {
				return netip.AddrPortFrom(a, l.Port())
			}
		}
	}
	return netip.AddrPort{}
}

// AddCandidate adds a known UDP endpoint for peer (a static endpoint, or
// tests without a registry).
func (m *Manager) AddCandidate(id addr.NodeID, ep netip.AddrPort) error {
	if !m.validPeer(id) {
		return fmt.Errorf("%w: %d", ErrInvalidPeer, id)
	}
	p := m.lockPeer(id)
	if p == nil {
		return ErrPeerTable
	}
	defer p.mu.Unlock()
	p.addCandidateLocked(ep)
	p.resolvedAt = m.cfg.Now()
	p.resolveNext = p.resolvedAt.Add(ResolveTTL)
	p.resolveErr = nil
	return nil
}

// switchRelayLocked sets path[P] = relay (§7.5): webhook, direct retry
// timer, and a pending setup restarts at once on the relay.
func (m *Manager) switchRelayLocked(p *peer, now time.Time) {
	if p.relay || !m.cfg.Beacon.IsValid() {
		return
	}
	p.relay, p.wasRelay = true, false
	m.wakeTicker()
	p.nextRetry = now.Add(jitter(m.cfg.DirectRetry))
	m.ctr.relaySwitches.Add(1)
	m.emit(Event{Name: EventRelayActivated, Peer: p.id})
	if p.cur == nil && p.setupActive {
		p.setupSends, p.setupInterval, p.setupNext = 0, time.Second, now
		m.setupStepLocked(p, now)
	}
}

// LossReason says which stream-layer event suspects peer state loss.
type LossReason uint8

const (
	// LossRTO: a stream to P had two consecutive retransmission timeouts
	// with no authenticated frame from P in between.
	LossRTO LossReason = iota + 1
	// LossSYN: a dial's SYN timed out twice.
	LossSYN
)

// SuspectPeerLoss is the stream layer's hook (§6.9 trigger (f), §7.5,
// §7.6): it rekeys P and, when appropriate, switches P to the relay. It
// reports whether the path switched to relay, in which case the caller
// resets a pending dial's SYN timer to 1 s.
func (m *Manager) SuspectPeerLoss(id addr.NodeID, why LossReason) bool {
	p := m.lookupPeer(id)
	if p == nil {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.dead {
		return false
	}
	now := m.cfg.Now()
	m.rekeyLocked(p, now, false)
	p.resolveNext = time.Time{} // P may have moved: refresh real_addr
	m.startResolveLocked(p, now)
	if p.relay || !m.cfg.Beacon.IsValid() {
		return false
	}
	switch why {
	case LossSYN:
		if now.Sub(p.lastDirectAuth) > RelayAfterSetup {
			m.switchRelayLocked(p, now)
		}
	case LossRTO:
		if p.wasRelay && now.Sub(p.lastRx) > RelayAfterSetup {
			m.switchRelayLocked(p, now)
		}
	}
	return p.relay
}

// Teardown forgets P's crypto states, queue and endpoint (§6.11); later
// traffic starts again at T1.
func (m *Manager) Teardown(id addr.NodeID) {
	p := m.lookupPeer(id)
	if p == nil {
		return
	}
	p.mu.Lock()
	m.killLocked(p)
	p.mu.Unlock()
	m.removePeer(p)
}

// killLocked marks p removed and releases its queue.
func (m *Manager) killLocked(p *peer) {
	p.dead = true
	m.clearQueueLocked(p)
	if p.cur != nil {
		p.cur.CloseSend()
	}
	p.cur, p.prev = nil, nil
}

// directRetryLocked is §7.6: request a punch, then probe every candidate
// directly with a control ping sealed under cur[P].
func (m *Manager) directRetryLocked(p *peer, now time.Time) {
	p.nextRetry = now.Add(jitter(m.cfg.DirectRetry))
	if p.cur == nil {
		return
	}
	if len(p.candidates) == 0 && !p.lastKnown.IsValid() && m.cfg.Resolver != nil &&
		now.Sub(p.resolvedAt) > 2*time.Second {
		// Reached only through the relay so far: learn P's real_addr
		// first, then retry.
		p.resolveNext = time.Time{}
		m.startResolveLocked(p, now)
		p.nextRetry = now.Add(2 * time.Second)
		return
	}
	if p.realAddr.IsValid() {
		_ = m.nat.RequestPunch(p.id, p.realAddr.Addr())
	}
	p.probeSeq = rand.Uint32() | 1
	p.probeAt = now
	targets := append([]netip.AddrPort(nil), p.candidates...)
	if p.lastKnown.IsValid() {
		targets = append(targets, p.lastKnown)
	}
	seen := map[netip.AddrPort]bool{}
	for _, t := range targets {
		if !seen[t] {
			seen[t] = true
			m.probeLocked(p, t, now)
		}
	}
	m.ctr.directRetries.Add(1)
}

// probeLocked sends one control ping (§11) to ep directly.
func (m *Manager) probeLocked(p *peer, ep netip.AddrPort, now time.Time) {
	pk := packet.Packet{
		Protocol: packet.ProtoControl,
		Src:      addr.New(addr.Backbone, m.NodeID()),
		Dst:      addr.New(addr.Backbone, p.id),
		SrcPort:  m.cfg.ProbePort,
		Seq:      p.probeSeq,
		Payload:  binary.BigEndian.AppendUint64(nil, uint64(now.UnixNano())),
	}
	raw, err := pk.Marshal()
	if err != nil {
		return
	}
	was := p.relay
	p.relay = false
	saved := p.endpoint
	p.endpoint = ep
	_ = m.sealSendLocked(p, raw, now)
	p.endpoint, p.relay = saved, was
}

// probeReplyLocked consumes replies to our probes: the direct path works,
// so path[P] = direct and a PILA goes directly (T6).
func (m *Manager) probeReplyLocked(p *peer, pk *packet.Packet, viaRelay bool, src netip.AddrPort, now time.Time) bool {
	if pk.Protocol != packet.ProtoControl || !pk.Flags.Has(packet.FlagACK) || pk.DstPort != m.cfg.ProbePort {
		return false
	}
	if p.probeSeq == 0 || pk.Seq != p.probeSeq || pk.Ack != p.probeSeq+1 {
		return true
	}
	p.probeSeq = 0
	if !p.relay {
		return true
	}
	p.relay, p.wasRelay = false, true
	p.lastDirectAuth = now // the probe crossed the direct path
	m.ctr.directRestored.Add(1)
	if !viaRelay {
		m.setEndpointLocked(p, src)
	}
	if !p.endpoint.IsValid() && len(p.candidates) > 0 {
		p.endpoint = p.candidates[0]
	}
	if p.endpoint.IsValid() {
		m.sendPILALocked(p, now, false, p.endpoint)
	} else {
		m.sendPILALocked(p, now, false, p.candidates...)
	}
	return true
}

// onPunchCandidate handles a punch command answering our request for P
// (§7.3): the address becomes a candidate and receives a PILA (or a probe
// during a direct retry). Runs on the reader.
func (m *Manager) onPunchCandidate(id addr.NodeID, ep netip.AddrPort) {
	p := m.lookupPeer(id)
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.dead || !p.addCandidateLocked(ep) {
		return
	}
	now := m.cfg.Now()
	switch {
	case p.cur == nil && p.setupActive && !p.relay && p.local != nil:
		m.sendPILALocked(p, now, true, ep)
	case p.relay && p.probeSeq != 0 && now.Sub(p.probeAt) < 5*time.Second:
		m.probeLocked(p, ep, now)
	}
}

// onEndpointChange handles a new observed endpoint (§7.2): PILA (T6) to
// every peer active in the last 10 min, a direct retry for relayed peers,
// and the re-register hook on a worker. Runs on the reader.
func (m *Manager) onEndpointChange(old, cur netip.AddrPort) {
	now := m.cfg.Now()
	for _, p := range m.snapshot() {
		p.mu.Lock()
		if !p.dead && p.cur != nil && now.Sub(latest(p.lastRx, p.lastTx)) < IdleTimeout {
			if p.relay {
				p.nextRetry = now
			} else {
				m.sendPILALocked(p, now, false)
			}
		}
		p.mu.Unlock()
	}
	if f := m.cfg.EndpointChanged; f != nil {
		m.submit(func(context.Context) { f(old, cur) })
	}
}

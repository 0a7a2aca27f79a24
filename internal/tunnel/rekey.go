package tunnel

import (
	"time"

	"github.com/pilot-go/pilot/internal/identity"
	"github.com/pilot-go/pilot/internal/tunnel/session"
)

// rekeyLocked is the procedure of §6.9: a fresh local[P], cur[P] moved to
// prev[P] (receive only), a new cur[P] from (new local, peerx[P]) sealing
// every later frame, and a PILA (T5) retransmitted after 1, 2, 4 and 8 s
// until confirmed. At most one rekey per 10 s unless force ((d), (e)).
func (m *Manager) rekeyLocked(p *peer, now time.Time, force bool) {
	if p.cur == nil || !p.hasPeerx || m.NodeID() == 0 {
		return
	}
	if !force && !p.lastRekey.IsZero() && now.Sub(p.lastRekey) < RekeyMinGap {
		return
	}
	if err := m.freshLocalLocked(p); err != nil {
		return
	}
	st, err := session.New(session.Config{
		LocalNode:     m.NodeID(),
		PeerNode:      p.id,
		Private:       p.local,
		PeerPublic:    p.peerx,
		Authenticated: p.cur.Authenticated(),
		Created:       now,
		Rand:          m.cfg.Rand,
	})
	if err != nil {
		return
	}
	p.cur.CloseSend()
	p.prev, p.prevUntil = p.cur, now.Add(PrevMax)
	p.cur = st
	clear(p.maxCtr)
	p.rekeyPending = true
	m.wakeTicker()
	p.rekeyNext = now.Add(time.Second)
	p.rekeyInterval = time.Second
	p.lastRekey = now
	p.rekeys++
	m.ctr.rekeys.Add(1)
	m.sendPILALocked(p, now, false) // T5
}

// confirmRekeyLocked: a PILA from P or a frame authenticating under the new
// state confirms the rekey; prev[P] goes 5 s later.
func (m *Manager) confirmRekeyLocked(p *peer, now time.Time) {
	p.rekeyPending = false
	if p.prev != nil {
		if d := now.Add(PrevAfterConfirm); d.Before(p.prevUntil) {
			p.prevUntil = d
		}
	}
}

// retransmitRekeyLocked resends the unchanged T5 PILA after 1, 2, 4 and 8 s.
func (m *Manager) retransmitRekeyLocked(p *peer, now time.Time) {
	if !p.rekeyPending || now.Before(p.rekeyNext) {
		return
	}
	if p.rekeyInterval > SetupMaxBackoff {
		p.rekeyPending = false // unconfirmed; prev expires at its 60 s deadline
		return
	}
	m.sendPILALocked(p, now, false)
	p.rekeyInterval *= 2
	p.rekeyNext = now.Add(p.rekeyInterval)
}

// RotateIdentity switches to a new identity key (cli.md §4.8) and rekeys
// every peer at once (§6.9 trigger (e)). The new key must already be
// registered.
func (m *Manager) RotateIdentity(id *identity.Identity) {
	m.ident.Store(id)
	now := m.cfg.Now()
	for _, p := range m.snapshot() {
		p.mu.Lock()
		p.pilaFrame = nil
		if !p.dead {
			m.rekeyLocked(p, now, true)
		}
		p.mu.Unlock()
	}
}

// quietTick is the maintenance period while frames flow and no peer has a
// short timer running: what remains (idle removal, age- and count-
// triggered rekeys, the direct retry) is measured in minutes, so a second
// late is harmless.
const quietTick = time.Second

// tick runs the timers of every peer and returns the wait until the next
// tick: Config.Tick while some peer is busy; quietTick while some peer
// sent or received a frame since the last tick (traffic can trigger a
// rekey by frame count or by a peer's use of our prefix); otherwise the
// time to the nearest idle removal or age rekey, with napping set so
// that the next frame wakes the loop (wakeOnTraffic), or an hour without
// peers (wakeTicker cuts it short when a peer appears).
func (m *Manager) tick() time.Duration {
	now := m.cfg.Now()
	since := time.Unix(0, m.lastTick.Swap(now.UnixNano()))
	wait := time.Hour
	traffic := false
	for _, p := range m.snapshot() {
		remove, busy, dueAt, lastFrame := m.tickPeer(p, now)
		if remove {
			m.removePeer(p)
			continue
		}
		if busy {
			wait = m.cfg.Tick
			continue
		}
		traffic = traffic || !lastFrame.Before(since)
		wait = min(wait, max(dueAt.Sub(now), m.cfg.Tick))
	}
	if traffic {
		wait = min(wait, quietTick)
	}
	m.napping.Store(wait > quietTick)
	return wait
}

// wakeOnTraffic ends a nap of the tick loop at the first frame sent or
// received (an atomic load per frame otherwise).
func (m *Manager) wakeOnTraffic() {
	if m.napping.Load() && m.napping.CompareAndSwap(true, false) {
		m.wakeTicker()
	}
}

// tickPeer runs one peer's timers and reports whether it should be removed
// (idle for 10 min, §6.1), whether it has a short timer running (key
// exchange, queue, resolve, rekey, prev[P], relay), when its next coarse
// timer is due (idle removal or age rekey) and when it last sent or
// received a frame.
func (m *Manager) tickPeer(p *peer, now time.Time) (remove, busy bool, dueAt, lastFrame time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.dead {
		return false, false, now.Add(IdleTimeout), time.Time{}
	}
	for len(p.queue) > 0 && now.Sub(p.queue[0].at) > QueueAge {
		m.dropQueueHeadLocked(p)
	}
	if len(p.queue) == 0 && p.cur == nil {
		p.setupActive = false
	}
	if p.setupActive || (m.cfg.Plaintext && len(p.queue) > 0) {
		m.setupStepLocked(p, now)
	}
	m.retransmitRekeyLocked(p, now)
	if p.prev != nil && !now.Before(p.prevUntil) {
		p.prev = nil
	}
	if p.cur != nil {
		tr := p.cur.Triggers(now, m.cfg.RekeyInterval)
		if tr != 0 || p.rekeyRequest {
			p.rekeyRequest = false
			m.rekeyLocked(p, now, tr&session.TriggerOwnPrefix != 0)
		}
		if p.relay && m.cfg.Beacon.IsValid() && !now.Before(p.nextRetry) {
			m.directRetryLocked(p, now)
		}
	}
	last := latest(p.lastRx, p.lastTx, p.resolvedAt, p.lastPILA, p.lastRecover)
	if len(p.queue) == 0 && !p.resolving && !p.setupActive && now.Sub(last) > IdleTimeout {
		m.killLocked(p)
		return true, false, time.Time{}, time.Time{}
	}
	busy = len(p.queue) > 0 || p.setupActive || p.resolving || p.rekeyPending || p.rekeyRequest ||
		p.prev != nil || p.relay
	dueAt = last.Add(IdleTimeout + time.Millisecond)
	if p.cur != nil && m.cfg.RekeyInterval > 0 {
		dueAt = earliest(dueAt, p.cur.Created().Add(m.cfg.RekeyInterval))
	}
	return false, busy, dueAt, latest(p.lastRx, p.lastTx)
}

// earliest returns the earlier of a and b.
func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// latest returns the latest of ts.
func latest(ts ...time.Time) time.Time {
	var l time.Time
	for _, t := range ts {
		if t.After(l) {
			l = t
		}
	}
	return l
}

package dataplane

import (
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/stream"
	"github.com/pilot-go/pilot/internal/wire/packet"
	"github.com/pilot-go/pilot/internal/wire/sack"
)

// handleStream matches a stream packet to its connection (§9.1) or treats
// it as a new SYN or a packet for an unknown connection (§9.14).
func (dp *DataPlane) handleStream(from addr.NodeID, auth bool, p *packet.Packet) {
	key := tupleKey{local: p.DstPort, peer: from, rport: p.SrcPort}
	isSYN := p.Flags.Has(packet.FlagSYN) && !p.Flags.Has(packet.FlagACK) && !p.Flags.Has(packet.FlagRST)
	dp.mu.Lock()
	c := dp.conns[key]
	dp.mu.Unlock()
	if c != nil && isSYN {
		switch st := stream.State(c.state.Load()); {
		case st == stream.StateTimeWait:
			// §9.3: a SYN on a TIME_WAIT tuple starts a new connection.
			c.retire()
			c = nil
		case (st == stream.StateEstablished || st == stream.StateFinWait) && p.Seq != c.peerISN.Load():
			// A SYN with another ISN aborts the old connection (the engine
			// reports ReasonNewSYN) and starts a new one.
			c.replaceBySYN(p)
			c = nil
		}
	}
	if c != nil {
		if c.handleInline(p) {
			return
		}
		if !c.enqueue(clonePacket(p)) { // full: dropped like on a lossy path
			dp.mailboxDrops.Add(1)
		}
		return
	}
	if isSYN {
		q := clonePacket(p)
		q.Payload = nil // a SYN payload is ignored (§9.3)
		dp.admit(from, auth, q, func() { dp.acceptSYN(from, q) })
		return
	}
	// Unknown connection: RST only for a data segment or a bare FIN, at
	// most once per second per (peer, ports) (§9.14). A pure ACK may
	// carry a SACK list (§9.2), which data segments never look like (§9.5).
	data := p.Flags == packet.FlagACK && len(p.Payload) > 0 && !sack.IsSACK(p.Payload)
	bareFIN := p.Flags == packet.FlagFIN
	if !data && !bareFIN {
		return
	}
	now := time.Now()
	dp.mu.Lock()
	last, seen := dp.rstSent[key]
	if seen && now.Sub(last) < time.Second {
		dp.mu.Unlock()
		return
	}
	if len(dp.rstSent) >= maxTracked {
		for k, t := range dp.rstSent {
			if now.Sub(t) >= time.Second {
				delete(dp.rstSent, k)
			}
		}
		if len(dp.rstSent) >= maxTracked {
			dp.mu.Unlock()
			return
		}
	}
	dp.rstSent[key] = now
	dp.mu.Unlock()
	dp.rst(from, p)
}

// acceptSYN is the responder's intake after admission: rate limits, the
// listener, caps, accept queue and the memory budget, then the SYN-ACK and
// the hand-off (§9.3, §9.14, §9.15).
func (dp *DataPlane) acceptSYN(from addr.NodeID, syn *packet.Packet) {
	key := tupleKey{local: syn.DstPort, peer: from, rport: syn.SrcPort}
	now := time.Now()
	dp.mu.Lock()
	if dp.closing {
		dp.mu.Unlock()
		return
	}
	if old := dp.conns[key]; old != nil {
		// Admitted meanwhile (a duplicate SYN was parked too): the
		// connection answers it itself.
		dp.mu.Unlock()
		old.enqueue(syn)
		return
	}
	if from != dp.self() {
		if !dp.synLimit.AllowN(now, 1) {
			// Webhook at most once per second (a flood must not flood it).
			report := now.Sub(dp.synLimitedAt) >= time.Second
			if report {
				dp.synLimitedAt = now
			}
			dp.mu.Unlock()
			if report {
				dp.emit("security.syn_rate_limited", "src_addr", syn.Src.String(), "src_port", int(syn.SrcPort))
			}
			return
		}
		if l := limiterFor(dp.synSrc, from, perSourceSYNRate, perSourceSYNRate); l == nil || !l.AllowN(now, 1) {
			dp.mu.Unlock()
			return
		}
	}
	l := dp.listeners[syn.DstPort]
	refuse := l == nil || len(dp.conns) >= dp.cfg.MaxConnsTotal ||
		dp.portConns[syn.DstPort] >= dp.cfg.MaxConnsPerPort || l.queueFullLocked()
	var eng *stream.Conn
	if !refuse {
		cfg := dp.cfg.Stream
		cfg.Budget = dp.budget
		var err error
		if eng, err = stream.NewResponder(cfg, syn, now); err != nil {
			refuse = true // ErrNoMemory: the 128 KiB minimum does not fit
		}
	}
	if refuse {
		dp.mu.Unlock()
		dp.rst(from, syn)
		return
	}
	// Source address: the destination of the SYN we accepted (§1.5).
	c := dp.newConnLocked(key, syn.Dst, syn.Src, eng, false)
	dp.mu.Unlock()
	dp.emit("conn.syn_received", "src_addr", syn.Src.String(), "src_port", int(syn.SrcPort),
		"dst_port", int(syn.DstPort), "conn_id", int(c.id))
	c.mu.Lock()
	n := c.pumpLocked(now) // the SYN-ACK; ESTABLISHED at once
	c.mu.Unlock()
	c.start()
	c.after(n)
	dp.emit("conn.established", "src_addr", syn.Src.String(), "src_port", int(syn.SrcPort),
		"dst_port", int(syn.DstPort), "conn_id", int(c.id))
	dp.handoff(l, c)
}

// retire drops a TIME_WAIT connection whose tuple a new SYN takes over.
func (c *conn) retire() {
	c.mu.Lock()
	if !c.finished {
		c.eng.Abort() // TIME_WAIT: reaped without an RST
		c.unlockAfter(c.pumpLocked(time.Now()))
		return
	}
	c.mu.Unlock()
}

// replaceBySYN hands the new SYN to the old connection, whose engine resets
// (ReasonNewSYN, the application sees a reset), so the tuple is free.
func (c *conn) replaceBySYN(syn *packet.Packet) {
	c.mu.Lock()
	if !c.finished {
		now := time.Now()
		c.eng.Handle(syn, now)
		if c.eng.State() != stream.StateClosed {
			c.eng.Abort()
		}
		c.unlockAfter(c.pumpLocked(now))
		return
	}
	c.mu.Unlock()
}

// clonePacket copies p and its payload (the tunnel reuses its buffer).
func clonePacket(p *packet.Packet) *packet.Packet {
	q := *p
	if len(p.Payload) > 0 {
		q.Payload = append([]byte(nil), p.Payload...)
	}
	return &q
}

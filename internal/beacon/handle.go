package beacon

import (
	"errors"
	"net/netip"
	"time"

	"github.com/pilot-go/pilot/internal/wire/beaconmsg"
)

// handle processes one datagram from src, received on local. It runs on
// the read loop and sends at most the bounded replies of beacon.md §10
// rule 1 to src; nothing is ever sent for a datagram that is dropped.
func (s *Server) handle(b []byte, src netip.AddrPort, local netip.Addr) {
	now := s.cfg.Now()
	if len(b) == 0 || b[0] >= 0x10 {
		s.ctr.messages[msgInvalid].Add(1)
		return
	}
	msg, err := beaconmsg.Parse(b)
	if err != nil {
		if beaconmsg.Type(b[0]) == beaconmsg.TypeRelay {
			s.ctr.messages[msgRelay].Add(1)
			s.relayDrop(relayParseReason(err))
			return
		}
		s.ctr.messages[msgInvalid].Add(1)
		return
	}
	switch m := msg.(type) {
	case beaconmsg.Discover:
		s.ctr.messages[msgDiscover].Add(1)
		s.handleDiscover(m, src, local, now)
	case beaconmsg.PunchRequest:
		s.ctr.messages[msgPunch].Add(1)
		s.handlePunch(m, src, local, now)
	case beaconmsg.Relay:
		s.ctr.messages[msgRelay].Add(1)
		s.handleRelay(m, b, src, local, now)
	case beaconmsg.Sync:
		s.ctr.messages[msgSync].Add(1)
		s.handleSync(m, src, local, now)
	default: // beacon → daemon types are never accepted (§10 rule 9)
		s.ctr.messages[msgInvalid].Add(1)
	}
}

func relayParseReason(err error) dropReason {
	if errors.Is(err, beaconmsg.ErrFrameTooLarge) || errors.Is(err, beaconmsg.ErrTruncated) {
		return dropSize
	}
	return dropSource // invalid sender or destination node ID
}

// allowSource applies the per-source-IP bucket of Discover and
// PunchRequest (§9).
func (s *Server) allowSource(src netip.AddrPort, now time.Time) bool {
	if s.srcLim.allow(src.Addr(), now, 1) {
		return true
	}
	s.ctr.drop(dropRate)
	return false
}

// handleDiscover implements §3.1 and §4: update the table (plain rules, and
// queue verification of a signed Discover), then always reply with the
// observed endpoint, from the address the Discover was sent to.
func (s *Server) handleDiscover(d beaconmsg.Discover, src netip.AddrPort, local netip.Addr, now time.Time) {
	if !s.allowSource(src, now) {
		return
	}
	if d.Records() {
		res := s.table.applyPlain(d.Node, src, local, now)
		if res == pinned && d.Form != beaconmsg.DiscoverSigned {
			s.ctr.drop(dropAuth)
		}
		if d.Form == beaconmsg.DiscoverSigned && s.verify != nil && res != notFull {
			s.queueVerify(d, src, local, now)
		}
	}
	reply, err := beaconmsg.DiscoverReply{Endpoint: src}.AppendTo(s.wbuf[:0])
	if err != nil {
		return
	}
	s.send(reply, src, local)
}

// queueVerify hands a signed Discover to the verification workers after
// the cheap freshness and replay checks of §4 step 2.
func (s *Server) queueVerify(d beaconmsg.Discover, src netip.AddrPort, local netip.Addr, now time.Time) {
	if !freshTS(d.Timestamp, now) || d.Timestamp <= s.table.lastSignedTS(d.Node, now) {
		s.ctr.drop(dropAuth)
		return
	}
	select {
	case s.verify.q <- verifyJob{d: d, ep: src, local: local}:
	default:
		s.ctr.drop(dropFull)
	}
}

// freshTS reports whether a signed timestamp (Unix ms) is within ±60 s.
func freshTS(ts uint64, now time.Time) bool {
	n, skew := now.UnixMilli(), signedSkew.Milliseconds()
	if n < skew || ts > uint64(n+skew) {
		return false
	}
	return ts >= uint64(n-skew)
}

// handlePunch implements §5.1: rate limits, requester entry rules, then one
// PunchCommand to each side when the target is known; otherwise nothing.
func (s *Server) handlePunch(m beaconmsg.PunchRequest, src netip.AddrPort, local netip.Addr, now time.Time) {
	if !s.allowSource(src, now) {
		return
	}
	if !s.punchLim.allow(m.Requester, now, 1) {
		s.ctr.drop(dropRate)
		return
	}
	re, te, res, ok := s.table.punch(m.Requester, m.Target, src, local, now)
	if !ok {
		switch res {
		case pinned:
			s.ctr.drop(dropAuth)
		case notFull:
			s.ctr.drop(dropFull)
		}
		return
	}
	if cmd, err := (beaconmsg.PunchCommand{Endpoint: te.ep}).AppendTo(s.wbuf[:0]); err == nil {
		s.send(cmd, src, local)
	}
	if te.ep == src {
		return // both IDs at one endpoint: one command is all it needs (§10 rule 1)
	}
	if !s.targetLim.allow(m.Target, now, 1) {
		s.ctr.drop(dropRate)
		return
	}
	if cmd, err := (beaconmsg.PunchCommand{Endpoint: re.ep}).AppendTo(s.wbuf[:0]); err == nil {
		s.send(cmd, te.ep, te.local)
	}
}

// handleSync implements §7.1 receiving: peers only, 10 messages/s each.
func (s *Server) handleSync(m beaconmsg.Sync, src netip.AddrPort, local netip.Addr, now time.Time) {
	if !s.peers.has(src) {
		s.ctr.drop(dropSource)
		return
	}
	s.peers.noteLocal(src, local)
	if !s.syncLim.allow(src, now, 1) {
		s.ctr.drop(dropRate)
		return
	}
	s.table.applySync(src, m.Nodes, beaconmsg.ValidNode, now)
}

package stream

import "time"

// controller is a congestion control algorithm (§9.10). It owns the growth
// of cwnd in congestion avoidance and the multiplicative decrease; slow
// start, the RTO collapse to one segment and the caps are common code in
// sender.
type controller interface {
	// avoid grows cwnd (bytes) for acked bytes in congestion avoidance.
	avoid(cwnd, acked, mss int, now, srtt time.Duration) int
	// ssthreshOnLoss returns the new ssthresh when loss is detected with
	// cwnd and flight bytes outstanding; it may update internal state.
	ssthreshOnLoss(cwnd, flight, mss int, now time.Duration) int
	// reset forgets the epoch (after an RTO).
	reset()
	// undo restores the state from before the last ssthreshOnLoss.
	undo()
}

func newController(name string) controller {
	if name == CCNewReno {
		return &newReno{}
	}
	return &cubic{}
}

// onAckCC grows cwnd for acked bytes outside fast recovery.
func (s *sender) onAckCC(acked int, now time.Duration, limited bool) {
	if !limited || acked <= 0 {
		return
	}
	if s.cwnd < s.ssthresh {
		// Slow start with appropriate byte counting (RFC 3465, L = 2 SMSS).
		s.cwnd += min(acked, 2*s.mss)
	} else {
		s.cwnd = s.cc.avoid(s.cwnd, acked, s.mss, now, s.rtt.srtt)
	}
	limit := maxCwnd
	if w := s.peerWndBytes(); w > 0 {
		limit = min(limit, max(w, initialWindow*s.mss))
	}
	if s.cwnd > limit {
		s.cwnd = max(limit, s.cwnd-acked) // never grow past the cap
		s.cwnd = min(s.cwnd, maxCwnd)
	}
}

// enterRecovery applies the multiplicative decrease once per episode.
func (s *sender) enterRecovery(now time.Duration) {
	s.inRecovery = true
	s.recoveryPoint = s.nxt
	s.priorCwnd, s.priorSsthresh = s.cwnd, s.ssthresh
	s.epRetx, s.epSpurious, s.epSpuriousSeen = 0, 0, false
	flight := int(s.nxt - s.una)
	s.ssthresh = max(s.cc.ssthreshOnLoss(s.cwnd, flight, s.mss, now), 2*s.mss)
	s.cwnd = s.ssthresh
	s.prrDelivered, s.prrOut, s.recoverFS = 0, 0, max(flight, 1)
}

// prr sets cwnd during fast recovery by proportional rate reduction
// (RFC 6937, slow-start reduction bound): the window falls smoothly from
// the flight size to ssthresh as data is delivered, instead of stopping
// all sending until pipe drops below ssthresh.
func (s *sender) prr(delivered int) {
	if delivered <= 0 {
		return
	}
	s.prrDelivered += delivered
	var sndcnt int
	if s.pipe > s.ssthresh {
		sndcnt = (s.prrDelivered*s.ssthresh+s.recoverFS-1)/s.recoverFS - s.prrOut
	} else {
		limit := max(s.prrDelivered-s.prrOut, delivered) + s.mss
		sndcnt = min(s.ssthresh-s.pipe, limit)
	}
	s.cwnd = max(s.pipe+max(sndcnt, 0), 2*s.mss) // §9.10: never below 2 segments
}

// onRTO collapses cwnd to one segment (§9.9).
func (s *sender) onRTOCC(now time.Duration) {
	if !s.inRecovery {
		// A timeout inside a recovery episode keeps that episode's ssthresh.
		s.ssthresh = max(s.cc.ssthreshOnLoss(s.cwnd, int(s.nxt-s.una), s.mss, now), 2*s.mss)
	}
	s.cc.reset()
	s.cwnd = s.mss
	s.inRecovery = true
	s.rtoRecovery = true
	s.recoveryPoint = s.nxt
}

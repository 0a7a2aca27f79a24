package stream

import "time"

// Reordering and spurious fast retransmissions (ours, after RFC 8985 §6.2
// and the undo of RFC 4015 in spirit; there are no timestamps or DSACK on
// this wire). A retransmitted segment whose acknowledgement arrives sooner
// than 3/4 of the minimum RTT after the retransmission was delivered by its
// original transmission: the path reorders. The sender then
//   - stops using the DupThresh rules and relies on RACK's time-based
//     detection, with a reordering window that grows by minRTT/4 per
//     episode with spurious retransmissions (up to SRTT) and returns to
//     minRTT/4 after 16 recoveries without any;
//   - undoes the episode's window reduction when every retransmission of
//     the episode so far was spurious, and forgets the loss marks that
//     reordering caused.

const maxReoMult = 16

// reoWnd is RACK's reordering window.
func (s *sender) reoWnd() time.Duration {
	return min(s.rtt.minRTT/4*time.Duration(s.reoMult), max(s.rtt.srtt, s.rtt.minRTT/4))
}

// spurious records that a fast retransmission was not needed.
func (s *sender) spurious() {
	s.reordered = true
	s.reoQuiet = 0
	if !s.inRecovery || s.rtoRecovery {
		return
	}
	if !s.epSpuriousSeen {
		s.epSpuriousSeen = true
		s.reoMult = min(s.reoMult+1, maxReoMult)
	}
	s.epSpurious++
	if s.epSpurious >= s.epRetx && s.epRetx > 0 {
		s.undoRecovery()
	}
}

// undoRecovery restores the window from before the episode.
func (s *sender) undoRecovery() {
	s.cwnd = max(s.cwnd, s.priorCwnd)
	s.ssthresh = max(s.ssthresh, s.priorSsthresh)
	s.cc.undo()
	s.inRecovery = false
	s.undos++
	for i := s.head; i < len(s.segs); i++ {
		if seg := &s.segs[i]; seg.fl&(segLost|segRetx|segSacked) == segLost {
			s.setFlags(seg, seg.fl&^segLost)
		}
	}
}

// recoveryDone ages the reordering window (RFC 8985 §6.2 step 4).
func (s *sender) recoveryDone() {
	if s.reoQuiet++; s.reoQuiet >= 16 {
		s.reoMult, s.reoQuiet = 1, 0
	}
}

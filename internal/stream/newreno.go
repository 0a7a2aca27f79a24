package stream

import "time"

// newReno is RFC 5681/6582 congestion avoidance: one segment per cwnd of
// acknowledged bytes, ssthresh = flight / 2 on loss.
type newReno struct {
	acc int // bytes acked since the last increase
}

func (n *newReno) avoid(cwnd, acked, mss int, _, _ time.Duration) int {
	n.acc += acked
	if n.acc >= cwnd {
		n.acc -= cwnd
		cwnd += mss
	}
	return cwnd
}

func (n *newReno) ssthreshOnLoss(cwnd, flight, mss int, _ time.Duration) int {
	n.acc = 0
	return max(flight/2, 2*mss)
}

func (n *newReno) reset() { n.acc = 0 }

func (n *newReno) undo() {}

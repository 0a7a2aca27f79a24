package stream

import "time"

// RFC 6298 retransmission timer bounds (§9.9).
const (
	rtoInitial = time.Second
	rtoMin     = 200 * time.Millisecond
	rtoMax     = 10 * time.Second
	rtoClockG  = time.Millisecond
)

// rttEstimator keeps SRTT, RTTVAR and the RTO of RFC 6298 plus the minimum
// RTT (used by RACK's reordering window).
type rttEstimator struct {
	srtt, rttvar time.Duration
	minRTT       time.Duration
	rto          time.Duration // current RTO including backoff
	has          bool
}

func (e *rttEstimator) init() { e.rto = rtoInitial }

// sample feeds one RTT measurement from a segment sent once (Karn's rule is
// the caller's job). It also undoes any backoff (RFC 6298 §5.7).
func (e *rttEstimator) sample(r time.Duration) {
	if r <= 0 {
		r = time.Microsecond
	}
	if !e.has {
		e.has = true
		e.srtt = r
		e.rttvar = r / 2
		e.minRTT = r
	} else {
		d := e.srtt - r
		if d < 0 {
			d = -d
		}
		e.rttvar = (3*e.rttvar + d) / 4
		e.srtt = (7*e.srtt + r) / 8
		e.minRTT = min(e.minRTT, r)
	}
	e.rto = e.base()
}

func (e *rttEstimator) base() time.Duration {
	if !e.has {
		return rtoInitial
	}
	return min(max(e.srtt+max(rtoClockG, 4*e.rttvar), rtoMin), rtoMax)
}

// backoff doubles the RTO (capped at the maximum).
func (e *rttEstimator) backoff() { e.rto = min(2*e.rto, rtoMax) }

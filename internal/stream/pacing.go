package stream

import "time"

// pacer is a token bucket releasing data at gain × cwnd / SRTT (gain 2 in
// slow start, 1.2 afterwards) in bursts of at most 10 segments or 64 KiB
// (§9.10). Before the first RTT sample the rate is cwnd per initial RTO,
// which with the initial window is a plain burst limit of 10 segments.
type pacer struct {
	tokens float64
	last   time.Duration
	burst  float64
	off    bool
}

func (p *pacer) init(mss int, off bool) {
	p.burst = float64(min(10*mss, 64<<10))
	p.tokens = p.burst
	p.off = off
}

func (s *sender) paceRate() float64 {
	gain := 1.2
	if s.cwnd < s.ssthresh {
		gain = 2
	}
	rtt := rtoInitial
	if s.rtt.has {
		rtt = max(s.rtt.srtt, time.Microsecond)
	}
	return gain * float64(s.cwnd) / rtt.Seconds()
}

func (s *sender) paceRefill(now time.Duration) {
	p := &s.pace
	if now <= p.last {
		return
	}
	if p.off {
		// Burst limit only: a new burst may start at a later instant.
		p.tokens = p.burst
	} else {
		p.tokens = min(p.burst, p.tokens+s.paceRate()*(now-p.last).Seconds())
	}
	p.last = now
}

// paceAllows reports whether n bytes may leave at now; otherwise it records
// when they may.
func (s *sender) paceAllows(now time.Duration, n int) bool {
	if float64(s.cwnd) <= s.pace.burst {
		// A window of at most one burst cannot leave more than 10 segments
		// back to back; pacing it would only add delay.
		return true
	}
	s.paceRefill(now)
	if s.pace.tokens >= float64(n) || s.pace.tokens >= s.pace.burst {
		return true
	}
	if s.pace.off {
		s.paceAt = now + time.Nanosecond
		return false
	}
	wait := (float64(n) - s.pace.tokens) / s.paceRate()
	s.paceAt = now + max(time.Duration(wait*1e9), time.Nanosecond)
	return false
}

func (s *sender) paceSpend(n int) { s.pace.tokens -= float64(n) }

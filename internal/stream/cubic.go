package stream

import (
	"math"
	"time"
)

// CUBIC constants of RFC 9438.
const (
	cubicC    = 0.4
	cubicBeta = 0.7
)

// cubic is RFC 9438 with fast convergence and the Reno-friendly region.
// Windows are kept in segments (float) as in the RFC.
type cubic struct {
	wMax       float64 // segments
	k          float64 // seconds
	epoch      time.Duration
	inEpoch    bool
	wEst       float64 // Reno-friendly estimate, segments
	cwndFloat  float64 // fractional cwnd carried between ACKs
	lastMSSCwd int
	savedState cubicState
}

type cubicState struct {
	wMax, k, wEst float64
	epoch         time.Duration
	inEpoch       bool
}

func (c *cubic) avoid(cwnd, acked, mss int, now, srtt time.Duration) int {
	m := float64(mss)
	cw := float64(cwnd) / m
	if c.lastMSSCwd == cwnd && c.cwndFloat > 0 {
		cw = c.cwndFloat
	}
	if !c.inEpoch {
		c.inEpoch = true
		c.epoch = now
		if cw < c.wMax {
			c.k = math.Cbrt((c.wMax - cw) / cubicC)
		} else {
			c.k = 0
			c.wMax = cw
		}
		c.wEst = cw
	}
	t := (now - c.epoch + srtt).Seconds()
	d := t - c.k
	target := cubicC*d*d*d + c.wMax
	target = max(cw, min(target, 1.5*cw))
	segs := float64(acked) / m
	next := cw + (target-cw)/cw*segs
	// Reno-friendly region (RFC 9438 §4.3).
	alpha := 3 * (1 - cubicBeta) / (1 + cubicBeta)
	if c.wEst >= c.wMax {
		alpha = 1
	}
	c.wEst += alpha * segs / cw
	next = max(next, c.wEst)
	c.cwndFloat = next
	c.lastMSSCwd = int(next * m)
	return c.lastMSSCwd
}

func (c *cubic) ssthreshOnLoss(cwnd, _ int, mss int, _ time.Duration) int {
	c.savedState = cubicState{wMax: c.wMax, k: c.k, wEst: c.wEst, epoch: c.epoch, inEpoch: c.inEpoch}
	cw := float64(cwnd) / float64(mss)
	if cw < c.wMax {
		c.wMax = cw * (1 + cubicBeta) / 2 // fast convergence
	} else {
		c.wMax = cw
	}
	c.inEpoch = false
	c.cwndFloat = 0
	return int(cw * cubicBeta * float64(mss))
}

func (c *cubic) undo() {
	st := c.savedState
	c.wMax, c.k, c.wEst, c.epoch, c.inEpoch = st.wMax, st.k, st.wEst, st.epoch, st.inEpoch
	c.cwndFloat = 0
}

func (c *cubic) reset() {
	c.inEpoch = false
	c.cwndFloat = 0
}

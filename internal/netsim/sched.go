package netsim

import (
	"time"
)

// event is the arrival of one datagram copy.
type event struct {
	at  time.Time
	seq uint64
	p   *packet
}

// eventQueue is a binary min-heap ordered by (at, seq). It is written by hand
// rather than with container/heap to avoid boxing every event in an interface.
type eventQueue []event

func (q eventQueue) less(i, j int) bool {
	if q[i].at.Equal(q[j].at) {
		return q[i].seq < q[j].seq
	}
	return q[i].at.Before(q[j].at)
}

func (q *eventQueue) push(e event) {
	*q = append(*q, e)
	h := *q
	for i := len(h) - 1; i > 0; {
		parent := (i - 1) / 2
		if !h.less(i, parent) {
			break
		}
		h[i], h[parent] = h[parent], h[i]
		i = parent
	}
}

func (q *eventQueue) pop() event {
	h := *q
	top := h[0]
	last := len(h) - 1
	h[0] = h[last]
	h[last] = event{}
	h = h[:last]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < len(h) && h.less(l, m) {
			m = l
		}
		if r < len(h) && h.less(r, m) {
			m = r
		}
		if m == i {
			break
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
	*q = h
	return top
}

// scheduleLocked delivers p now if it is due, else queues its arrival and
// wakes the scheduler when it became the earliest event.
func (n *Network) scheduleLocked(at time.Time, p *packet, now time.Time) {
	if !at.After(now) {
		n.arriveLocked(p, now)
		return
	}
	n.seq++
	n.events.push(event{at: at, seq: n.seq, p: p})
	if n.events[0].seq == n.seq {
		select {
		case n.wake <- struct{}{}:
		default:
		}
	}
}

// schedulerLoop delivers queued datagrams when they are due. It is the only
// goroutine of a Network: started by New, stopped and waited for by Close.
func (n *Network) schedulerLoop() {
	defer n.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		n.mu.Lock()
		now := time.Now()
		for len(n.events) > 0 && !n.events[0].at.After(now) {
			e := n.events.pop()
			n.arriveLocked(e.p, now)
		}
		wait := time.Duration(-1)
		if len(n.events) > 0 {
			wait = n.events[0].at.Sub(now)
		}
		n.mu.Unlock()
		if wait >= 0 {
			timer.Reset(wait)
		} else {
			timer.Stop()
		}
		select {
		case <-n.done:
			return
		case <-n.wake:
		case <-timer.C:
		}
	}
}

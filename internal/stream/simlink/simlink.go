// Package simlink connects two stream engines through a simulated link in
// simulated time, for deterministic tests and benchmarks of
// internal/stream.
//
// Each direction of the link has a propagation delay, a bandwidth with a
// tail-drop queue (serialization delay), and seeded random loss,
// duplication and reordering. Time is an event queue ordered by (time,
// insertion order): the simulator jumps from one event (a packet arrival or
// an engine deadline) to the next, never sleeping, so a 10 MiB transfer
// over a lossy 1 Gbit/s link runs in milliseconds of real time and the same
// seed always gives the same trace.
//
//	 end 0                                                  end 1
//	+------+  Output  +--------------------------+  Handle  +------+
//	|engine| -------> | queue → serialize → delay | -------> |engine|
//	|      | <------- |  (loss, dup, reorder)     | <------- |      |
//	+------+  Handle  +--------------------------+  Output  +------+
//
// The package is pure: no goroutines, sockets or real clock.
package simlink

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/pilot-go/pilot/internal/wire/packet"
)

// Endpoint is what the simulator drives: a stream.Conn satisfies it.
type Endpoint interface {
	Handle(p *packet.Packet, now time.Time)
	Output(now time.Time, out []packet.Packet) []packet.Packet
	Tick(now time.Time)
	NextDeadline() time.Time
}

// Link describes one direction.
type Link struct {
	Delay        time.Duration // one-way propagation delay
	Bandwidth    int64         // bytes per second; 0 = unlimited
	QueueBytes   int           // tail-drop queue limit; 0 = unlimited
	Overhead     int           // bytes added to every packet for serialization
	Loss         float64       // probability a packet is dropped
	Dup          float64       // probability a packet is duplicated
	Reorder      float64       // probability a packet is delayed extra
	ReorderDelay time.Duration // maximum extra delay of a reordered packet
}

// Sim is the simulator. Ends[0] and Ends[1] are the two engines; an end may
// be nil until OnEmpty creates it (a responder created on the first SYN).
type Sim struct {
	Start time.Time
	Ends  [2]Endpoint
	Links [2]Link // Links[i] carries packets sent by Ends[i]

	// Tap, when set, sees every packet sent, with whether the link dropped it.
	Tap func(from int, now time.Duration, p *packet.Packet, dropped bool)
	// Drop, when set, is asked before the random loss; true drops the packet.
	Drop func(from int, now time.Duration, p *packet.Packet) bool
	// OnEmpty is called for a packet arriving at a nil end.
	OnEmpty func(to int, now time.Time, p *packet.Packet)

	now   time.Duration
	rng   *rand.Rand
	busy  [2]time.Duration
	q     eventHeap
	seq   uint64
	out   []packet.Packet
	pool  [][]byte
	Stats [2]DirStats
}

// DirStats counts what happened to packets sent by one end.
type DirStats struct {
	Sent, Lost, Overflow, Duplicated, Delivered int
	Bytes                                       int64
}

// New returns a simulator whose randomness comes from seed.
func New(seed uint64, ab, ba Link) *Sim {
	return &Sim{
		Start: time.Unix(1_700_000_000, 0),
		Links: [2]Link{ab, ba},
		rng:   rand.New(rand.NewPCG(seed, seed^0x9E3779B97F4A7C15)),
	}
}

// Now returns the simulated time as a time.Time and as elapsed time.
func (s *Sim) Now() time.Time { return s.Start.Add(s.now) }

// Elapsed returns the simulated time since Start.
func (s *Sim) Elapsed() time.Duration { return s.now }

// Flush collects and transmits end i's output now (call it after feeding
// the end an application event such as Write or Close).
func (s *Sim) Flush(i int) {
	if s.Ends[i] == nil {
		return
	}
	s.out = s.Ends[i].Output(s.Now(), s.out[:0])
	for k := range s.out {
		s.transmit(i, &s.out[k])
	}
}

func (s *Sim) transmit(from int, p *packet.Packet) {
	l := &s.Links[from]
	st := &s.Stats[from]
	st.Sent++
	st.Bytes += int64(len(p.Payload))
	drop := s.Drop != nil && s.Drop(from, s.now, p)
	if !drop && l.Loss > 0 && s.rng.Float64() < l.Loss {
		drop = true
	}
	if drop {
		st.Lost++
	}
	depart := s.now
	if !drop && l.Bandwidth > 0 {
		start := max(s.now, s.busy[from])
		if l.QueueBytes > 0 && int64(start-s.now)*l.Bandwidth/int64(time.Second) > int64(l.QueueBytes) {
			drop = true
			st.Overflow++
		} else {
			size := int64(len(p.Payload) + packet.HeaderSize + l.Overhead)
			s.busy[from] = start + time.Duration(size*int64(time.Second)/l.Bandwidth)
			depart = s.busy[from]
		}
	}
	if s.Tap != nil {
		s.Tap(from, s.now, p, drop)
	}
	if drop {
		return
	}
	copies := 1
	if l.Dup > 0 && s.rng.Float64() < l.Dup {
		copies = 2
		st.Duplicated++
	}
	for range copies {
		at := depart + l.Delay
		if l.Reorder > 0 && s.rng.Float64() < l.Reorder {
			at += time.Duration(s.rng.Int64N(int64(l.ReorderDelay) + 1))
		}
		e := event{at: at, seq: s.seq, to: 1 - from, p: *p}
		s.seq++
		e.buf = s.alloc(len(p.Payload))
		copy(e.buf, p.Payload)
		e.p.Payload = e.buf
		s.q.push(e)
	}
}

func (s *Sim) alloc(n int) []byte {
	if k := len(s.pool); k > 0 {
		b := s.pool[k-1]
		s.pool = s.pool[:k-1]
		if cap(b) >= n {
			return b[:n]
		}
	}
	return make([]byte, n, max(n, 4096))
}

// deadline returns end i's next deadline as elapsed time, or -1.
func (s *Sim) deadline(i int) time.Duration {
	if s.Ends[i] == nil {
		return -1
	}
	d := s.Ends[i].NextDeadline()
	if d.IsZero() {
		return -1
	}
	return max(d.Sub(s.Start), s.now)
}

// Step processes the next event (a packet arrival or an engine deadline).
// It returns false when nothing is left to do or the next event lies after
// limit.
func (s *Sim) Step(limit time.Duration) bool {
	next, kind := time.Duration(-1), -1
	if len(s.q) > 0 {
		next, kind = s.q[0].at, 2
	}
	for i := range 2 {
		if d := s.deadline(i); d >= 0 && (next < 0 || d < next) {
			next, kind = d, i
		}
	}
	if next < 0 || next > limit {
		return false
	}
	s.now = next
	if kind == 2 {
		e := s.q.pop()
		if end := s.Ends[e.to]; end != nil {
			end.Handle(&e.p, s.Now())
			s.Stats[1-e.to].Delivered++
		} else if s.OnEmpty != nil {
			s.OnEmpty(e.to, s.Now(), &e.p)
		}
		s.pool = append(s.pool, e.buf[:0])
		s.Flush(e.to)
		return true
	}
	s.Ends[kind].Tick(s.Now())
	s.Flush(kind)
	return true
}

// ErrStuck reports an engine whose deadline does not advance.
var ErrStuck = fmt.Errorf("simlink: engine deadline does not advance")

// Run steps until done returns true (checked after every step), nothing is
// left to do, or the simulated time passes limit. It returns whether done
// became true, and ErrStuck when more than a million steps happen at one
// instant.
func (s *Sim) Run(limit time.Duration, done func() bool) (bool, error) {
	same, last := 0, time.Duration(-1)
	for {
		if done != nil && done() {
			return true, nil
		}
		if !s.Step(limit) {
			return done != nil && done(), nil
		}
		if s.now == last {
			same++
			if same > 1_000_000 {
				return false, fmt.Errorf("%w at %v", ErrStuck, s.now)
			}
		} else {
			same, last = 0, s.now
		}
	}
}

type event struct {
	at  time.Duration
	seq uint64
	to  int
	p   packet.Packet
	buf []byte
}

// eventHeap is a binary min-heap on (at, seq), without interface boxing.
type eventHeap []event

func (h eventHeap) less(i, j int) bool {
	if h[i].at != h[j].at {
		return h[i].at < h[j].at
	}
	return h[i].seq < h[j].seq
}

func (h *eventHeap) push(e event) {
	*h = append(*h, e)
	q := *h
	i := len(q) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !q.less(i, p) {
			break
		}
		q[i], q[p] = q[p], q[i]
		i = p
	}
}

func (h *eventHeap) pop() event {
	q := *h
	e := q[0]
	n := len(q) - 1
	q[0] = q[n]
	q[n] = event{}
	q = q[:n]
	i := 0
	for {
		l, r, m := 2*i+1, 2*i+2, i
		if l < n && q.less(l, m) {
			m = l
		}
		if r < n && q.less(r, m) {
			m = r
		}
		if m == i {
			break
		}
		q[i], q[m] = q[m], q[i]
		i = m
	}
	*h = q
	return e
}

// Advance moves the simulated clock forward to t when nothing is due
// earlier (for tests that act at chosen instants).
func (s *Sim) Advance(t time.Duration) {
	if t > s.now {
		s.now = t
	}
}

package simlink

import (
	"math"
	"testing"
	"time"

	"github.com/pilot-go/pilot/internal/wire/packet"
)

// blaster sends n packets of size bytes at its first Output and records
// what it receives.
type blaster struct {
	n, size  int
	sent     bool
	received []time.Duration
	start    time.Time
}

func (b *blaster) Handle(p *packet.Packet, now time.Time) {
	b.received = append(b.received, now.Sub(b.start))
}

func (b *blaster) Output(now time.Time, out []packet.Packet) []packet.Packet {
	if b.sent {
		return out
	}
	b.sent = true
	for i := range b.n {
		out = append(out, packet.Packet{Flags: packet.FlagACK, Seq: uint32(i), Payload: make([]byte, b.size)})
	}
	return out
}

func (b *blaster) Tick(time.Time)          {}
func (b *blaster) NextDeadline() time.Time { return time.Time{} }

func run(t *testing.T, seed uint64, l Link, n, size int) (*Sim, *blaster) {
	t.Helper()
	s := New(seed, l, l)
	src, dst := &blaster{n: n, size: size, start: s.Start}, &blaster{sent: true, start: s.Start}
	s.Ends = [2]Endpoint{src, dst}
	s.Flush(0)
	if _, err := s.Run(time.Hour, nil); err != nil {
		t.Fatal(err)
	}
	return s, dst
}

func TestSerializationAndDelay(t *testing.T) {
	// 1,000 B/s and 1 s delay: packet i (66 bytes with the header) arrives
	// at (i+1)·66 ms + 1 s.
	s, dst := run(t, 1, Link{Delay: time.Second, Bandwidth: 1000}, 5, 32)
	if len(dst.received) != 5 {
		t.Fatalf("received %d", len(dst.received))
	}
	for i, at := range dst.received {
		want := time.Duration(i+1)*66*time.Millisecond + time.Second
		if at != want {
			t.Fatalf("packet %d at %v, want %v", i, at, want)
		}
	}
	if s.Stats[0].Delivered != 5 || s.Stats[0].Sent != 5 {
		t.Fatalf("stats %+v", s.Stats[0])
	}
}

func TestQueueOverflow(t *testing.T) {
	// 10 packets of 966 bytes into a 2,000-byte queue at 1,000 B/s: the
	// first departs at once; the queue holds about two more.
	s, dst := run(t, 1, Link{Bandwidth: 1000, QueueBytes: 2000}, 10, 966)
	if len(dst.received) != 3 || s.Stats[0].Overflow != 7 {
		t.Fatalf("received %d, overflow %d", len(dst.received), s.Stats[0].Overflow)
	}
}

func TestLossDupReorderSeeded(t *testing.T) {
	l := Link{Delay: time.Millisecond, Loss: 0.1, Dup: 0.05, Reorder: 0.2, ReorderDelay: 5 * time.Millisecond}
	s1, d1 := run(t, 7, l, 4000, 10)
	s2, d2 := run(t, 7, l, 4000, 10)
	if s1.Stats != s2.Stats || len(d1.received) != len(d2.received) {
		t.Fatal("same seed, different outcome")
	}
	for i := range d1.received {
		if d1.received[i] != d2.received[i] {
			t.Fatal("same seed, different trace")
		}
	}
	st := s1.Stats[0]
	if math.Abs(float64(st.Lost)/4000-0.1) > 0.025 || st.Duplicated == 0 {
		t.Fatalf("stats %+v", st)
	}
	if len(d1.received) != st.Sent-st.Lost+st.Duplicated {
		t.Fatalf("received %d, stats %+v", len(d1.received), st)
	}
	s3, _ := run(t, 8, l, 4000, 10)
	if s3.Stats == s1.Stats {
		t.Fatal("different seeds, same outcome")
	}
}

package stream

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/pilot-go/pilot/internal/wire/packet"
)

// fixedISN makes the ISN isn.
type fixedISN uint32

func (f fixedISN) Read(p []byte) (int, error) {
	binary.BigEndian.PutUint32(p, uint32(f))
	return len(p), nil
}

// SACK recovery works the same whatever the ISN (serial arithmetic across
// the wrap and across the 2^31 boundary).
func TestRecovery_ISNIndependent(t *testing.T) {
	for _, isn := range []uint32{0, 0x7FFFFFF0, 0x80000000, 0xFFFFF000} {
		t.Run(fmt.Sprintf("%08x", isn), func(t *testing.T) {
			cfgA, cfgB := testConfig(1), testConfig(2)
			cfgA.Rand, cfgB.Rand = fixedISN(isn), fixedISN(isn+0x40000000)
			cfgA.DisableTLP = true
			p := newPair(t, 5, lan(0), lan(0), cfgA, cfgB)
			dropped := map[uint32]bool{}
			p.sim.Drop = func(from int, now time.Duration, pk *packet.Packet) bool {
				k := (pk.Seq - isn - 1) / 4096 % 97
				if from == 0 && len(pk.Payload) == 4096 && (k == 50 || k == 53 || k == 56) && !dropped[pk.Seq] {
					dropped[pk.Seq] = true
					return true
				}
				return false
			}
			data := testData(2<<20, 1)
			got, ok := p.transfer(data, time.Minute)
			checkStream(t, got, data)
			st := p.a.Stats()
			if !ok || len(dropped) < 5 || st.RTOs != 0 || st.FastRetx < int64(len(dropped)) {
				t.Fatalf("closed %v drops %d stats %+v", ok, len(dropped), st)
			}
		})
	}
}

// Retransmission give-up (§9.9): no progress for 60 s and at least 6 RTOs
// → RST and a reset (timeout).
func TestGiveUpAfter60s(t *testing.T) {
	cfg := testConfig(1)
	cfg.Keepalive = 60 * time.Second
	cfg.IdleTimeout = 10 * time.Minute
	p := newPair(t, 1, lan(0), lan(0), cfg, testConfig(2))
	p.record()
	if _, err := p.sim.Run(time.Second, nil); err != nil {
		t.Fatal(err)
	}
	cut := p.sim.Elapsed()
	p.sim.Drop = func(from int, now time.Duration, pk *packet.Packet) bool { return from == 0 }
	p.a.Write(testData(100<<10, 1))
	p.sim.Flush(0)
	if _, err := p.sim.Run(cut+5*time.Minute, func() bool { return p.a.State() == StateClosed }); err != nil {
		t.Fatal(err)
	}
	st := p.a.Stats()
	d := p.sim.Elapsed() - cut
	if p.a.Reason() != ReasonTimeout || st.RTOs < giveUpRTOs || d < giveUpAfter || d > giveUpAfter+rtoMax {
		t.Fatalf("reason %v after %v with %d RTOs", p.a.Reason(), d, st.RTOs)
	}
	if last := p.trace[len(p.trace)-1]; last.from != 0 || last.flags != packet.FlagRST {
		t.Fatalf("last packet %+v, want our RST", last)
	}
}

// FIN retransmission (§9.12 rule 3): 8 transmissions on the RTO schedule,
// then RST and a reset.
func TestFINGiveUp(t *testing.T) {
	c := origDialer(t, testConfig(1))
	c.Close(at(10))
	fins, rst := 0, 0
	var when []time.Duration
	now := at(10)
	for i := 0; i < 100 && c.State() != StateClosed; i++ {
		for _, p := range c.Output(now, nil) {
			switch p.Flags {
			case packet.FlagFIN:
				fins++
				when = append(when, now.Sub(at(10)))
			case packet.FlagRST:
				rst++
			}
		}
		now = c.NextDeadline()
		c.Tick(now)
	}
	for _, p := range c.Output(now, nil) {
		if p.Flags == packet.FlagRST {
			rst++
		}
	}
	if fins != finMaxTx || rst != 1 || c.Reason() != ReasonTimeout {
		t.Fatalf("%d FINs at %v, %d RSTs, reason %v", fins, when, rst, c.Reason())
	}
	for i := 2; i < len(when); i++ {
		if g0, g1 := when[i-1]-when[i-2], when[i]-when[i-1]; g1 < g0 || g1 > rtoMax {
			t.Fatalf("FIN schedule %v is not a backed-off RTO schedule", when)
		}
	}
}

// Delayed ACKs (§9.7): every second full segment, or after at most 40 ms;
// a segment shorter than the largest seen is acknowledged at once.
func TestDelayedACK(t *testing.T) {
	r := origResponder(t, testConfig(2))
	seg := bytes.Repeat([]byte{1}, 4096)
	r.Handle(pk(packet.FlagACK, 1, r.ISN()+1, 512, seg), at(1))
	if out := r.Output(at(1), nil); len(out) != 0 {
		t.Fatalf("first segment ACKed at once: %+v", out)
	}
	if d := r.NextDeadline().Sub(at(1)); d <= 0 || d > 40*time.Millisecond {
		t.Fatalf("delayed ACK deadline %v", d)
	}
	r.Handle(pk(packet.FlagACK, 4097, r.ISN()+1, 512, seg), at(2))
	if out := r.Output(at(2), nil); len(out) != 1 || out[0].Ack != 8193 {
		t.Fatalf("second segment: %+v", out)
	}
	r.Handle(pk(packet.FlagACK, 8193, r.ISN()+1, 512, seg), at(3))
	r.Output(at(3), nil)
	d := r.NextDeadline()
	r.Tick(d)
	if out := r.Output(d, nil); len(out) != 1 || out[0].Ack != 12289 || d.Sub(at(3)) > 40*time.Millisecond {
		t.Fatalf("timer ACK after %v: %+v", d.Sub(at(3)), out)
	}
	r.Handle(pk(packet.FlagACK, 12289, r.ISN()+1, 512, []byte("tail")), at(100))
	if out := r.Output(at(100), nil); len(out) != 1 || out[0].Ack != 12293 {
		t.Fatalf("short segment: %+v", out)
	}
	// A duplicate gets an immediate ACK too.
	r.Handle(pk(packet.FlagACK, 1, r.ISN()+1, 512, seg), at(101))
	if out := r.Output(at(101), nil); len(out) != 1 {
		t.Fatalf("duplicate: %+v", out)
	}
}

// Nagle (§9.11): off by default; when on, a sub-MSS tail waits while data
// is unacknowledged, at most 40 ms.
func TestNagle(t *testing.T) {
	for _, on := range []bool{false, true} {
		cfg := testConfig(1)
		cfg.Nagle = on
		c := origDialer(t, cfg)
		c.Write([]byte("first"))
		if out := c.Output(at(2), nil); len(out) != 1 {
			t.Fatalf("first write: %+v", out)
		}
		c.Write([]byte("second"))
		out := c.Output(at(3), nil)
		if !on {
			if len(out) != 1 || string(out[0].Payload) != "second" {
				t.Fatalf("Nagle off: %+v", out)
			}
			continue
		}
		if len(out) != 0 {
			t.Fatalf("Nagle on: tail sent at once: %+v", out)
		}
		d := c.NextDeadline()
		if d.Sub(at(3)) > 40*time.Millisecond {
			t.Fatalf("hold until %v", d.Sub(at(3)))
		}
		c.Tick(d)
		if out := c.Output(d, nil); len(out) != 1 || string(out[0].Payload) != "second" {
			t.Fatalf("after the hold: %+v", out)
		}
	}
}

// Passive close rule 4: a retransmitted FIN gets at most 5 pure ACKs per second.
func TestOldFINAnswerRateLimit(t *testing.T) {
	r := origResponder(t, testConfig(2))
	r.Handle(pk(packet.FlagFIN, 1, r.ISN()+1, 0, nil), at(1))
	r.Output(at(1), nil)
	acks := 0
	for i := range 20 {
		r.Handle(pk(packet.FlagFIN, 1, r.ISN()+1, 0, nil), at(10+i))
		acks += len(r.Output(at(10+i), nil))
	}
	if acks != finAnswersPerSec {
		t.Fatalf("%d answers in one second", acks)
	}
}

// A reordering path (no loss): spurious fast retransmissions are detected,
// their window reductions undone, and RACK's reordering window takes over
// from DupThresh, so retransmissions stay rare.
func TestReorderingUndo(t *testing.T) {
	l := lan(0)
	l.Reorder, l.ReorderDelay = 0.01, 2*time.Millisecond
	p := newPair(t, 100, l, l, testConfig(1), testConfig(2))
	data := testData(8<<20, 1)
	got, ok := p.transfer(data, time.Minute)
	checkStream(t, got, data)
	s := &p.a.snd
	st := p.a.Stats()
	if !ok || !s.reordered || s.undos == 0 || s.reoMult < 2 {
		t.Fatalf("reordering not detected: reordered %v undos %d mult %d", s.reordered, s.undos, s.reoMult)
	}
	if reordered := p.sim.Stats[0].Sent / 100; st.Retransmits > int64(reordered) {
		t.Fatalf("%d retransmissions for about %d reordered segments", st.Retransmits, reordered)
	}
}

package stream

import (
	"testing"
	"time"

	"github.com/pilot-go/pilot/internal/wire/packet"
)

// originalFIN wraps an engine so that, on the wire, it closes like the
// original implementation: it answers every FIN-flagged packet it receives
// (FIN+ACK included) with a FIN+ACK, and its own closing FIN is sent as is.
type originalFIN struct {
	*checked
	answers []packet.Packet
}

func (o *originalFIN) Handle(p *packet.Packet, now time.Time) {
	if p.Flags&packet.FlagFIN != 0 {
		o.answers = append(o.answers, packet.Packet{Flags: packet.FlagFIN | packet.FlagACK,
			Protocol: packet.ProtoStream, Seq: o.c.snd.nxt, Ack: p.Seq + 1})
	}
	o.checked.Handle(p, now)
}

func (o *originalFIN) Output(now time.Time, out []packet.Packet) []packet.Packet {
	start := len(out)
	out = o.checked.Output(now, out)
	kept := out[:start]
	for _, p := range out[start:] {
		if p.Flags != packet.FlagFIN|packet.FlagACK {
			kept = append(kept, p)
		}
	}
	kept = append(kept, o.answers...)
	o.answers = o.answers[:0]
	return kept
}

// Conformance wire.md §14 item 20 in simulation: whichever side closes, a
// close between our engine and a peer that answers every FIN-flagged packet
// takes at most three FIN-flagged packets, and both sides are reaped within
// TIME_WAIT + 15 s.
func TestWire_C20_SimulatedOriginalPeer(t *testing.T) {
	for _, weClose := range []bool{true, false} {
		p := newPair(t, 3, lan(0), lan(0), testConfig(1), testConfig(2))
		p.record()
		if _, err := p.sim.Run(time.Second, func() bool { return p.b != nil }); err != nil {
			t.Fatal(err)
		}
		orig := &originalFIN{checked: p.sim.Ends[1].(*checked)}
		p.sim.Ends[1] = orig
		p.a.Write([]byte("request"))
		p.sim.Flush(0)
		if _, err := p.sim.Run(2*time.Second, nil); err != nil {
			t.Fatal(err)
		}
		closeAt := p.sim.Elapsed()
		if weClose {
			p.a.Close(p.sim.Now())
			p.sim.Flush(0)
		} else {
			p.b.Close(p.sim.Now())
			p.sim.Flush(1)
		}
		closed := func() bool { return p.a.State() == StateClosed && p.b.State() == StateClosed }
		if _, err := p.sim.Run(closeAt+DefaultTimeWait+15*time.Second, closed); err != nil {
			t.Fatal(err)
		}
		if !closed() {
			t.Fatalf("weClose=%v: not reaped: %v %v", weClose, p.a.State(), p.b.State())
		}
		fins := 0
		for _, e := range p.trace {
			if e.flags&packet.FlagFIN != 0 {
				fins++
			}
		}
		if fins > 3 || fins < 2 {
			t.Fatalf("weClose=%v: %d FIN-flagged packets", weClose, fins)
		}
		if p.a.Reason() != ReasonNone {
			t.Fatalf("weClose=%v: our side was reset: %v", weClose, p.a.Reason())
		}
	}
}

// A window update (§9.7) follows a read that frees a quarter of the buffer
// after the advertised window fell below a quarter.
func TestWindowUpdate(t *testing.T) {
	cfg := testConfig(2)
	cfg.RecvBuffer = 64 << 10
	r, _ := NewResponder(cfg, pk(packet.FlagSYN, 0, 0, 512, nil), at(0))
	r.Output(at(0), nil)
	seg := make([]byte, 4096)
	for i := range 15 {
		r.Handle(pk(packet.FlagACK, 1+uint32(i)*4096, r.ISN()+1, 512, seg), at(1))
	}
	out := r.Output(at(1), nil)
	if len(out) != 1 || out[0].Window != 1 {
		t.Fatalf("full buffer: %+v", out)
	}
	buf := make([]byte, 4096)
	r.Read(buf)
	if out := r.Output(at(2), nil); len(out) != 0 {
		t.Fatalf("update after one unit: %+v", out)
	}
	for range 4 {
		r.Read(buf)
	}
	out = r.Output(at(3), nil)
	if len(out) != 1 || out[0].Window != 6 || len(out[0].Payload) != 0 {
		t.Fatalf("window update: %+v", out)
	}
}

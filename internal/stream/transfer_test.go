package stream

import (
	"fmt"
	"testing"
	"time"

	"github.com/pilot-go/pilot/internal/wire/packet"
)

// finCounts returns, per side, bare FINs and FIN+ACKs sent.
func (p *pair) finCounts() (bare, finAck [2]int) {
	for _, e := range p.trace {
		switch e.flags {
		case packet.FlagFIN:
			bare[e.from]++
		case packet.FlagFIN | packet.FlagACK:
			finAck[e.from]++
		}
	}
	return
}

// Every byte arrives exactly once and in order, both ends reach CLOSED, and
// the close stays within the FIN budget, at 0, 1, 5 and 20 % random loss in
// both directions with either congestion controller.
func TestTransfer10MiB(t *testing.T) {
	data := testData(10<<20, 1)
	for _, loss := range []float64{0, 0.01, 0.05, 0.20} {
		for _, cc := range []string{CCCubic, CCNewReno} {
			t.Run(fmt.Sprintf("loss=%v/%s", loss, cc), func(t *testing.T) {
				var got []byte
				var p *pair
				ok := false
				// An application retries a failed dial (possible at 20 % loss).
				for attempt := uint64(0); attempt < 3 && !ok; attempt++ {
					cfgA, cfgB := testConfig(1+attempt), testConfig(2+attempt)
					cfgA.CC, cfgB.CC = cc, cc
					p = newPair(t, 42+attempt, lan(loss), lan(loss), cfgA, cfgB)
					p.record()
					got, ok = p.transfer(data, 30*time.Minute)
					if p.b != nil && p.evA&EvEstablished != 0 {
						break
					}
				}
				checkStream(t, got, data)
				if !ok {
					t.Fatalf("not closed: a %v b %v", p.a.State(), p.b.State())
				}
				if p.evA&EvReset != 0 || p.evB&EvReset != 0 {
					t.Fatalf("reset: %v / %v", p.a.Reason(), p.b.Reason())
				}
				bare, finAck := p.finCounts()
				// a closes actively: bare FINs (retransmitted only on loss),
				// b answers at most once with FIN+ACK and never sends a bare FIN.
				if finAck[0] != 0 || bare[1] != 0 || finAck[1] > 1 || bare[0] > finMaxTx {
					t.Fatalf("FINs: bare %v FIN+ACK %v", bare, finAck)
				}
				if loss == 0 && bare[0]+finAck[1] > 3 {
					t.Fatalf("lossless close used %d FIN-flagged packets", bare[0]+finAck[1])
				}
				st := p.a.Stats()
				t.Logf("data in %v (%.2f of link), sim %v, retx %d fast %d rtos %d sack_recv %d segs %d",
					p.doneAt, float64(len(data))/125e6/p.doneAt.Seconds(), p.sim.Elapsed(),
					st.Retransmits, st.FastRetx, st.RTOs, st.SackRecv, st.SegsSent)
			})
		}
	}
}

// Conformance wire.md §14 item 17 over a lossy, reordering, duplicating
// link with data full of SACK patterns: the checked wrapper fails the test
// on any overlapping segment, changed retransmission boundary or data
// segment the original would parse as SACK.
func TestWire_C17_SegmentsNeverLookLikeSACK(t *testing.T) { lossySACKyTransfer(t) }

// Conformance wire.md §14 item 18: every SACK payload we send is exactly
// 5 + 8·n bytes with 1 ≤ n ≤ 4 and blocks above the cumulative ACK
// (checked on every packet by the checked wrapper).
func TestWire_C18_SACKPayloadFormat(t *testing.T) {
	p := lossySACKyTransfer(t)
	for _, e := range p.trace {
		if e.sack && (e.n < 13 || e.n > 37 || (e.n-5)%8 != 0) {
			t.Fatalf("SACK payload of %d bytes", e.n)
		}
	}
}

func lossySACKyTransfer(t *testing.T) *pair {
	data := sackyData(2<<20, 5)
	l := lan(0.03)
	l.Dup, l.Reorder, l.ReorderDelay = 0.01, 0.05, 2*time.Millisecond
	p := newPair(t, 7, l, l, testConfig(1), testConfig(2))
	p.record()
	got, ok := p.transfer(data, 10*time.Minute)
	checkStream(t, got, data)
	if !ok {
		t.Fatal("not closed")
	}
	cut, sacks := 0, 0
	for _, e := range p.trace {
		if e.from == 0 && e.n > 0 && e.n < 4096 {
			cut++
		}
		if e.from == 1 && e.sack {
			sacks++
		}
	}
	if cut == 0 || sacks == 0 || p.b.Stats().SackSent == 0 {
		t.Fatalf("test did not exercise cuts (%d) or SACKs (%d)", cut, sacks)
	}
	return p
}

// No retransmission happens before the RTO without SACK evidence, and an
// RTO collapses cwnd to one segment (TLP off: probes are the exception).
func TestRecovery_RTOAndSACKEvidence(t *testing.T) {
	cfgA := testConfig(1)
	cfgA.DisableTLP = true
	data := testData(400*4096, 2)
	p := newPair(t, 3, lan(0), lan(0), cfgA, testConfig(2))
	p.record()
	segBase := func() uint32 { return p.a.ISN() + 1 }
	// Drop segment 100 once (recovered by SACK) and the final segment once
	// (a tail loss: nothing above it, so only the RTO can recover it).
	dropped := map[uint32]bool{}
	p.sim.Drop = func(from int, now time.Duration, pk *packet.Packet) bool {
		if from != 0 || len(pk.Payload) == 0 {
			return false
		}
		idx := (pk.Seq - segBase()) / 4096
		if (idx == 100 || idx == 399) && !dropped[idx] {
			dropped[idx] = true
			return true
		}
		return false
	}
	sentAt := map[uint32]time.Duration{}
	var sackSeen []time.Duration // SACK ACKs delivered to a (arrival times)
	cwndAtRTO := -1
	origTap := p.sim.Tap
	p.sim.Tap = func(from int, now time.Duration, pk *packet.Packet, drop bool) {
		origTap(from, now, pk, drop)
		if from == 1 && pk.Flags == packet.FlagACK && len(pk.Payload) > 0 && !drop {
			sackSeen = append(sackSeen, now+500*time.Microsecond)
		}
		if from != 0 || pk.Flags != packet.FlagACK || len(pk.Payload) == 0 {
			return
		}
		first, seen := sentAt[pk.Seq]
		if !seen {
			sentAt[pk.Seq] = now
			return
		}
		evidence := false
		for _, s := range sackSeen {
			if s > first && s <= now {
				evidence = true
			}
		}
		if !evidence {
			if now-first < rtoMin {
				t.Errorf("retransmission of %d after %v without SACK evidence", pk.Seq-segBase(), now-first)
			}
			cwndAtRTO = p.a.Stats().CongWin
		}
	}
	got, ok := p.transfer(data, time.Minute)
	checkStream(t, got, data)
	if !ok || len(dropped) != 2 {
		t.Fatalf("closed %v dropped %v", ok, dropped)
	}
	st := p.a.Stats()
	if st.FastRetx < 1 || st.RTOs < 1 {
		t.Fatalf("want one fast retransmission and one RTO: %+v", st)
	}
	if cwndAtRTO != DefaultMSS {
		t.Fatalf("cwnd at the RTO retransmission = %d, want one segment", cwndAtRTO)
	}
}

// A tail loss is repaired by a probe long before the RTO when TLP is on.
func TestRecovery_TailLossProbe(t *testing.T) {
	data := testData(400*4096, 2)
	p := newPair(t, 3, lan(0), lan(0), testConfig(1), testConfig(2))
	p.record()
	once := false
	p.sim.Drop = func(from int, now time.Duration, pk *packet.Packet) bool {
		if from == 0 && len(pk.Payload) > 0 && pk.Seq == p.a.ISN()+1+399*4096 && !once {
			once = true
			return true
		}
		return false
	}
	got, ok := p.transfer(data, time.Minute)
	checkStream(t, got, data)
	if !ok || !once {
		t.Fatal("not closed or nothing dropped")
	}
	if st := p.a.Stats(); st.RTOs != 0 || st.Retransmits != 1 {
		t.Fatalf("tail loss: %+v", st)
	}
}

// Conformance wire.md §14 item 23: an idle connection stays open for 10
// minutes with probes answered; a vanished peer is reset within
// idle-timeout + keepalive.
func TestWire_C23_IdleAndDeadPeer(t *testing.T) {
	cfg := testConfig(1)
	p := newPair(t, 9, lan(0), lan(0), cfg, testConfig(2))
	p.record()
	if _, err := p.sim.Run(time.Second, nil); err != nil {
		t.Fatal(err)
	}
	p.a.Write([]byte("ping"))
	p.sim.Flush(0)
	if _, err := p.sim.Run(10*time.Minute, nil); err != nil {
		t.Fatal(err)
	}
	if p.a.State() != StateEstablished || p.b.State() != StateEstablished {
		t.Fatalf("idle connection closed: %v %v (%v %v)", p.a.State(), p.b.State(), p.a.Reason(), p.b.Reason())
	}
	probes := 0
	for _, e := range p.trace {
		if e.n == 1 && e.flags == packet.FlagACK {
			probes++
		}
	}
	if probes < 10 {
		t.Fatalf("%d probes in 10 minutes", probes)
	}
	// The peer vanishes: every packet to it is lost.
	vanished := p.sim.Elapsed()
	p.sim.Drop = func(from int, now time.Duration, pk *packet.Packet) bool { return true }
	p.sim.Ends[1] = nil
	if _, err := p.sim.Run(vanished+10*time.Minute, func() bool { return p.a.State() == StateClosed }); err != nil {
		t.Fatal(err)
	}
	if p.a.State() != StateClosed || p.a.Reason() != ReasonDeadPeer {
		t.Fatalf("vanished peer: %v %v", p.a.State(), p.a.Reason())
	}
	if d := p.sim.Elapsed() - vanished; d > DefaultIdleTimeout+DefaultKeepalive {
		t.Fatalf("dead peer detected after %v", d)
	}
}

// A slow reader only shrinks its own window: the sender never overruns the
// receive buffer and every byte still arrives once.
func TestSlowReaderWindow(t *testing.T) {
	cfgB := testConfig(2)
	cfgB.RecvBuffer = 64 << 10
	p := newPair(t, 11, lan(0.01), lan(0.01), testConfig(1), cfgB)
	data := testData(1<<20, 4)
	got := make([]byte, 0, len(data))
	buf := make([]byte, 1000)
	off := 0
	maxUsed := 0
	// The reader takes 1,000 bytes per millisecond of simulated time.
	for tick := time.Millisecond; tick < 10*time.Minute && len(got) < len(data); tick += time.Millisecond {
		if off < len(data) && p.a.State() == StateEstablished {
			n, _ := p.a.Write(data[off:])
			off += n
			p.sim.Flush(0)
		}
		if _, err := p.sim.Run(tick, nil); err != nil {
			t.Fatal(err)
		}
		p.sim.Advance(tick)
		if p.b != nil {
			maxUsed = max(maxUsed, p.b.rcv.extent())
			n, _ := p.b.Read(buf)
			got = append(got, buf[:n]...)
			p.sim.Flush(1)
		}
	}
	checkStream(t, got, data)
	if maxUsed > 64<<10 {
		t.Fatalf("receiver held %d bytes, beyond its 64 KiB buffer", maxUsed)
	}
	if st := p.a.Stats(); st.RTOs > 2 {
		t.Fatalf("slow reader caused %d RTOs", st.RTOs)
	}
}

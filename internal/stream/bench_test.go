package stream

import (
	"fmt"
	"testing"
	"time"

	"github.com/pilot-go/pilot/internal/stream/simlink"
	"github.com/pilot-go/pilot/internal/wire/packet"
)

// benchLink is 1 Gbit/s with 1 ms RTT and a 256 KiB (2 BDP) tail-drop queue;
// every packet also pays 70 bytes of PILS framing on the wire, so the best
// possible goodput is 4096 / (4096 + 34 + 70) ≈ 0.975 of the link.
func benchLink(loss float64) simlink.Link {
	return simlink.Link{Delay: 500 * time.Microsecond, Bandwidth: 125_000_000, QueueBytes: 256 << 10,
		Overhead: 70, Loss: loss}
}

// BenchmarkGoodput measures, in simulated time, the goodput of a 32 MiB
// bulk transfer over benchLink (loss in both directions, or 1 % of packets
// delayed by up to 2 ms: reordering) from the moment
// the connection is established to the last byte read, as a fraction of
// the link rate (link-frac). ns/op is the real CPU time of the simulation.
func BenchmarkGoodput(b *testing.B) {
	const size = 32 << 20
	data := testData(size, 1)
	type variant struct {
		name    string
		loss    float64
		reorder float64
	}
	for _, v := range []variant{{"loss=0", 0, 0}, {"loss=0.01", 0.01, 0}, {"loss=0.05", 0.05, 0}, {"reorder=0.01", 0, 0.01}} {
		for _, cc := range []string{CCCubic, CCNewReno} {
			b.Run(v.name+"/"+cc, func(b *testing.B) {
				b.SetBytes(size)
				frac := 0.0
				for i := 0; i < b.N; i++ {
					cfgA, cfgB := testConfig(uint64(i)), testConfig(uint64(i)+1)
					cfgA.CC, cfgB.CC = cc, cc
					l := benchLink(v.loss)
					l.Reorder, l.ReorderDelay = v.reorder, 2*time.Millisecond
					p := newPair(b, uint64(i)+100, l, l, cfgA, cfgB)
					if _, err := p.sim.Run(time.Minute, func() bool { return p.a.State() == StateEstablished }); err != nil {
						b.Fatal(err)
					}
					start := p.sim.Elapsed()
					got, _ := p.transfer(data, time.Hour)
					if len(got) != size || p.doneAt == 0 {
						b.Fatalf("received %d bytes", len(got))
					}
					frac += float64(size) / 125e6 / (p.doneAt - start).Seconds()
				}
				b.ReportMetric(frac/float64(b.N), "link-frac")
			})
		}
	}
}

// BenchmarkEngine measures the real CPU cost of moving bytes through two
// engines (sender and receiver, ACKs included) connected back to back:
// MB/s is what one core can push through the state machines alone.
func BenchmarkEngine(b *testing.B) {
	for _, mss := range []int{1360, 4096, 16384} {
		b.Run(fmt.Sprintf("mss=%d", mss), func(b *testing.B) {
			cfgA, cfgB := testConfig(1), testConfig(2)
			cfgA.MSS, cfgB.MSS = mss, mss
			now := t0
			a, _ := NewDialer(cfgA, now)
			out := a.Output(now, nil)
			r, err := NewResponder(cfgB, &out[0], now)
			if err != nil {
				b.Fatal(err)
			}
			var outA, outB []packet.Packet
			outB = r.Output(now, outB[:0])
			a.Handle(&outB[0], now)
			chunk := testData(64<<10, 3)
			rd := make([]byte, 64<<10)
			const perOp = 1 << 20
			b.SetBytes(perOp)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				moved := 0
				for moved < perOp {
					a.Write(chunk)
					now = now.Add(20 * time.Microsecond)
					a.Tick(now)
					outA = a.Output(now, outA[:0])
					for k := range outA {
						r.Handle(&outA[k], now)
					}
					for {
						n, _ := r.Read(rd)
						moved += n
						if n == 0 {
							break
						}
					}
					r.Tick(now)
					outB = r.Output(now, outB[:0])
					for k := range outB {
						a.Handle(&outB[k], now)
					}
				}
			}
		})
	}
}

package stream

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/pilot-go/pilot/internal/stream/simlink"
)

// TestProperty_RandomSchedules runs seeded random scenarios: link loss,
// duplication, reordering, delay and bandwidth; MSS, buffers, Nagle and
// congestion controller; data sizes, write chunks and reader pace; data in
// both directions with SACK patterns. The checked wrapper asserts the wire
// invariants on every packet (no overlap, same boundaries, no SACK-looking
// data, exact SACK payloads, window never 0, in flight within the window);
// here we check exactly-once in-order delivery and that both ends close.
func TestProperty_RandomSchedules(t *testing.T) {
	n := 200
	if testing.Short() {
		n = 30
	}
	for seed := uint64(1); seed <= uint64(n); seed++ {
		if s := os.Getenv("SEED"); s != "" && s != fmt.Sprint(seed) {
			continue
		}
		t.Run(fmt.Sprint(seed), func(t *testing.T) { runScenario(t, seed) })
	}
}

func runScenario(t *testing.T, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 99))
	pick := func(xs ...int) int { return xs[r.IntN(len(xs))] }
	link := simlink.Link{
		Delay:        time.Duration(50+r.IntN(20000)) * time.Microsecond,
		Bandwidth:    int64(pick(0, 1_000_000, 10_000_000, 125_000_000)),
		QueueBytes:   pick(0, 64<<10, 1<<20),
		Loss:         r.Float64() * 0.12,
		Dup:          r.Float64() * 0.03,
		Reorder:      r.Float64() * 0.1,
		ReorderDelay: time.Duration(r.IntN(5000)) * time.Microsecond,
	}
	mss := pick(512, 1360, 4096, 16384)
	mk := func(s uint64) Config {
		c := testConfig(s)
		c.MSS = mss
		c.RecvBuffer = pick(8<<10, 64<<10, 4<<20)
		c.SendBuffer = max(mss, pick(16<<10, 4<<20))
		c.Nagle = r.IntN(4) == 0
		c.CC = []string{CCCubic, CCNewReno}[r.IntN(2)]
		c.DisablePacing = r.IntN(4) == 0
		c.DisableTLP = r.IntN(4) == 0
		return c
	}
	cfgA, cfgB := mk(seed*2), mk(seed*2+1)
	dataA := sackyData(r.IntN(300<<10), seed)
	dataB := sackyData(r.IntN(100<<10), seed+1000)
	chunk := pick(1, 100, 1000, 65536, 1<<20)
	readEvery := pick(1, 1, 3, 20)
	t.Logf("link %+v mss %d a %+v b %+v sizes %d/%d chunk %d readEvery %d", link, mss,
		cfgA, cfgB, len(dataA), len(dataB), chunk, readEvery)

	p := newPair(t, seed, link, link, cfgA, cfgB)
	if os.Getenv("SEED") != "" {
		p.record()
	}
	var gotA, gotB []byte
	buf := make([]byte, 1+r.IntN(70000))
	offA, offB, steps := 0, 0, 0
	closedA, closedB := false, false
	write := func(c *Conn, data []byte, off *int, end int) {
		// The application writes up to 64 chunks per event.
		for range 64 {
			if *off >= len(data) || c.State() != StateEstablished {
				return
			}
			n, err := c.Write(data[*off:min(len(data), *off+chunk)])
			if err != nil {
				t.Fatalf("write: %v", err)
			}
			*off += n
			if n == 0 {
				return
			}
			p.sim.Flush(end)
		}
	}
	read := func(c *Conn, got *[]byte, end int) bool {
		eof := false
		for {
			n, err := c.Read(buf)
			*got = append(*got, buf[:n]...)
			if err == io.EOF {
				eof = true
			}
			if n == 0 || err != nil {
				break
			}
		}
		p.sim.Flush(end)
		return eof
	}
	done := func() bool {
		steps++
		write(p.a, dataA, &offA, 0)
		if offA == len(dataA) && !closedA && p.a.State() == StateEstablished {
			closedA = true
			p.a.Close(p.sim.Now())
			p.sim.Flush(0)
		}
		if !closedA {
			read(p.a, &gotA, 0)
		}
		if p.b != nil {
			write(p.b, dataB, &offB, 1)
			if steps%readEvery == 0 && read(p.b, &gotB, 1) && !closedB {
				closedB = true
				p.b.Close(p.sim.Now())
				p.sim.Flush(1)
			}
		}
		return p.a.State() == StateClosed && (p.b == nil || p.b.State() == StateClosed)
	}
	ok, err := p.sim.Run(time.Hour, done)
	if err != nil {
		t.Fatal(err)
	}
	if p.b == nil || p.a.Reason() == ReasonDialTimeout {
		if p.a.Reason() != ReasonDialTimeout {
			t.Fatalf("no connection and no dial timeout: %v", p.a.Reason())
		}
		return
	}
	if !ok {
		sa, rb := &p.a.snd, &p.b.rcv
		t.Logf("a: una %d nxt %d unsent %d inflight %d wnd %d cwnd %d pipe %d rto %v tlp %v pace %v hint %d recov %v/%v; offA %d/%d gotB %d; b: nxt %d read %d cap %d ooo %d buf %d",
			sa.una-p.a.iss, sa.nxt-p.a.iss, sa.unsent(), sa.inFlightSegs(), sa.peerWnd, sa.cwnd, sa.pipe, sa.rtoAt, sa.tlpAt, sa.paceAt, sa.retxHint-sa.head, sa.inRecovery, sa.rtoRecovery, offA, len(dataA), len(gotB),
			rb.nxt-p.a.irs, rb.readSeq-p.a.irs, rb.capLimit, len(rb.ooo), rb.buf.n)
		for _, x := range p.trace[max(0, len(p.trace)-12):] {
			t.Logf("%d %v %v seq %d ack %d n %d win %d sack %v drop %v", x.from, x.at, x.flags, x.seq, x.ack, x.n, x.win, x.sack, x.dropped)
		}
		t.Fatalf("not closed: a %v (%v) b %v (%v)", p.a.State(), p.a.Reason(), p.b.State(), p.b.Reason())
	}
	read(p.b, &gotB, 1) // what arrived before CLOSED stays readable
	if !bytes.HasPrefix(dataB, gotA) {
		t.Fatalf("a received %d bytes that are not a prefix of b's data", len(gotA))
	}
	if p.a.Reason() == ReasonNone && p.b.Reason() == ReasonNone {
		checkStream(t, gotB, dataA)
	} else if !bytes.HasPrefix(dataA, gotB) {
		t.Fatalf("b received %d bytes that are not a prefix of a's data", len(gotB))
	} else {
		t.Logf("reset: a %v b %v", p.a.Reason(), p.b.Reason())
	}
}

package stream

import (
	"bytes"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/pilot-go/pilot/internal/stream/simlink"
	"github.com/pilot-go/pilot/internal/wire/packet"
	"github.com/pilot-go/pilot/internal/wire/sack"
)

// seededRand is a deterministic ISN source for tests.
type seededRand struct{ r *rand.Rand }

func (s seededRand) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(s.r.Uint32())
	}
	return len(p), nil
}

func testConfig(seed uint64) Config {
	return Config{Rand: seededRand{rand.New(rand.NewPCG(seed, 7))}}
}

func testData(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), 1})
	_, _ = r.Read(b)
	return b
}

// lan is a 1 Gbit/s link with 0.5 ms one-way delay and a 1 MiB queue.
func lan(loss float64) simlink.Link {
	return simlink.Link{Delay: 500 * time.Microsecond, Bandwidth: 125_000_000, QueueBytes: 1 << 20,
		Overhead: 70, Loss: loss}
}

// pair is a dialer (end 0) and a responder (end 1) created on the first SYN.
type pair struct {
	t        testing.TB
	sim      *simlink.Sim
	a, b     *Conn
	cfgB     Config
	evA, evB Events
	trace    []tracePkt
	keep     bool
	doneAt   time.Duration // when the receiver had every byte
	fails    int
}

type tracePkt struct {
	from    int
	at      time.Duration
	flags   packet.Flags
	seq     uint32
	ack     uint32
	win     uint16
	n       int
	sack    bool
	dropped bool
}

func newPair(t testing.TB, seed uint64, ab, ba simlink.Link, cfgA, cfgB Config) *pair {
	t.Helper()
	p := &pair{t: t, sim: simlink.New(seed, ab, ba), cfgB: cfgB}
	a, err := NewDialer(cfgA, p.sim.Now())
	if err != nil {
		t.Fatal(err)
	}
	p.a = a
	p.sim.Ends[0] = newChecked(a, p.fail)
	p.sim.OnEmpty = func(to int, now time.Time, pk *packet.Packet) {
		if to != 1 || pk.Flags != packet.FlagSYN {
			return
		}
		b, err := NewResponder(p.cfgB, pk, now)
		if err != nil {
			t.Fatal(err)
		}
		p.b = b
		p.sim.Ends[1] = newChecked(b, p.fail)
	}
	p.sim.Flush(0)
	return p
}

func (p *pair) fail(format string, args ...any) {
	p.t.Helper()
	p.fails++
	if p.fails <= 5 {
		p.t.Errorf("at %v: "+format, append([]any{p.sim.Elapsed()}, args...)...)
	}
}

// record keeps a trace of every packet sent (for assertions on behaviour).
func (p *pair) record() {
	p.keep = true
	p.sim.Tap = func(from int, now time.Duration, pk *packet.Packet, dropped bool) {
		p.trace = append(p.trace, tracePkt{from: from, at: now, flags: pk.Flags, seq: pk.Seq, ack: pk.Ack,
			win: pk.Window, n: len(pk.Payload), sack: pk.Flags == packet.FlagACK && sack.IsSACK(pk.Payload), dropped: dropped})
	}
}

// transfer sends data from a to b and closes both ends; it returns what b
// read and whether both ends reached CLOSED within limit.
func (p *pair) transfer(data []byte, limit time.Duration) ([]byte, bool) {
	p.t.Helper()
	got := make([]byte, 0, len(data))
	buf := make([]byte, 64<<10)
	off := 0
	closedA, closedB := false, false
	done := func() bool {
		p.evA |= p.a.Events()
		if off < len(data) && p.a.State() == StateEstablished {
			n, err := p.a.Write(data[off:])
			if err != nil {
				p.t.Fatalf("write: %v", err)
			}
			off += n
			if n > 0 {
				p.sim.Flush(0)
			}
		}
		if off == len(data) && !closedA && p.a.State() == StateEstablished {
			closedA = true
			p.a.Close(p.sim.Now())
			p.sim.Flush(0)
		}
		if p.b != nil {
			p.evB |= p.b.Events()
			for {
				n, err := p.b.Read(buf)
				got = append(got, buf[:n]...)
				if err == io.EOF && !closedB {
					closedB = true
					p.b.Close(p.sim.Now())
					p.sim.Flush(1)
				}
				if n == 0 || err != nil {
					break
				}
			}
			if n := len(got); n > 0 {
				p.sim.Flush(1) // window updates
			}
			if len(got) == len(data) && p.doneAt == 0 {
				p.doneAt = p.sim.Elapsed()
			}
		}
		return p.a.State() == StateClosed && p.b != nil && p.b.State() == StateClosed
	}
	ok, err := p.sim.Run(limit, done)
	if err != nil {
		p.t.Fatal(err)
	}
	return got, ok
}

func checkStream(t testing.TB, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		i := 0
		for i < len(got) && i < len(want) && got[i] == want[i] {
			i++
		}
		t.Fatalf("received %d bytes, want %d; first difference at %d", len(got), len(want), i)
	}
}

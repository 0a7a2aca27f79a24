package stream

import (
	"errors"
	"testing"
	"time"

	"github.com/pilot-go/pilot/internal/wire/packet"
)

// capBudget is a daemon-wide MemoryBudget with a small cap.
type capBudget struct{ cap, used, peak int }

func (b *capBudget) Acquire(n int) int {
	g := min(n, b.cap-b.used)
	b.used += g
	b.peak = max(b.peak, b.used)
	return g
}

func (b *capBudget) Release(n int) { b.used -= n }

// physical is what a connection's buffers really hold.
func physical(c *Conn) int { return c.rcv.buf.cap() + c.snd.buf.cap() }

// Conformance wire.md §14 item 30 (the per-connection side): with a small
// -max-buffer-memory the buffers of all connections never exceed it, every
// connection still advertises at least one unit (checked on every packet),
// transfers complete, and a connection that would not fit is refused.
func TestWire_C30_MemoryBudget(t *testing.T) {
	const minCharge = MinRecvCharge + MinSendCharge
	budget := &capBudget{cap: 4*minCharge + 100<<10}
	mk := func(seed uint64) Config {
		c := testConfig(seed)
		c.Budget = budget
		return c
	}
	var conns []*Conn
	check := func() {
		total := 0
		for _, c := range conns {
			if physical(c) > c.Charged() && c.State() != StateClosed {
				t.Fatalf("connection holds %d bytes but is charged %d", physical(c), c.Charged())
			}
			total += c.Charged()
		}
		if budget.used > budget.cap || total > budget.cap {
			t.Fatalf("budget used %d (conns %d) > cap %d", budget.used, total, budget.cap)
		}
	}
	p1 := newPair(t, 1, lan(0.01), lan(0.01), mk(1), mk(2))
	p2 := newPair(t, 2, lan(0.01), lan(0.01), mk(3), mk(4))
	for _, p := range []*pair{p1, p2} {
		if _, err := p.sim.Run(time.Second, func() bool { return p.b != nil }); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, p.a, p.b)
		p.sim.Tap = func(int, time.Duration, *packet.Packet, bool) { check() }
	}
	check()
	// A fifth connection does not fit its 128 KiB minimum: refused (RST).
	if _, err := NewResponder(mk(9), pk(packet.FlagSYN, 0, 0, 1, nil), at(0)); !errors.Is(err, ErrNoMemory) {
		t.Fatalf("fifth connection: %v", err)
	}
	if budget.used != 4*minCharge {
		t.Fatalf("a refused connection kept its charge: %d", budget.used)
	}
	data := testData(2<<20, 8)
	for _, p := range []*pair{p1, p2} {
		got, ok := p.transfer(data, 10*time.Minute)
		checkStream(t, got, data)
		if !ok {
			t.Fatal("not closed")
		}
	}
	if budget.peak <= 4*minCharge {
		t.Fatalf("connections never grew beyond the minimum (peak %d)", budget.peak)
	}
	if budget.used != 0 {
		t.Fatalf("closed connections still charge %d bytes", budget.used)
	}
}

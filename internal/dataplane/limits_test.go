package dataplane

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/wire/packet"
	"github.com/pilot-go/pilot/internal/wire/sack"
)

const selfNode addr.NodeID = 10

// newCaptureDP returns a data plane for node 10 whose packets are captured.
func newCaptureDP(t *testing.T, mod func(*Config)) (*DataPlane, *capture) {
	t.Helper()
	tr := newCapture()
	cfg := Config{Self: fixedSelf(selfNode), Transport: tr}
	if mod != nil {
		mod(&cfg)
	}
	dp, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dp.Shutdown(context.Background()) })
	return dp, tr
}

func synFrom(node addr.NodeID, srcPort, dstPort addr.Port) *packet.Packet {
	return &packet.Packet{Flags: packet.FlagSYN, Protocol: packet.ProtoStream,
		Src: addr.New(4, node), Dst: addr.New(4, selfNode), SrcPort: srcPort, DstPort: dstPort,
		Seq: 1000 + uint32(srcPort), Window: 16}
}

func isRST(p packet.Packet) bool    { return p.Flags == packet.FlagRST }
func isSynAck(p packet.Packet) bool { return p.Flags == packet.FlagSYN|packet.FlagACK }

// §14 item 25: an inadmissible SYN to a bound or unbound port gets no
// reply at all; an admitted SYN to an unbound port gets an RST from the
// address the SYN was sent to.
func TestWire_Item25_InadmissibleSYNSilent_UnboundPortRST(t *testing.T) {
	ev := &events{}
	dp, tr := newCaptureDP(t, func(c *Config) {
		c.Events = ev
		c.Admission = admitFunc(func(peer addr.NodeID, port addr.Port, _ packet.Protocol) Verdict {
			switch peer {
			case 66:
				return Verdict{Admit: true}
			case 77:
				return Verdict{PortRejected: true, Network: 4}
			}
			return Verdict{}
		})
	})
	dp.Listen(1000, newFakeSink())
	dp.HandlePacket(55, synFrom(55, 50000, 1000)) // bound, rejected
	dp.HandlePacket(55, synFrom(55, 50001, 2000)) // unbound, rejected
	dp.HandlePacket(77, synFrom(77, 50002, 1000)) // port rejected
	if ps := tr.all(); len(ps) != 0 {
		t.Fatalf("inadmissible SYNs were answered: %+v", ps)
	}
	if ev.count("syn.rejected") != 2 || ev.count("syn.port_rejected") != 1 {
		t.Fatalf("webhooks %v", ev.evs)
	}
	syn := synFrom(66, 50003, 2000)
	dp.HandlePacket(66, syn)
	ps := tr.all()
	if len(ps) != 1 || !isRST(ps[0].p) || ps[0].to != 66 {
		t.Fatalf("admitted SYN to unbound port: %+v", ps)
	}
	r := ps[0].p
	if r.Src != syn.Dst || r.Dst != syn.Src || r.SrcPort != 2000 || r.DstPort != 50003 || r.Seq != 0 || r.Ack != 0 || r.Window != 0 {
		t.Fatalf("RST fields %+v", r)
	}
}

// §9.14: data or a bare FIN for an unknown connection gets an RST at most
// once per second per (peer, ports); pure ACKs, FIN+ACKs and RSTs never.
func TestWire_RSTForUnknownConnection(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dp, tr := newCaptureDP(t, nil)
		mk := func(f packet.Flags, payload string) *packet.Packet {
			return &packet.Packet{Flags: f, Protocol: packet.ProtoStream, Src: addr.New(0, 5),
				Dst: addr.New(0, selfNode), SrcPort: 40000, DstPort: 1000, Payload: []byte(payload)}
		}
		// A pure ACK may carry a SACK list (§9.2): still a pure ACK.
		sackACK, _ := sack.Append(nil, []sack.Block{{Left: 100, Right: 200}})
		for _, p := range []*packet.Packet{mk(packet.FlagACK, ""), mk(packet.FlagACK, string(sackACK)),
			mk(packet.FlagFIN|packet.FlagACK, ""), mk(packet.FlagRST, "")} {
			dp.HandlePacket(5, p)
		}
		if n := len(tr.all()); n != 0 {
			t.Fatalf("%d replies to ACK / SACK ACK / FIN+ACK / RST", n)
		}
		dp.HandlePacket(5, mk(packet.FlagACK, "data"))
		dp.HandlePacket(5, mk(packet.FlagFIN, ""))
		if n := len(tr.all()); n != 1 {
			t.Fatalf("%d RSTs within one second, want 1", n)
		}
		synctest.Wait()
		waitVirtual(1001)
		dp.HandlePacket(5, mk(packet.FlagFIN, ""))
		if ps := tr.all(); len(ps) != 2 || !isRST(ps[1].p) {
			t.Fatalf("after a second: %+v", ps)
		}
		dp.Shutdown(context.Background())
	})
}

// §9.15: connections per port and total → RST; accept queue full → RST
// before the SYN-ACK; SYN rate limits → silent drop and webhook.
func TestWire_Limits_CapsAcceptQueueAndSYNRate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ev := &events{}
		dp, tr := newCaptureDP(t, func(c *Config) {
			c.MaxConnsPerPort, c.MaxConnsTotal, c.AcceptQueue, c.SYNRate, c.Events = 2, 3, 1, 6, ev
		})
		dp.Listen(1000, newFakeSink())
		dp.Listen(2000, newFakeSink())
		dp.HandlePacket(1, synFrom(1, 50000, 1000))
		dp.HandlePacket(2, synFrom(2, 50000, 1000))
		dp.HandlePacket(3, synFrom(3, 50000, 1000)) // per-port cap
		dp.HandlePacket(4, synFrom(4, 50000, 2000))
		dp.HandlePacket(5, synFrom(5, 50000, 2000)) // total cap
		ps := tr.all()
		want := []bool{true, true, false, true, false}
		if len(ps) != len(want) {
			t.Fatalf("%d replies, want %d", len(ps), len(want))
		}
		for i, w := range want {
			if isSynAck(ps[i].p) != w || (!w && !isRST(ps[i].p)) {
				t.Fatalf("reply %d = %v, want SYN-ACK %v", i, ps[i].p.Flags, w)
			}
		}
		// Rate limit: 6 tokens, 5 used; the 7th SYN (and beyond) is dropped
		// silently with security.syn_rate_limited.
		dp.HandlePacket(6, synFrom(6, 50000, 3000))
		dp.HandlePacket(7, synFrom(7, 50000, 3000))
		if n := len(tr.all()); n != 6 || ev.count("security.syn_rate_limited") != 1 {
			t.Fatalf("%d replies, %d rate-limit events", n, ev.count("security.syn_rate_limited"))
		}
		dp.Shutdown(context.Background())
	})
	synctest.Test(t, func(t *testing.T) {
		dp, tr := newCaptureDP(t, func(c *Config) { c.AcceptQueue = 1 })
		if _, err := dp.ListenBuiltin(7); err != nil {
			t.Fatal(err)
		}
		dp.HandlePacket(1, synFrom(1, 50000, 7))
		dp.HandlePacket(2, synFrom(2, 50000, 7)) // queue holds one: RST
		ps := tr.all()
		if len(ps) != 2 || !isSynAck(ps[0].p) || !isRST(ps[1].p) {
			t.Fatalf("accept queue: %+v", ps)
		}
		dp.Shutdown(context.Background())
	})
	synctest.Test(t, func(t *testing.T) {
		dp, tr := newCaptureDP(t, nil)
		dp.Listen(1000, newFakeSink())
		for i := range 11 { // per source: 10/s, burst 10
			dp.HandlePacket(9, synFrom(9, 50000+addr.Port(i), 1000))
		}
		if n := len(tr.all()); n != 10 {
			t.Fatalf("%d SYN-ACKs for 11 SYNs from one node, want 10", n)
		}
		dp.Shutdown(context.Background())
	})
}

// §14 item 30: with a small buffer cap, the charge never exceeds it, every
// connection advertises at least one window unit, and a SYN whose
// connection would not fit its 128 KiB minimum gets an RST.
func TestWire_Item30_BufferCap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dp, tr := newCaptureDP(t, func(c *Config) { c.MaxBufferMemory = 3*ConnMinCharge + 1000 })
		dp.Listen(1000, newFakeSink())
		for i := range 4 {
			dp.HandlePacket(addr.NodeID(1+i), synFrom(addr.NodeID(1+i), 50000, 1000))
		}
		ps := tr.all()
		if len(ps) != 4 || !isRST(ps[3].p) {
			t.Fatalf("fourth SYN: %+v", ps)
		}
		for _, p := range ps[:3] {
			if !isSynAck(p.p) || p.p.Window < 1 {
				t.Fatalf("SYN-ACK %+v", p.p)
			}
		}
		if b := dp.Budget(); b.Peak() > b.Cap() || b.Used() != 3*ConnMinCharge {
			t.Fatalf("budget used %d peak %d cap %d", b.Used(), b.Peak(), b.Cap())
		}
		dp.Shutdown(context.Background())
		if u := dp.Budget().Used(); u != 0 {
			t.Fatalf("%d bytes still charged after shutdown", u)
		}
	})
}

// §2.3: ephemeral ports skip bound ports, live connections and tuples
// closed less than 60 s ago.
func TestWire_EphemeralTupleRule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dp, _ := newCaptureDP(t, nil)
		now := timeNow()
		dp.mu.Lock()
		defer dp.mu.Unlock()
		base := EphemeralMin + 100
		at := func(p addr.Port) { dp.ports.next = int(p - EphemeralMin) }
		dp.listeners[base] = &listener{port: base}
		at(base)
		if p := dp.ephemeralLocked(5, 80, now); p != base+1 {
			t.Fatalf("bound port not skipped: got %d", p)
		}
		dp.portConns[base+1] = 1
		at(base)
		if p := dp.ephemeralLocked(5, 80, now); p != base+2 {
			t.Fatalf("live connection port not skipped: got %d", p)
		}
		dp.ports.closed(tupleKey{base + 2, 5, 80}, now)
		at(base + 2)
		if p := dp.ephemeralLocked(5, 80, now.Add(59e9)); p != base+3 {
			t.Fatalf("tuple closed 59 s ago reused: got %d", p)
		}
		at(base + 2)
		if p := dp.ephemeralLocked(6, 80, now.Add(59e9)); p != base+2 {
			t.Fatalf("other peer must get the port: got %d", p)
		}
		at(base + 2)
		if p := dp.ephemeralLocked(5, 80, now.Add(60e9)); p != base+2 {
			t.Fatalf("tuple closed 60 s ago still skipped: got %d", p)
		}
		delete(dp.listeners, base)
		delete(dp.portConns, base+1)
	})
}

func timeNow() time.Time { return time.Now() }

// waitVirtual advances a synctest bubble's fake clock by ms milliseconds
// (time passes only in the bubble; nothing real is waited for).
func waitVirtual(ms int) { time.Sleep(time.Duration(ms) * time.Millisecond) }

package dataplane

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/ipc"
	"github.com/pilot-go/pilot/internal/stream"
	"github.com/pilot-go/pilot/internal/wire/ipcmsg"
	"github.com/pilot-go/pilot/internal/wire/packet"
)

// §14 item 15: every packet of a dial to N:<node> carries source
// N:<own node>; the responder answers from the SYN's destination; and a
// peer that replies from network 0 still matches (networks are ignored).
func TestWire_Item15_SourceAddressAndNetworkAgnosticMatching(t *testing.T) {
	for _, rewrite := range []bool{false, true} {
		n := newFakeNet(t, 0, 7)
		var mu sync.Mutex
		var bad []string
		n.tap = func(from, to addr.NodeID, p *packet.Packet) bool {
			if p.Src.Network != 5 || p.Dst.Network != 5 {
				mu.Lock()
				bad = append(bad, p.Src.String()+" → "+p.Dst.String())
				mu.Unlock()
			}
			if rewrite && from == 10 { // the responder replies from network 0
				p.Src.Network, p.Dst.Network = 0, 0
			}
			return true
		}
		a := n.add(t, 10, nil)
		b := n.add(t, 20, nil)
		sa, sb := newFakeSink(), newFakeSink()
		a.dp.Listen(1000, sa)
		cb := dialIPC(t, b.dp, addr.New(5, 10), 1000, sb)
		ca := sa.accept(t)
		cb.Send([]byte("ping"))
		if got, _ := sa.readAll(t, ca, 4); string(got) != "ping" {
			t.Fatalf("got %q", got)
		}
		ca.Send([]byte("pong"))
		if got, _ := sb.readAll(t, cb, 4); string(got) != "pong" {
			t.Fatalf("got %q", got)
		}
		mu.Lock()
		if len(bad) > 0 {
			t.Fatalf("rewrite=%v: packets outside network 5: %v", rewrite, bad)
		}
		mu.Unlock()
		if l := a.dp.Stats().ConnList; len(l) != 1 || l[0].RemoteAddr != addr.New(5, 20) {
			t.Fatalf("responder conn_list %+v", l)
		}
	}
}

// §14 item 24: a connection whose reader stalls (its window closes) does
// not stop another connection of the same peers from moving data.
func TestWire_Item24_SlowReaderDoesNotStallOthers(t *testing.T) {
	n := newFakeNet(t, 0, 8)
	a := n.add(t, 10, nil)
	b := n.add(t, 20, nil)
	sa, sb := newFakeSink(), newFakeSink()
	a.dp.Listen(1000, sa)
	slowB := dialIPC(t, b.dp, addr.New(0, 10), 1000, sb)
	slowA := sa.accept(t)
	fastB := dialIPC(t, b.dp, addr.New(0, 10), 1000, sb)
	fastA := sa.accept(t)
	size := 3 * stream.DefaultRecvBuffer
	data := randBytes(size, 11)
	slowB.Send(data)
	fastB.Send(data)
	got, _ := sa.readAll(t, fastA, size)
	if !bytes.Equal(got, data) {
		t.Fatal("fast connection data corrupted")
	}
	// The slow connection's receiver holds at most its buffer; the rest
	// waits at the sender.
	var slow ipcmsg.InfoConn
	for _, c := range a.dp.Stats().ConnList {
		if c.ID == slowA.ID() {
			slow = c
		}
	}
	if slow.BytesRecv > uint64(stream.DefaultRecvBuffer) || slowB.Unsent() == 0 {
		t.Fatalf("slow connection received %d bytes (buffer %d), sender has %d unsent",
			slow.BytesRecv, stream.DefaultRecvBuffer, slowB.Unsent())
	}
	if got, _ := sa.readAll(t, slowA, size); !bytes.Equal(got, data) {
		t.Fatal("slow connection data corrupted once read")
	}
}

// §9.15 / item 30 under traffic: several transfers within a small cap keep
// the charge under it and every advertised window ≥ 1 unit.
func TestWire_Item30_BufferCapUnderTraffic(t *testing.T) {
	n := newFakeNet(t, 0.01, 9)
	var zeroWin atomic.Int64
	n.tap = func(_, _ addr.NodeID, p *packet.Packet) bool {
		if p.Protocol == packet.ProtoStream && p.Flags&(packet.FlagRST|packet.FlagFIN) == 0 && p.Window == 0 {
			zeroWin.Add(1)
		}
		return true
	}
	capBytes := 1 << 20
	a := n.add(t, 10, func(c *Config) { c.MaxBufferMemory = capBytes })
	b := n.add(t, 20, func(c *Config) { c.MaxBufferMemory = capBytes })
	sa, sb := newFakeSink(), newFakeSink()
	a.dp.Listen(1000, sa)
	data := randBytes(2<<20, 12)
	var wg sync.WaitGroup
	var cbs, cas []ipc.Conn
	for range 4 { // all exist before any grows its buffers
		cbs = append(cbs, dialIPC(t, b.dp, addr.New(0, 10), 1000, sb))
		cas = append(cas, sa.accept(t))
	}
	for i, cb := range cbs {
		ca := cas[i]
		cb.Send(data)
		wg.Go(func() {
			if got, _ := sa.readAll(t, ca, len(data)); !bytes.Equal(got, data) {
				t.Error("corrupted")
			}
		})
	}
	wg.Wait()
	for _, dp := range []*DataPlane{a.dp, b.dp} {
		if bu := dp.Budget(); bu.Peak() > capBytes {
			t.Fatalf("charge peaked at %d, cap %d", bu.Peak(), capBytes)
		}
	}
	if zeroWin.Load() != 0 {
		t.Fatalf("%d packets advertised window 0", zeroWin.Load())
	}
}

// §9.3 dial errors: RST → "connection refused" (12); no answer → "dial
// timeout" (11) after the timeout, with the relay hint after two SYN
// timeouts (§7.5).
func TestDataPlane_DialErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newFakeNet(t, 0, 10)
		a := n.add(t, 10, nil)
		b := n.add(t, 20, nil)
		_ = a
		_, err := b.dp.Dial(context.Background(), ipc.DialRequest{Addr: addr.New(0, 10), Port: 999}, newFakeSink())
		var ie *ipc.Error
		if !errors.As(err, &ie) || ie.Code != ipcmsg.CodeConnectionFailed || ie.Text != "connection refused" {
			t.Fatalf("dial to unbound port: %v", err)
		}
		n.mu.Lock()
		n.tap = func(_, _ addr.NodeID, p *packet.Packet) bool { return false }
		n.mu.Unlock()
		start := time.Now()
		_, err = b.dp.Dial(context.Background(), ipc.DialRequest{Addr: addr.New(0, 10), Port: 999, Timeout: 5 * time.Second}, newFakeSink())
		if !errors.As(err, &ie) || ie.Code != ipcmsg.CodeTimeout || ie.Text != "dial timeout" {
			t.Fatalf("dial into the void: %v", err)
		}
		if d := time.Since(start); d != 5*time.Second {
			t.Fatalf("dial timeout after %v", d)
		}
		if b.susp.Load() != 1 {
			t.Fatalf("SuspectPeerLoss called %d times, want 1", b.susp.Load())
		}
		b.dp.Shutdown(context.Background())
		a.dp.Shutdown(context.Background())
		n.close()
	})
}

// wire.md §7.5: when the relay hint after the third SYN switches the path
// to the relay, the dial's SYN timer restarts at 1 s: the SYNs go out at
// 0, 1, 3, 4 and 6 s instead of 0, 1, 3 and 7 s.
func TestDataPlane_SYNTimerRestartsOnRelaySwitch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newFakeNet(t, 0, 10)
		a := n.add(t, 10, nil)
		b := n.add(t, 20, nil)
		b.toRelay.Store(true)
		start := time.Now()
		var mu sync.Mutex
		var syns []time.Duration
		n.mu.Lock()
		n.tap = func(_, _ addr.NodeID, p *packet.Packet) bool {
			if p.Flags == packet.FlagSYN {
				mu.Lock()
				syns = append(syns, time.Since(start))
				mu.Unlock()
			}
			return false // into the void
		}
		n.mu.Unlock()
		_, err := b.dp.Dial(context.Background(), ipc.DialRequest{Addr: addr.New(0, 10), Port: 7, Timeout: 6500 * time.Millisecond}, newFakeSink())
		if err == nil {
			t.Fatal("dial into the void succeeded")
		}
		mu.Lock()
		got := slices.Clone(syns)
		mu.Unlock()
		want := []time.Duration{0, time.Second, 3 * time.Second, 4 * time.Second, 6 * time.Second}
		if !slices.Equal(got, want) {
			t.Fatalf("SYNs at %v, want %v", got, want)
		}
		b.dp.Shutdown(context.Background())
		a.dp.Shutdown(context.Background())
		n.close()
	})
}

// §9.3: a SYN with another ISN on an ESTABLISHED tuple resets the old
// connection (the application sees a reset) and starts a new one; a SYN on
// a TIME_WAIT tuple starts a new connection.
func TestWire_SYNReplacesConnection(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dp, tr := newCaptureDP(t, nil)
		sink := newFakeSink()
		dp.Listen(1000, sink)
		syn := synFrom(5, 50000, 1000)
		dp.HandlePacket(5, syn)
		old := sink.accept(t)
		syn2 := *syn
		syn2.Seq += 777
		dp.HandlePacket(5, &syn2)
		synctest.Wait()
		_, err := old.Read(make([]byte, 1))
		var eos *ipc.EndOfStream
		if !errors.As(err, &eos) || eos.Reason != ipcmsg.ReasonReset {
			t.Fatalf("old connection: %v", err)
		}
		cur := sink.accept(t)
		if cur.ID() == old.ID() {
			t.Fatal("no new connection")
		}
		ps := tr.all()
		if !isSynAck(ps[len(ps)-1].p) || ps[len(ps)-1].p.Ack != syn2.Seq+1 {
			t.Fatalf("last packet %+v, want the new SYN-ACK", ps[len(ps)-1].p)
		}
		// Passive close of the new one: peer's bare FIN → TIME_WAIT.
		fin := &packet.Packet{Flags: packet.FlagFIN, Protocol: packet.ProtoStream, Src: syn.Src, Dst: syn.Dst,
			SrcPort: syn.SrcPort, DstPort: syn.DstPort, Seq: syn2.Seq + 1}
		dp.HandlePacket(5, fin)
		synctest.Wait()
		if st := dp.Stats().ConnList; len(st) != 1 || st[0].State != ipcmsg.StateTimeWait {
			t.Fatalf("after FIN: %+v", st)
		}
		syn3 := *syn
		syn3.Seq += 999
		dp.HandlePacket(5, &syn3)
		synctest.Wait()
		third := sink.accept(t)
		if st := dp.Stats().ConnList; len(st) != 1 || st[0].State != ipcmsg.StateEstablished || st[0].ID != third.ID() {
			t.Fatalf("SYN on TIME_WAIT tuple: %+v", st)
		}
		dp.Shutdown(context.Background())
	})
}

// §9.12 daemon shutdown: bare FINs to the peers, IPC readers see reason 6,
// and the whole shutdown is bounded (2 s drain + 1 s) even when the peer
// never answers.
func TestWire_ShutdownSendsFINsWithinBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newFakeNet(t, 0, 13)
		a := n.add(t, 10, nil)
		b := n.add(t, 20, nil)
		sa, sb := newFakeSink(), newFakeSink()
		a.dp.Listen(1000, sa)
		cb := dialIPC(t, b.dp, addr.New(0, 10), 1000, sb)
		ca := sa.accept(t)
		start := time.Now()
		if err := b.dp.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Fatalf("shutdown took %v", d)
		}
		if _, eos := sa.readAll(t, ca, -1); eos == nil || eos.Reason != ipcmsg.ReasonPeerClosed {
			t.Fatalf("peer saw %v, want a clean FIN", eos)
		}
		if _, err := cb.Read(make([]byte, 1)); !isReason(err, ipcmsg.ReasonShutdown) {
			t.Fatalf("local reader: %v", err)
		}

		// Unresponsive peer with unacknowledged data: bounded anyway.
		c := n.add(t, 30, nil)
		sc := newFakeSink()
		cc := dialIPC(t, c.dp, addr.New(0, 10), 1000, sc)
		sa.accept(t)
		n.mu.Lock()
		n.tap = func(from, _ addr.NodeID, _ *packet.Packet) bool { return from != 30 }
		n.mu.Unlock()
		cc.Send(make([]byte, 1<<20))
		start = time.Now()
		c.dp.Shutdown(context.Background())
		if d := time.Since(start); d > 3*time.Second {
			t.Fatalf("shutdown with a silent peer took %v", d)
		}
		a.dp.Shutdown(context.Background())
		n.close()
	})
}

func isReason(err error, r ipcmsg.CloseReason) bool {
	var eos *ipc.EndOfStream
	return errors.As(err, &eos) && eos.Reason == r
}

// parkedAdmission answers only when told to.
type parkedAdmission struct {
	mu   sync.Mutex
	done []func(Verdict)
}

func (p *parkedAdmission) Admit(_ addr.NodeID, _ addr.Port, _ packet.Protocol, done func(Verdict)) {
	p.mu.Lock()
	p.done = append(p.done, done)
	p.mu.Unlock()
}

// §8: SYNs waiting for a verdict are parked, at most 256 daemon-wide and at
// most 5 s; a verdict after that is ignored.
func TestWire_AdmissionParking(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		adm := &parkedAdmission{}
		dp, tr := newCaptureDP(t, func(c *Config) { c.Admission = adm; c.SYNRate = 1000 })
		dp.Listen(1000, newFakeSink())
		for i := range 300 {
			dp.HandlePacket(addr.NodeID(100+i), synFrom(addr.NodeID(100+i), 50000, 1000))
		}
		if got := int(dp.parked.Load()); got != maxParked || len(adm.done) != maxParked {
			t.Fatalf("parked %d, asked %d, want %d", got, len(adm.done), maxParked)
		}
		adm.done[0](Verdict{Admit: true}) // in time: SYN-ACK
		if ps := tr.all(); len(ps) != 1 || !isSynAck(ps[0].p) {
			t.Fatalf("in-time verdict: %+v", ps)
		}
		waitVirtual(5001)
		if got := dp.parked.Load(); got != 0 {
			t.Fatalf("%d still parked after 5 s", got)
		}
		for _, d := range adm.done[1:] {
			d(Verdict{Admit: true})
		}
		if n := len(tr.all()); n != 1 {
			t.Fatalf("%d replies after late verdicts, want 1", n)
		}
		dp.Shutdown(context.Background())
	})
}

// §10: at most 1,000 datagrams per second per source node, burst 2,000.
func TestWire_DatagramRateLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var delivered atomic.Int64
		dp, _ := newCaptureDP(t, func(c *Config) {
			c.DeliverDatagram = func(ipcmsg.RecvFrom) int { delivered.Add(1); return 1 }
		})
		d := &packet.Packet{Protocol: packet.ProtoDatagram, Src: addr.New(0, 5), Dst: addr.New(0, selfNode),
			SrcPort: 1, DstPort: 2, Payload: []byte("x")}
		for range 2001 {
			dp.HandlePacket(5, d)
		}
		empty := *d
		empty.Payload = nil
		dp.HandlePacket(6, &empty)
		if delivered.Load() != 2000 {
			t.Fatalf("delivered %d of 2001, want 2000", delivered.Load())
		}
		waitVirtual(1000)
		dp.HandlePacket(5, d)
		if delivered.Load() != 2001 {
			t.Fatal("no token after a second")
		}
		dp.Shutdown(context.Background())
	})
}

// wire.md §10/§13: the send limit of 65,428 bytes is for sending; a
// received datagram up to the largest packet payload (65,437 bytes,
// direct over IPv4) is delivered, and only an empty one is dropped.
func TestWire_LargestDatagramDelivered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var sizes []int
		dp, _ := newCaptureDP(t, func(c *Config) {
			c.DeliverDatagram = func(m ipcmsg.RecvFrom) int { sizes = append(sizes, len(m.Data)); return 1 }
		})
		for _, n := range []int{MaxDatagram, MaxDatagram + 9} {
			dp.HandlePacket(5, &packet.Packet{Protocol: packet.ProtoDatagram, Src: addr.New(0, 5), Dst: addr.New(0, selfNode),
				SrcPort: 1, DstPort: 2, Payload: make([]byte, n)})
		}
		if len(sizes) != 2 || sizes[1] != MaxDatagram+9 {
			t.Fatalf("delivered sizes %v, want %d and %d", sizes, MaxDatagram, MaxDatagram+9)
		}
		dp.Shutdown(context.Background())
	})
}

// §9.13: a peer that goes silent is reset as dead after -idle-timeout: RST,
// IPC reason 4, webhook conn.dead_peer.
func TestWire_DeadPeer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ev := &events{}
		n := newFakeNet(t, 0, 14)
		short := func(c *Config) {
			c.Stream.Keepalive, c.Stream.IdleTimeout = 5*time.Second, 15*time.Second
		}
		a := n.add(t, 10, func(c *Config) { short(c); c.Events = ev })
		b := n.add(t, 20, short)
		sa := newFakeSink()
		a.dp.Listen(1000, sa)
		dialIPC(t, b.dp, addr.New(0, 10), 1000, newFakeSink())
		ca := sa.accept(t)
		n.mu.Lock()
		n.tap = func(from, _ addr.NodeID, _ *packet.Packet) bool { return from != 20 }
		n.mu.Unlock()
		waitVirtual(16_000)
		if _, err := ca.Read(make([]byte, 1)); !isReason(err, ipcmsg.ReasonIdle) {
			t.Fatalf("after 16 s of silence: %v", err)
		}
		if ev.count("conn.dead_peer") != 1 {
			t.Fatalf("webhooks %v", ev.evs)
		}
		a.dp.Shutdown(context.Background())
		b.dp.Shutdown(context.Background())
		n.close()
	})
}

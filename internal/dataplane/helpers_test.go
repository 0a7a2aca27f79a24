package dataplane

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/ipc"
	"github.com/pilot-go/pilot/internal/wire/ipcmsg"
	"github.com/pilot-go/pilot/internal/wire/packet"
)

// fakeNet is an in-memory network of data planes: every packet is
// marshalled and decoded (so the header codec is exercised), may be lost
// with a seeded probability, and is delivered by the destination's own
// goroutine through a bounded queue (a full queue drops, like UDP).
type fakeNet struct {
	mu     sync.Mutex
	rng    *rand.Rand
	loss   float64
	nodes  map[addr.NodeID]*fakeNode
	tap    func(from, to addr.NodeID, p *packet.Packet) bool // false drops
	wg     sync.WaitGroup
	stop   chan struct{}
	sent   atomic.Int64
	lost   atomic.Int64
	closed bool
}

type fakeNode struct {
	net     *fakeNet
	id      addr.NodeID
	dp      *DataPlane
	deliver func(from addr.NodeID, b []byte) bool
	susp    atomic.Int64
	toRelay atomic.Bool // SuspectPeerLoss reports a switch to the relay
}

func newFakeNet(t testing.TB, loss float64, seed uint64) *fakeNet {
	n := &fakeNet{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), loss: loss,
		nodes: make(map[addr.NodeID]*fakeNode), stop: make(chan struct{})}
	t.Cleanup(n.close)
	return n
}

func (n *fakeNet) close() {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return
	}
	n.closed = true
	n.mu.Unlock()
	close(n.stop)
	n.wg.Wait()
}

type fixedSelf addr.NodeID

func (s fixedSelf) NodeID() addr.NodeID { return addr.NodeID(s) }

type inbound struct {
	from addr.NodeID
	b    []byte
}

// add creates a data plane for node id on the network.
func (n *fakeNet) add(t testing.TB, id addr.NodeID, mod func(*Config)) *fakeNode {
	t.Helper()
	fn := &fakeNode{net: n, id: id}
	cfg := Config{Self: fixedSelf(id), Transport: fn}
	if mod != nil {
		mod(&cfg)
	}
	dp, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	fn.dp = dp
	q := make(chan inbound, 8192)
	n.wg.Go(func() {
		for {
			select {
			case m := <-q:
				var p packet.Packet
				if err := packet.Decode(m.b, &p); err != nil {
					panic(err)
				}
				dp.HandlePacket(m.from, &p)
			case <-n.stop:
				return
			}
		}
	})
	fn.deliver = func(from addr.NodeID, b []byte) bool {
		select {
		case q <- inbound{from, b}:
			return true
		default:
			return false
		}
	}
	n.mu.Lock()
	n.nodes[id] = fn
	n.mu.Unlock()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		dp.Shutdown(ctx)
	})
	return fn
}

// Send implements Transport.
func (f *fakeNode) Send(peer addr.NodeID, p *packet.Packet) error {
	n := f.net
	b, err := p.Marshal()
	if err != nil {
		return err
	}
	n.mu.Lock()
	dst := n.nodes[peer]
	drop := n.loss > 0 && n.rng.Float64() < n.loss
	tap := n.tap
	n.mu.Unlock()
	if dst == nil {
		return errors.New("no route")
	}
	n.sent.Add(1)
	if tap != nil {
		var q packet.Packet
		if err := packet.Decode(b, &q); err != nil {
			return err
		}
		if !tap(f.id, peer, &q) {
			return nil
		}
		if b, err = q.Marshal(); err != nil {
			return err
		}
	}
	if drop || !dst.deliver(f.id, b) {
		n.lost.Add(1)
	}
	return nil
}

// SuspectPeerLoss implements Transport.
func (f *fakeNode) SuspectPeerLoss(addr.NodeID, LossReason) bool {
	f.susp.Add(1)
	return f.toRelay.Load()
}

// fakeSink is an ipc.Sink that records accepted connections and wakes
// waiters on Readable / Writable.
type fakeSink struct {
	accepted chan ipc.Conn
	refuse   atomic.Bool
	mu       sync.Mutex
	sig      map[ipcmsg.ConnID]chan struct{}
}

func newFakeSink() *fakeSink {
	return &fakeSink{accepted: make(chan ipc.Conn, 128), sig: make(map[ipcmsg.ConnID]chan struct{})}
}

func (s *fakeSink) ch(id ipcmsg.ConnID) chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.sig[id]
	if c == nil {
		c = make(chan struct{}, 1)
		s.sig[id] = c
	}
	return c
}

func (s *fakeSink) Accept(_ addr.Port, c ipc.Conn, _ addr.Addr, _ addr.Port) bool {
	if s.refuse.Load() {
		return false
	}
	select { // a Sink never blocks
	case s.accepted <- c:
		return true
	default:
		return false
	}
}
func (s *fakeSink) Readable(id ipcmsg.ConnID) { signal(s.ch(id)) }
func (s *fakeSink) Writable(id ipcmsg.ConnID) { signal(s.ch(id)) }

// readAll reads c through the non-blocking IPC Read until end of stream.
func (s *fakeSink) readAll(t *testing.T, c ipc.Conn, want int) ([]byte, *ipc.EndOfStream) {
	t.Helper()
	var out []byte
	buf := make([]byte, 64<<10)
	timeout := time.NewTimer(60 * time.Second)
	defer timeout.Stop()
	for {
		n, err := c.Read(buf)
		out = append(out, buf[:n]...)
		if err != nil {
			var eos *ipc.EndOfStream
			if !errors.As(err, &eos) {
				t.Fatalf("read: %v", err)
			}
			return out, eos
		}
		if want >= 0 && len(out) >= want {
			return out, nil
		}
		if n > 0 {
			continue
		}
		select {
		case <-s.ch(c.ID()):
		case <-timeout.C:
			t.Fatalf("read: stuck after %d bytes", len(out))
		}
	}
}

func (s *fakeSink) accept(t *testing.T) ipc.Conn {
	t.Helper()
	select {
	case c := <-s.accepted:
		return c
	case <-time.After(30 * time.Second):
		t.Fatal("no connection accepted")
		return nil
	}
}

// capture is a Transport that records packets instead of delivering them.
type capture struct {
	mu   sync.Mutex
	pkts []capPkt
	sig  chan struct{}
}

type capPkt struct {
	to addr.NodeID
	p  packet.Packet
}

func newCapture() *capture { return &capture{sig: make(chan struct{}, 1)} }

func (c *capture) Send(peer addr.NodeID, p *packet.Packet) error {
	q := *p
	q.Payload = append([]byte(nil), p.Payload...)
	c.mu.Lock()
	c.pkts = append(c.pkts, capPkt{peer, q})
	c.mu.Unlock()
	signal(c.sig)
	return nil
}

func (c *capture) SuspectPeerLoss(addr.NodeID, LossReason) bool { return false }

func (c *capture) all() []capPkt {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]capPkt(nil), c.pkts...)
}

// wait returns the captured packets once there are at least n.
func (c *capture) wait(t *testing.T, n int) []capPkt {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		if ps := c.all(); len(ps) >= n {
			return ps
		}
		select {
		case <-c.sig:
		case <-timeout:
			t.Fatalf("captured %d packets, want %d", len(c.all()), n)
		}
	}
}

// events records webhook events.
type events struct {
	mu  sync.Mutex
	evs []string
	kv  [][]any
}

func (e *events) Emit(ev string, kv ...any) {
	e.mu.Lock()
	e.evs = append(e.evs, ev)
	e.kv = append(e.kv, kv)
	e.mu.Unlock()
}

func (e *events) count(name string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, v := range e.evs {
		if v == name {
			n++
		}
	}
	return n
}

// admitFunc adapts a function to Admission (synchronous verdicts).
type admitFunc func(peer addr.NodeID, port addr.Port, proto packet.Protocol) Verdict

func (f admitFunc) Admit(peer addr.NodeID, port addr.Port, proto packet.Protocol, done func(Verdict)) {
	done(f(peer, port, proto))
}

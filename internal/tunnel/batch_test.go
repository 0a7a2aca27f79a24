package tunnel

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/netsim"
	"github.com/pilot-go/pilot/internal/wire/packet"
)

// udpNode is a Manager on a real 127.0.0.1 socket whose Deliver records
// datagram payloads (and, with echo, sends each one back from the reader,
// as the data plane's inline engine does).
type udpNode struct {
	id   addr.NodeID
	m    *Manager
	mu   sync.Mutex
	got  [][]byte
	echo bool
	more chan struct{}
}

func (n *udpNode) deliver(from addr.NodeID, _, _ bool, p *packet.Packet) {
	if p.Protocol != packet.ProtoDatagram {
		return
	}
	if n.echo {
		r := *p
		r.Src, r.Dst = p.Dst, p.Src
		_ = n.m.Send(from, &r)
	}
	n.mu.Lock()
	n.got = append(n.got, append([]byte(nil), p.Payload...))
	n.mu.Unlock()
	select {
	case n.more <- struct{}{}:
	default:
	}
}

// payloads waits until want payloads arrived (bounded) and returns them.
func (n *udpNode) payloads(t *testing.T, want int) [][]byte {
	t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for {
		n.mu.Lock()
		got := n.got
		n.mu.Unlock()
		if len(got) >= want {
			return got
		}
		select {
		case <-n.more:
		case <-deadline.C:
			t.Fatalf("node %d: %d of %d packets delivered (counters %+v)", n.id, len(got), want, n.m.Counters())
		}
	}
}

// startUDPNode runs a Manager on conn (wrapping a 127.0.0.1 socket).
func startUDPNode(t *testing.T, id addr.NodeID, reg *registry, conn netsim.PacketConn, noOffload bool) *udpNode {
	t.Helper()
	n := &udpNode{id: id, more: make(chan struct{}, 1)}
	ident := newIdentity(t)
	m, err := New(Config{Conn: conn, Identity: ident, Keys: reg, Resolver: reg, Deliver: n.deliver, NoOffload: noOffload})
	if err != nil {
		t.Fatal(err)
	}
	n.m = m
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = m.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	reg.set(id, ident.PublicKey(), conn.LocalAddr().(*net.UDPAddr).AddrPort())
	m.SetNodeID(id)
	return n
}

func udpSocket(t *testing.T) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// batchOf returns count datagram packets from a to b: full-size ones, a
// shorter one and a tiny one, each payload starting with its index.
func batchOf(a, b addr.NodeID, first, count int) []packet.Packet {
	ps := make([]packet.Packet, count)
	for i := range ps {
		size := 4096
		switch i % 12 {
		case 10:
			size = 1000
		case 11:
			size = 8
		}
		pl := bytes.Repeat([]byte{byte(first + i)}, size)
		binary.BigEndian.PutUint32(pl, uint32(first+i))
		ps[i] = *datagram(a, b, "")
		ps[i].Payload = pl
	}
	return ps
}

func checkOrder(t *testing.T, got [][]byte, want int) {
	t.Helper()
	if len(got) != want {
		t.Fatalf("%d packets delivered, want %d", len(got), want)
	}
	for i, p := range got {
		if len(p) < 4 || binary.BigEndian.Uint32(p) != uint32(i) {
			t.Fatalf("packet %d out of order or corrupt (%d bytes)", i, len(p))
		}
	}
}

// TestSendBatch_Loopback sends batches through real sockets with and
// without offload: every packet arrives once, in order, and the offload
// path used segmented writes and coalesced reads.
func TestSendBatch_Loopback(t *testing.T) {
	for _, tc := range []struct {
		name      string
		noOffload bool
	}{{"offload", false}, {"no-offload", true}} {
		t.Run(tc.name, func(t *testing.T) {
			reg := newRegistry()
			a := startUDPNode(t, 686, reg, udpSocket(t), tc.noOffload)
			b := startUDPNode(t, 687, reg, udpSocket(t), tc.noOffload)
			// The first batch is queued until the key exchange ends (§6.5).
			total := 0
			for range 8 {
				if err := a.m.SendBatch(b.id, batchOf(a.id, b.id, total, 12)); err != nil {
					t.Fatal(err)
				}
				total += 12
				b.payloads(t, total) // keep the socket buffers far from full
			}
			checkOrder(t, b.payloads(t, total), total)
			ca, cb := a.m.Counters(), b.m.Counters()
			if tc.noOffload || runtime.GOOS != "linux" {
				if ca.SegmentedWrites != 0 || cb.CoalescedReads != 0 {
					t.Fatalf("offload used although disabled: %+v / %+v", ca, cb)
				}
				return
			}
			if !a.m.gsoOn.Load() || ca.SegmentedWrites == 0 || cb.CoalescedReads == 0 {
				t.Fatalf("no segmented writes or coalesced reads: gso %v, %+v / %+v", a.m.gsoOn.Load(), ca, cb)
			}
			if ca.PktsSent < uint64(total) || ca.EncryptionSuccess < uint64(total) {
				t.Fatalf("counters do not count every datagram: %+v", ca)
			}
		})
	}
}

// TestSendBatch_ReaderDefersReplies (Linux): the replies a coalesced read triggers
// on the reader leave together after the read, and all arrive in order.
func TestSendBatch_ReaderDefersReplies(t *testing.T) {
	reg := newRegistry()
	a := startUDPNode(t, 686, reg, udpSocket(t), false)
	b := startUDPNode(t, 687, reg, udpSocket(t), false)
	b.echo = true
	total := 0
	for range 6 {
		if err := a.m.SendBatch(b.id, batchOf(a.id, b.id, total, 12)); err != nil {
			t.Fatal(err)
		}
		total += 12
		a.payloads(t, total)
	}
	checkOrder(t, a.payloads(t, total), total)
	if c := b.m.Counters(); (c.CoalescedReads == 0 || c.SegmentedWrites == 0) == (runtime.GOOS == "linux") {
		t.Fatalf("replies to coalesced reads were not batched: %+v", c)
	}
	b.m.mu.Lock()
	p := b.m.peers[a.id]
	b.m.mu.Unlock()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.txq != nil {
		t.Fatal("a reply queue outlived its read")
	}
}

func TestSendBatch_Errors(t *testing.T) {
	reg := newRegistry()
	a := startUDPNode(t, 686, reg, udpSocket(t), false)
	ps := batchOf(686, 687, 0, 2)
	if err := a.m.SendBatch(0, ps); !errors.Is(err, ErrInvalidPeer) {
		t.Fatalf("peer 0: %v", err)
	}
	if err := a.m.SendBatch(686, ps); !errors.Is(err, ErrInvalidPeer) {
		t.Fatalf("own node: %v", err)
	}
	if err := a.m.SendBatch(687, nil); err != nil {
		t.Fatalf("empty batch: %v", err)
	}
	a.m.Close()
	if err := a.m.SendBatch(687, ps); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}

// TestNextSegment cuts coalesced reads like the kernel built them.
func TestNextSegment(t *testing.T) {
	for _, tc := range []struct {
		n, seg int
		want   []int
	}{
		{0, 0, []int{0}},
		{100, 0, []int{100}},
		{100, 100, []int{100}},
		{100, 200, []int{100}},
		{100, 40, []int{40, 40, 20}},
		{120, 40, []int{40, 40, 40}},
	} {
		var got []int
		for b := make([]byte, tc.n); ; {
			d, rest := nextSegment(b, tc.seg)
			got = append(got, len(d))
			if len(rest) == 0 {
				break
			}
			b = rest
		}
		if !equalInts(got, tc.want) {
			t.Errorf("%d bytes by %d: %v, want %v", tc.n, tc.seg, got, tc.want)
		}
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// FuzzNextSegment: the GRO splitter covers the buffer exactly, in order,
// with segments of seg bytes but a shorter last one, and never panics.
func FuzzNextSegment(f *testing.F) {
	f.Add([]byte("abcdefghij"), 3)
	f.Add([]byte{}, 0)
	f.Add([]byte("x"), -5)
	f.Fuzz(func(t *testing.T, buf []byte, seg int) {
		var joined []byte
		count := 0
		for b := buf; ; {
			d, rest := nextSegment(b, seg)
			count++
			if count > len(buf)+1 {
				t.Fatal("splitter does not progress")
			}
			if len(rest) > 0 && len(d) != seg {
				t.Fatalf("inner segment of %d bytes, seg %d", len(d), seg)
			}
			if seg > 0 && len(d) > seg {
				t.Fatalf("segment of %d bytes above seg %d", len(d), seg)
			}
			joined = append(joined, d...)
			if len(rest) == 0 {
				break
			}
			b = rest
		}
		if !bytes.Equal(joined, buf) {
			t.Fatal("segments do not rebuild the buffer")
		}
	})
}

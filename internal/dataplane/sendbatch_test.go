package dataplane

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/wire/packet"
)

// batchNode adds BatchTransport to a fakeNode, counting the batches.
type batchNode struct {
	*fakeNode
	batches, batched atomic.Int64
}

func (b *batchNode) SendBatch(peer addr.NodeID, ps []packet.Packet) error {
	b.batches.Add(1)
	b.batched.Add(int64(len(ps)))
	for i := range ps {
		if err := b.fakeNode.Send(peer, &ps[i]); err != nil {
			return err
		}
	}
	return nil
}

// A connection's engine pass goes through SendBatch when the transport
// has it: an echo of 1 MiB is intact and the echoing side sent batches.
func TestSendAll_UsesBatchTransport(t *testing.T) {
	n := newFakeNet(t, 0, 5)
	bn := &batchNode{}
	a := n.add(t, 10, func(c *Config) {
		bn.fakeNode = c.Transport.(*fakeNode)
		c.Transport = bn
	})
	b := n.add(t, 20, nil)
	if err := a.dp.ServeBuiltin(7, func(_ context.Context, c net.Conn, _ addr.Addr) { io.Copy(c, c) }); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := b.dp.DialConn(ctx, addr.New(0, 10), 7)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msg := randBytes(1<<20, 11)
	go c.Write(msg)
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("echo through a batching transport: %v", err)
	}
	if bn.batches.Load() == 0 || bn.batched.Load() < 2*bn.batches.Load() {
		t.Fatalf("%d batches of %d packets: the engine's passes did not use SendBatch", bn.batches.Load(), bn.batched.Load())
	}
}

// errBatch fails SendBatch and records Send.
type errBatch struct {
	capture
	batchErr error
	calls    atomic.Int64
}

func (e *errBatch) SendBatch(addr.NodeID, []packet.Packet) error {
	e.calls.Add(1)
	return e.batchErr
}

func TestSendAll_Errors(t *testing.T) {
	errX := errors.New("socket on fire")
	tr := &errBatch{capture: capture{sig: make(chan struct{}, 1)}, batchErr: errX}
	dp, err := New(Config{Self: fixedSelf(1), Transport: tr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dp.Shutdown(context.Background()) })
	ps := []packet.Packet{{Protocol: packet.ProtoStream, Seq: 1}, {Protocol: packet.ProtoStream, Seq: 2}}
	if err := dp.sendAll(2, ps); !errors.Is(err, errX) {
		t.Fatalf("batch error %v, want %v", err, errX)
	}
	// One packet takes Send (no batching latency for a lone packet).
	if err := dp.sendAll(2, ps[:1]); err != nil {
		t.Fatal(err)
	}
	if tr.calls.Load() != 1 || len(tr.all()) != 1 {
		t.Fatalf("%d SendBatch calls, %d Send calls; want 1 and 1", tr.calls.Load(), len(tr.all()))
	}
	// Packets to our own node loop back and never reach the transport.
	if err := dp.sendAll(1, ps); err != nil {
		t.Fatal(err)
	}
	if tr.calls.Load() != 1 || len(tr.all()) != 1 {
		t.Fatal("looped-back packets reached the transport")
	}
	// Without BatchTransport every packet is sent in order; the first
	// error is returned.
	cp := newCapture()
	dp2, err := New(Config{Self: fixedSelf(1), Transport: cp})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dp2.Shutdown(context.Background()) })
	if err := dp2.sendAll(2, ps); err != nil {
		t.Fatal(err)
	}
	if got := cp.all(); len(got) != 2 || got[0].p.Seq != 1 || got[1].p.Seq != 2 {
		t.Fatalf("captured %+v", got)
	}
}

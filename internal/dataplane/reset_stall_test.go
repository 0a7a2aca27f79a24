package dataplane

import (
	"bufio"
	"context"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/ipc"
	"github.com/pilot-go/pilot/internal/ipc/ipctest"
	"github.com/pilot-go/pilot/internal/wire/ipcmsg"
)

// Regression tests for queued IPC data dropped by a reset, an abort or the
// end of a connection: Unsent falls to 0 and that must be reported with
// Sink.Writable, or the IPC server's waits on it (the per-client budget,
// ipc.md §3.1 rule 4, and the tagged Send's OK, §10.3) never end.

// stallTimeout bounds every wait of these tests: a regression fails them
// instead of hanging, and a passing run never comes near it.
const stallTimeout = 20 * time.Second

// smallBuffers keeps the engines' buffers small so that little data makes a
// connection hold unsent data.
func smallBuffers(c *Config) {
	c.Stream.RecvBuffer = 64 << 10
	c.Stream.SendBuffer = 64 << 10
}

// drainSink is an ipc.Sink that signals drained on a Writable call that
// finds the connection's Unsent at 0.
type drainSink struct {
	*fakeSink
	conn    atomic.Pointer[ipc.Conn]
	drained chan struct{}
}

func (s *drainSink) Writable(id ipcmsg.ConnID) {
	s.fakeSink.Writable(id)
	if p := s.conn.Load(); p != nil && (*p).Unsent() == 0 {
		signal(s.drained)
	}
}

// waitUntil polls cond (state of another goroutine that has no event to
// wait on) until it holds or stallTimeout passes.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(stallTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestDataPlane_WritableWhenQueuedDataDropped: a connection with IPC data
// the engine has not taken (the peer does not read) reports Writable once
// that data is dropped — by the peer's RST, by a local abort, and by a
// shutdown that has to abort it.
func TestDataPlane_WritableWhenQueuedDataDropped(t *testing.T) {
	cases := []struct {
		name string
		drop func(a, b *fakeNode)
	}{
		{"peer reset", func(a, _ *fakeNode) { a.dp.AbortPeer(20) }},
		{"local abort", func(_, b *fakeNode) { b.dp.AbortPeer(10) }},
		{"shutdown", func(_, b *fakeNode) {
			ctx, cancel := context.WithTimeout(context.Background(), stallTimeout)
			defer cancel()
			b.dp.Shutdown(ctx)
		}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := newFakeNet(t, 0, uint64(40+i))
			a := n.add(t, 10, smallBuffers)
			b := n.add(t, 20, func(c *Config) { smallBuffers(c); c.DrainTimeout = 100 * time.Millisecond })
			sa := newFakeSink()
			if err := a.dp.Listen(1000, sa); err != nil {
				t.Fatal(err)
			}
			sb := &drainSink{fakeSink: newFakeSink(), drained: make(chan struct{}, 1)}
			cb := dialIPC(t, b.dp, addr.New(0, 10), 1000, sb)
			sa.accept(t) // a never reads: its window closes
			if err := cb.Send(randBytes(1<<20, 7)); err != nil {
				t.Fatal(err)
			}
			if cb.Unsent() == 0 {
				t.Fatal("no unsent data: the test needs some")
			}
			sb.conn.Store(&cb)
			tc.drop(a, b)
			select {
			case <-sb.drained:
			case <-time.After(stallTimeout):
				t.Fatalf("no Writable after the queued data was dropped (Unsent now %d)", cb.Unsent())
			}
		})
	}
}

// stallServer runs an ipc.Server over node's data plane with cfg's limits
// and returns the socket path.
func stallServer(t *testing.T, node *fakeNode, cfg ipc.Config) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "dp")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	cfg.SocketPath = filepath.Join(dir, "s")
	cfg.Backend = daemonBackend{Control: &ipctest.Backend{Node: addr.New(0, 20)}, DataPlane: node.dp}
	srv, err := ipc.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return cfg.SocketPath
}

// dpConn returns node's connection id (nil once it is gone).
func dpConn(node *fakeNode, id ipcmsg.ConnID) *conn {
	node.dp.mu.Lock()
	defer node.dp.mu.Unlock()
	return node.dp.byID[id]
}

// stallClient is a raw IPC client whose replies are read by a goroutine
// and passed on as decoded messages.
type stallClient struct {
	nc   net.Conn
	msgs chan ipcmsg.Reply
}

func dialStall(t *testing.T, path string) *stallClient {
	t.Helper()
	nc, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	c := &stallClient{nc: nc, msgs: make(chan ipcmsg.Reply, 4096)}
	go func() {
		defer close(c.msgs)
		br := bufio.NewReader(nc)
		for {
			msg, err := ipcmsg.ReadFrame(br)
			if err != nil {
				return
			}
			r, err := ipcmsg.DecodeReply(msg)
			if err != nil {
				continue
			}
			c.msgs <- r
		}
	}()
	return c
}

func (c *stallClient) write(t *testing.T, msgs ...ipcmsg.Message) {
	t.Helper()
	var b []byte
	for _, m := range msgs {
		b = ipcmsg.AppendFrame(b, m)
	}
	if _, err := c.nc.Write(b); err != nil {
		t.Fatalf("write: %v", err)
	}
}

// next returns the next message that match accepts, failing the test after
// stallTimeout; skipped messages are passed to skip (may be nil).
func (c *stallClient) next(t *testing.T, what string, match func(ipcmsg.Reply) bool, skip func(ipcmsg.Reply)) ipcmsg.Reply {
	t.Helper()
	timeout := time.After(stallTimeout)
	for {
		select {
		case r, ok := <-c.msgs:
			if !ok {
				t.Fatalf("daemon closed the connection while waiting for %s", what)
			}
			if match(r) {
				return r
			}
			if skip != nil {
				skip(r)
			}
		case <-timeout:
			t.Fatalf("timed out after %v waiting for %s: the client is stalled", stallTimeout, what)
		}
	}
}

// TestIPC_LegacyBudgetResumesAfterReset: a legacy client streams more than
// its send budget to a peer that does not read, so the daemon stops reading
// its socket (ipc.md §3.1 rule 4); the peer then resets. The dropped data
// no longer counts, so the daemon reads the client again: the queued Sends
// are answered (Error: connection closed) and the Info behind them gets its
// InfoOK.
func TestIPC_LegacyBudgetResumesAfterReset(t *testing.T) {
	const budget = 1 << 20
	n := newFakeNet(t, 0, 51)
	a := n.add(t, 10, smallBuffers)
	b := n.add(t, 20, smallBuffers)
	sa := newFakeSink()
	if err := a.dp.Listen(1000, sa); err != nil {
		t.Fatal(err)
	}
	cl := dialStall(t, stallServer(t, b, ipc.Config{SendBudget: budget}))
	cl.write(t, ipcmsg.Dial{Addr: addr.New(0, 10), Port: 1000})
	id := cl.next(t, "DialOK", func(r ipcmsg.Reply) bool { return r.Cmd() == ipcmsg.CmdDialOK }, nil).(ipcmsg.DialOK).Conn
	sa.accept(t) // a never reads
	cb := dpConn(b, id)
	if cb == nil {
		t.Fatal("dialed connection not found")
	}

	// 4 MiB of Sends, then Info: far more than the budget, the engines'
	// buffers and the socket buffers hold, so the writer blocks.
	const frames = 128
	frame := ipcmsg.AppendFrame(nil, ipcmsg.Send{Conn: id, Data: make([]byte, 32<<10)})
	wrote := make(chan error, 1)
	go func() {
		for range frames {
			if _, err := cl.nc.Write(frame); err != nil {
				wrote <- err
				return
			}
		}
		_, err := cl.nc.Write(ipcmsg.AppendFrame(nil, ipcmsg.Info{}))
		wrote <- err
	}()
	waitUntil(t, "the send budget to be exhausted", func() bool { return cb.Unsent() >= budget })

	a.dp.AbortPeer(20) // RST: b's connection resets and drops its queued data
	sendErrs := 0
	skip := func(r ipcmsg.Reply) {
		if e, ok := r.(ipcmsg.Error); ok && e.Text == "send: connection closed" {
			sendErrs++
		}
	}
	cl.next(t, "unsolicited CloseOK", func(r ipcmsg.Reply) bool { return r == ipcmsg.CloseOK{Conn: id} }, skip)
	cl.next(t, "InfoOK", func(r ipcmsg.Reply) bool { return r.Cmd() == ipcmsg.CmdInfoOK }, skip)
	select {
	case err := <-wrote:
		if err != nil {
			t.Fatalf("client write: %v", err)
		}
	case <-time.After(stallTimeout):
		t.Fatal("client writes still blocked")
	}
	if sendErrs == 0 {
		t.Error("no Send after the reset was refused")
	}
}

// TestIPC_TaggedSendReplyAfterReset: a tagged Send whose OK waits for the
// connection's untransmitted data to fall below the send buffer (ipc.md
// §10.3) gets its TaggedReply when the connection resets. The reply is OK:
// the data was queued when the Send ran (§3.1 rule 4, §5.4: "connection
// closed" is for a Send that runs after either side closed, and the same
// Send in legacy mode yields nothing) and the untransmitted data is now
// below the send buffer (it was dropped). The loss is reported on the
// receive side: ConnClosed with reason 2 (reset) and the unsolicited
// CloseOK (§5.6, §10.7). A Close queued behind the Send then gets its
// CloseOK, and a later Send fails with "send: connection closed".
func TestIPC_TaggedSendReplyAfterReset(t *testing.T) {
	const sendBuffer = 256 << 10
	n := newFakeNet(t, 0, 52)
	a := n.add(t, 10, smallBuffers)
	b := n.add(t, 20, smallBuffers)
	sa := newFakeSink()
	if err := a.dp.Listen(1000, sa); err != nil {
		t.Fatal(err)
	}
	cl := dialStall(t, stallServer(t, b, ipc.Config{SendBuffer: sendBuffer}))
	cl.write(t, ipcmsg.Hello{Client: "test/1", Features: []string{ipcmsg.FeatureTagged, ipcmsg.FeatureCloseReason}})
	cl.next(t, "HelloOK", func(r ipcmsg.Reply) bool { return r.Cmd() == ipcmsg.CmdHelloOK }, nil)
	tagged := func(tag ipcmsg.Tag) func(ipcmsg.Reply) bool {
		return func(r ipcmsg.Reply) bool { tr, ok := r.(ipcmsg.TaggedReply); return ok && tr.Tag == tag }
	}
	cl.write(t, ipcmsg.Tagged{Tag: 1, Inner: ipcmsg.Dial{Addr: addr.New(0, 10), Port: 1000}})
	dok, ok := cl.next(t, "DialOK", tagged(1), nil).(ipcmsg.TaggedReply).Inner.(ipcmsg.DialOK)
	if !ok {
		t.Fatal("dial failed")
	}
	id := dok.Conn
	sa.accept(t) // a never reads
	cb := dpConn(b, id)
	if cb == nil {
		t.Fatal("dialed connection not found")
	}

	// One Send well over the send buffer: its OK is delayed.
	cl.write(t, ipcmsg.Tagged{Tag: 2, Inner: ipcmsg.Send{Conn: id, Data: make([]byte, 3*sendBuffer)}})
	waitUntil(t, "the Send to be queued", func() bool { return cb.Unsent() >= sendBuffer })
	cl.write(t, ipcmsg.Tagged{Tag: 3, Inner: ipcmsg.Info{}})
	cl.next(t, "the Info's reply", tagged(3), func(r ipcmsg.Reply) {
		if tagged(2)(r) {
			t.Fatalf("Send answered before the reset: %+v", r)
		}
	})

	a.dp.AbortPeer(20) // RST: b's connection resets and drops its queued data
	var closed *ipcmsg.ConnClosed
	var eos bool
	note := func(r ipcmsg.Reply) {
		switch m := r.(type) {
		case ipcmsg.ConnClosed:
			closed = &m
		case ipcmsg.CloseOK:
			eos = eos || m.Conn == id
		}
	}
	r := cl.next(t, "the Send's TaggedReply", tagged(2), note).(ipcmsg.TaggedReply)
	if _, ok := r.Inner.(ipcmsg.OK); !ok {
		t.Fatalf("Send's reply after the reset: %v %+v, want OK", r.Inner.Cmd(), r.Inner)
	}
	if !eos {
		cl.next(t, "unsolicited CloseOK", func(r ipcmsg.Reply) bool { return r == ipcmsg.CloseOK{Conn: id} }, note)
	}
	if closed == nil || closed.Conn != id || closed.Reason != ipcmsg.ReasonReset {
		t.Fatalf("ConnClosed %+v, want conn %d reason %d", closed, id, ipcmsg.ReasonReset)
	}

	cl.write(t, ipcmsg.Tagged{Tag: 4, Inner: ipcmsg.Send{Conn: id, Data: []byte("x")}},
		ipcmsg.Tagged{Tag: 5, Inner: ipcmsg.Close{Conn: id}})
	r = cl.next(t, "the late Send's reply", tagged(4), nil).(ipcmsg.TaggedReply)
	if e, ok := r.Inner.(ipcmsg.Error); !ok || e.Code != ipcmsg.CodeFailedPrecondition || e.Text != "send: connection closed" {
		t.Fatalf("Send after the reset: %+v, want Error 7 send: connection closed", r.Inner)
	}
	r = cl.next(t, "the Close's reply", tagged(5), nil).(ipcmsg.TaggedReply)
	if r.Inner != (ipcmsg.CloseOK{Conn: id}) {
		t.Fatalf("Close after the reset: %+v, want CloseOK", r.Inner)
	}
}

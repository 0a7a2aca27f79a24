package ipc_test

import (
	"context"
	"testing"

	"github.com/pilot-go/pilot/internal/ipc"
	"github.com/pilot-go/pilot/internal/ipc/ipctest"
	"github.com/pilot-go/pilot/internal/wire/ipcmsg"
)

// slowDials makes every Dial to port 99 wait for the returned release func.
func slowDials(t *testing.T) (ts *testServer, started <-chan struct{}, release func()) {
	gate := make(chan struct{})
	st := make(chan struct{}, 2048)
	ts = startServer(t, func(_ *ipc.Config, be *ipctest.Backend) {
		be.OnDial = func(ctx context.Context, req ipc.DialRequest) error {
			if req.Port != 99 {
				return nil
			}
			st <- struct{}{}
			select {
			case <-gate:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	})
	var once bool
	return ts, st, func() {
		if !once {
			once = true
			close(gate)
		}
	}
}

func TestIPC_C6_SlowDial(t *testing.T) {
	ts, started, release := slowDials(t)
	defer release()
	l := ts.dial(t)
	l.bind(99)

	legacy := ts.dial(t)
	legacy.send(ipcmsg.Dial{Addr: ourNode, Port: 99}, ipcmsg.Info{})
	<-started
	ts.dial(t).info() // another client is not delayed

	tagged := ts.dial(t)
	tagged.hello(ipcmsg.FeatureTagged)
	tagged.send(ipcmsg.Tagged{Tag: 1, Inner: ipcmsg.Dial{Addr: ourNode, Port: 99}}, ipcmsg.Tagged{Tag: 2, Inner: ipcmsg.Info{}})
	<-started
	if r := tagged.recv().(ipcmsg.TaggedReply); r.Tag != 2 || r.Inner.Cmd() != ipcmsg.CmdInfoOK {
		t.Fatalf("tagged Info did not overtake the Dial: %+v", r)
	}
	release()
	if r := tagged.recv().(ipcmsg.TaggedReply); r.Tag != 1 || r.Inner.Cmd() != ipcmsg.CmdDialOK {
		t.Fatalf("tagged Dial reply %+v", r)
	}
	// Legacy: the Info reply follows the Dial reply.
	if r := legacy.recv(); r.Cmd() != ipcmsg.CmdDialOK {
		t.Fatalf("legacy first reply %v, want DialOK", r.Cmd())
	}
	if r := legacy.recv(); r.Cmd() != ipcmsg.CmdInfoOK {
		t.Fatalf("legacy second reply %v, want InfoOK", r.Cmd())
	}
}

func TestIPC_TaggedRules(t *testing.T) {
	ts, started, release := slowDials(t)
	defer release()
	ts.dial(t).bind(99)
	c := ts.dial(t)
	c.hello(ipcmsg.FeatureTagged)
	dupErr := ipcmsg.Error{Code: ipcmsg.CodeInvalidArgument, Text: "duplicate tag"}

	c.send(ipcmsg.Tagged{Tag: 0, Inner: ipcmsg.Info{}})
	if r := c.recv(); r != (ipcmsg.TaggedReply{Tag: 0, Inner: dupErr}) {
		t.Fatalf("tag 0: %+v", r)
	}
	c.sendMsg([]byte{byte(ipcmsg.CmdTagged), 0, 0, 0, 9, byte(ipcmsg.CmdBind)})
	want := ipcmsg.TaggedReply{Tag: 9, Inner: ipcmsg.Error{Code: ipcmsg.CodeInvalidArgument, Text: "bind: missing port"}}
	if r := c.recv(); r != want {
		t.Fatalf("bad inner: %+v", r)
	}
	// Fill the outstanding window with slow dials.
	for tag := range ipc.DefaultMaxOutstanding {
		c.send(ipcmsg.Tagged{Tag: ipcmsg.Tag(tag + 1), Inner: ipcmsg.Dial{Addr: ourNode, Port: 99}})
	}
	for range ipc.DefaultMaxOutstanding {
		<-started
	}
	c.send(ipcmsg.Tagged{Tag: 5, Inner: ipcmsg.Info{}})
	if r := c.recv(); r != (ipcmsg.TaggedReply{Tag: 5, Inner: dupErr}) {
		t.Fatalf("duplicate: %+v", r)
	}
	c.send(ipcmsg.Tagged{Tag: 5000, Inner: ipcmsg.Info{}})
	want = ipcmsg.TaggedReply{Tag: 5000, Inner: ipcmsg.Error{Code: ipcmsg.CodeResourceExhausted, Text: "too many outstanding requests"}}
	if r := c.recv(); r != want {
		t.Fatalf("over the cap: %+v", r)
	}
	release()
	seen := make(map[ipcmsg.Tag]bool)
	for range ipc.DefaultMaxOutstanding {
		r := c.recv().(ipcmsg.TaggedReply)
		if r.Inner.Cmd() != ipcmsg.CmdDialOK || seen[r.Tag] {
			t.Fatalf("dial reply %+v", r)
		}
		seen[r.Tag] = true
	}
	c.send(ipcmsg.Tagged{Tag: 5000, Inner: ipcmsg.Info{}})
	if r := c.recv().(ipcmsg.TaggedReply); r.Tag != 5000 || r.Inner.Cmd() != ipcmsg.CmdInfoOK {
		t.Fatalf("after the window drained: %+v", r)
	}
}

// heldTaggedConn dials port 80 of a listener l from a tagged client c and
// holds the connection's send buffer full: Sends on dc wait for Hold(0).
func heldTaggedConn(t *testing.T) (l, c *rawClient, dc ipcmsg.ConnID, conn *ipctest.Conn) {
	ts := startServer(t, nil)
	l, c = ts.dial(t), ts.dial(t)
	l.bind(80)
	c.hello(ipcmsg.FeatureTagged)
	c.send(ipcmsg.Tagged{Tag: 1, Inner: ipcmsg.Dial{Addr: ourNode, Port: 80}})
	dc = c.recv().(ipcmsg.TaggedReply).Inner.(ipcmsg.DialOK).Conn
	l.recv() // Accept
	conn = ts.be.Conn(dc)
	conn.Hold(ipc.DefaultSendBuffer)
	return l, c, dc, conn
}

// TestIPC_TaggedSendOKWaitsForSendBuffer: the OK of a tagged Send is held
// while the connection's untransmitted data is at or above the send buffer,
// without delaying other requests (ipc.md §10.3).
func TestIPC_TaggedSendOKWaitsForSendBuffer(t *testing.T) {
	l, c, dc, conn := heldTaggedConn(t)
	c.send(ipcmsg.Tagged{Tag: 2, Inner: ipcmsg.Send{Conn: dc, Data: []byte("x")}}, ipcmsg.Tagged{Tag: 3, Inner: ipcmsg.Info{}})
	if r := c.recv().(ipcmsg.TaggedReply); r.Tag != 3 {
		t.Fatalf("got reply for tag %d first, want the Info (3)", r.Tag)
	}
	conn.Hold(0)
	if r := c.recv(); r != (ipcmsg.TaggedReply{Tag: 2, Inner: ipcmsg.OK{}}) {
		t.Fatalf("Send reply %+v", r)
	}
	if r := l.recv().(ipcmsg.Recv); string(r.Data) != "x" {
		t.Fatalf("peer got %q", r.Data)
	}
}

// TestIPC_QueuedSendsKeepTheirData: Sends are read into one reused buffer;
// those that cannot run at once (held by the send buffer, or queued behind
// an earlier Send of their connection) run later on their own copy, so
// the bytes of later frames never leak into them.
func TestIPC_QueuedSendsKeepTheirData(t *testing.T) {
	l, c, dc, conn := heldTaggedConn(t)
	c.send(ipcmsg.Tagged{Tag: 2, Inner: ipcmsg.Send{Conn: dc, Data: []byte("AAAA")}},
		ipcmsg.Tagged{Tag: 3, Inner: ipcmsg.Send{Conn: dc, Data: []byte("BBBB")}},
		ipcmsg.Tagged{Tag: 4, Inner: ipcmsg.Send{Conn: dc, Data: []byte("CCCC")}},
		ipcmsg.Tagged{Tag: 5, Inner: ipcmsg.Info{}})
	if r := c.recv().(ipcmsg.TaggedReply); r.Tag != 5 { // every frame has been read
		t.Fatalf("got reply for tag %d first, want the Info (5)", r.Tag)
	}
	conn.Hold(0)
	for range 3 {
		if r := c.recv().(ipcmsg.TaggedReply); r.Inner != (ipcmsg.OK{}) {
			t.Fatalf("Send reply %+v", r)
		}
	}
	var got []byte
	for len(got) < 12 {
		got = append(got, l.recv().(ipcmsg.Recv).Data...)
	}
	if string(got) != "AAAABBBBCCCC" {
		t.Fatalf("peer got %q, want AAAABBBBCCCC", got)
	}
}

// TestIPC_LegacySendOrderWithinConnection: Sends and the Close of one
// connection run in arrival order, so all data precedes the end of stream.
func TestIPC_LegacySendOrderWithinConnection(t *testing.T) {
	ts := startServer(t, nil)
	l, d := ts.dial(t), ts.dial(t)
	l.bind(80)
	lc, dc := connPair(t, l, d, 80)
	var want []byte
	for i := range 200 {
		b := []byte{byte(i), byte(i >> 8)}
		want = append(want, b...)
		d.send(ipcmsg.Send{Conn: dc, Data: b})
	}
	d.send(ipcmsg.Close{Conn: dc})
	var got []byte
	for {
		r := l.recv()
		if rv, ok := r.(ipcmsg.Recv); ok {
			got = append(got, rv.Data...)
			continue
		}
		if r != (ipcmsg.CloseOK{Conn: lc}) {
			t.Fatalf("got %+v", r)
		}
		break
	}
	if string(got) != string(want) {
		t.Fatalf("data out of order or lost: %d of %d bytes", len(got), len(want))
	}
}

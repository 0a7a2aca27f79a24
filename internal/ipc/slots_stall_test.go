package ipc_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/pilot-go/pilot/internal/ipc"
	"github.com/pilot-go/pilot/internal/ipc/ipctest"
	"github.com/pilot-go/pilot/internal/wire/ipcmsg"
)

// legacySends is more Send frames than MaxOutstanding.
const legacySends = ipc.DefaultMaxOutstanding + 476

// recvBytes reads l's Recv data until want bytes arrived, failing after
// ioTimeout; other messages are ignored.
func recvBytes(t *testing.T, l *rawClient, want int) {
	t.Helper()
	got := 0
	for got < want {
		msg, err := readOne(l)
		if err != nil {
			t.Fatalf("%d of %d bytes delivered, then: %v", got, want, err)
		}
		if ipcmsg.Cmd(msg[0]) == ipcmsg.CmdRecv {
			got += len(msg) - 5
		}
	}
}

// expectReplies reads c's next replies and compares their commands.
func expectReplies(t *testing.T, c *rawClient, want ...ipcmsg.Reply) {
	t.Helper()
	for i, w := range want {
		if r := c.recv(); r != w {
			t.Fatalf("reply %d: %v %+v, want %v %+v", i, r.Cmd(), r, w.Cmd(), w)
		}
	}
}

// TestIPC_LegacySendsBehindSlowDial: a legacy client's reader keeps reading
// behind one slow request (ipc.md §3.1 rules 1, 4, 5): more Sends than
// MaxOutstanding, on another connection, are all executed while a Dial is
// pending, since a successful Send has no reply to wait for. Replies keep
// request order: the Dial's, then the Error of a failed Send in its
// position, then the Info's.
func TestIPC_LegacySendsBehindSlowDial(t *testing.T) {
	ts, started, release := slowDials(t)
	defer release()
	l := ts.dial(t)
	l.bind(98)
	l.bind(99)
	a := ts.dial(t)
	_, ac := connPair(t, l, a, 98)
	a.send(ipcmsg.Dial{Addr: ourNode, Port: 99})
	<-started
	var b []byte
	for range legacySends {
		b = ipcmsg.AppendFrame(b, ipcmsg.Send{Conn: ac, Data: []byte("0123456789")})
	}
	b = ipcmsg.AppendFrame(b, ipcmsg.Send{Conn: 999, Data: []byte("x")}) // fails: not found
	b = ipcmsg.AppendFrame(b, ipcmsg.Info{})
	go a.nc.Write(b)
	recvBytes(t, l, legacySends*10) // while the Dial is pending

	release()
	r := a.recv()
	if r.Cmd() != ipcmsg.CmdDialOK {
		t.Fatalf("first reply %v %+v, want DialOK", r.Cmd(), r)
	}
	expectReplies(t, a, ipcmsg.Error{Code: ipcmsg.CodeNotFound, Text: "connection 999 not found"})
	if r := a.recv(); r.Cmd() != ipcmsg.CmdInfoOK {
		t.Fatalf("third reply %v, want InfoOK", r.Cmd())
	}
}

// TestIPC_LegacyQueuedSendsBehindSlowDial: Sends that cannot run at once
// (queued behind a slow ConnOpt of their connection) hold a reply slot
// until they run; once they succeeded they stop counting against
// MaxOutstanding, so the reader, paused at the cap, resumes although the
// Dial ahead of them is still pending. Replies keep request order.
func TestIPC_LegacyQueuedSendsBehindSlowDial(t *testing.T) {
	dialGate := make(chan struct{})
	dialing := make(chan struct{}, 1)
	ts, sb := startSilent(t, func(be *ipctest.Backend) {
		be.OnDial = func(ctx context.Context, req ipc.DialRequest) error {
			if req.Port != 99 {
				return nil
			}
			dialing <- struct{}{}
			select {
			case <-dialGate:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	})
	released := false
	release := func() {
		if !released {
			released = true
			close(dialGate)
		}
	}
	defer release()
	l := ts.dial(t)
	l.bind(98)
	l.bind(99)
	a := ts.dial(t)
	_, ac := connPair(t, l, a, 98)
	nagleGate := make(chan struct{})
	var gateOnce sync.Once
	openGate := func() { gateOnce.Do(func() { close(nagleGate) }) }
	t.Cleanup(openGate) // before the server stops
	sb.conn(ac).nagleGate.Store(&nagleGate)

	a.send(ipcmsg.Dial{Addr: ourNode, Port: 99})
	<-dialing
	b := ipcmsg.AppendFrame(nil, ipcmsg.ConnOpt{Conn: ac, Option: ipcmsg.OptNagle, Value: []byte{1}})
	for range legacySends {
		b = ipcmsg.AppendFrame(b, ipcmsg.Send{Conn: ac, Data: []byte("0123456789")})
	}
	b = ipcmsg.AppendFrame(b, ipcmsg.Send{Conn: 999, Data: []byte("x")})
	b = ipcmsg.AppendFrame(b, ipcmsg.Info{})
	go a.nc.Write(b)
	// The Sends queue behind the ConnOpt, each with its slot, until the
	// reader pauses at the cap (polled: no event marks it).
	deadline := time.Now().Add(ioTimeout)
	for ipc.CountedSlots(ts.srv) < ipc.DefaultMaxOutstanding {
		if time.Now().After(deadline) {
			t.Fatalf("reader did not reach the cap: %d slots", ipc.CountedSlots(ts.srv))
		}
		time.Sleep(time.Millisecond)
	}
	openGate() // the ConnOpt and the queued Sends run
	recvBytes(t, l, legacySends*10)

	release()
	for i, want := range []ipcmsg.Cmd{ipcmsg.CmdDialOK, ipcmsg.CmdConnOptOK} {
		if r := a.recv(); r.Cmd() != want {
			t.Fatalf("reply %d: %v %+v, want %v", i, r.Cmd(), r, want)
		}
	}
	expectReplies(t, a, ipcmsg.Error{Code: ipcmsg.CodeNotFound, Text: "connection 999 not found"})
	if r := a.recv(); r.Cmd() != ipcmsg.CmdInfoOK {
		t.Fatalf("last reply %v, want InfoOK", r.Cmd())
	}
}

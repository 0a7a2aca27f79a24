package ipc_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pilot-go/pilot/internal/ipc"
	"github.com/pilot-go/pilot/internal/ipc/ipctest"
	"github.com/pilot-go/pilot/internal/wire/ipcmsg"
)

// silentBackend wraps every dialed connection in a silentConn.
type silentBackend struct {
	*ipctest.Backend
	mu    sync.Mutex
	conns map[ipcmsg.ConnID]*silentConn
}

func (b *silentBackend) Dial(ctx context.Context, req ipc.DialRequest, sink ipc.Sink) (ipc.Conn, error) {
	c, err := b.Backend.Dial(ctx, req, sink)
	if err != nil {
		return nil, err
	}
	sc := &silentConn{Conn: c.(*ipctest.Conn)}
	b.mu.Lock()
	b.conns[sc.ID()] = sc
	b.mu.Unlock()
	return sc, nil
}

func (b *silentBackend) conn(id ipcmsg.ConnID) *silentConn {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.conns[id]
}

// silentConn reports the untransmitted count the test sets, and can drop
// it without a Writable call: a backend that discards queued data when the
// connection ends (reset) and says so only through the end of stream.
type silentConn struct {
	*ipctest.Conn
	held      atomic.Int64
	calls     atomic.Int64                  // Unsent calls while held > 0
	nagleGate atomic.Pointer[chan struct{}] // if set, SetNagle waits until it is closed
}

func (c *silentConn) SetNagle(on bool) bool {
	if g := c.nagleGate.Load(); g != nil {
		<-*g
	}
	return c.Conn.SetNagle(on)
}

func (c *silentConn) Unsent() int {
	h := c.held.Load()
	if h > 0 {
		c.calls.Add(1)
	}
	return int(h)
}

// reset drops the held data silently and ends the receive side (RST).
func (c *silentConn) reset() {
	c.held.Store(0)
	c.End(ipcmsg.ReasonReset, "")
}

func startSilent(t *testing.T, mod func(*ipctest.Backend)) (*testServer, *silentBackend) {
	var sb *silentBackend
	ts := startServer(t, func(cfg *ipc.Config, be *ipctest.Backend) {
		if mod != nil {
			mod(be)
		}
		sb = &silentBackend{Backend: be, conns: make(map[ipcmsg.ConnID]*silentConn)}
		cfg.Backend = sb
	})
	return ts, sb
}

// waitCalls waits (polling: the count is another goroutine's progress with
// no event to wait on) until c's Unsent was called n times while held.
func waitCalls(t *testing.T, c *silentConn, n int64) {
	t.Helper()
	deadline := time.Now().Add(ioTimeout)
	for c.calls.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("Unsent called %d times, want %d", c.calls.Load(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// recvUntil reads until match accepts a message, failing after ioTimeout.
func recvUntil(t *testing.T, c *rawClient, what string, match func(ipcmsg.Reply) bool) {
	t.Helper()
	for {
		msg, err := readOne(c)
		if err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		r, err := ipcmsg.DecodeReply(msg)
		if err == nil && match(r) {
			return
		}
	}
}

// TestIPC_BudgetWaitEndsAtEndOfStream: the reader of a client whose send
// budget is exhausted (ipc.md §3.1 rule 4) resumes when a connection ends
// and its Unsent drops, even if the backend reports the drop only with the
// end of stream (no Writable).
func TestIPC_BudgetWaitEndsAtEndOfStream(t *testing.T) {
	ts, sb := startSilent(t, nil)
	// The Hello's reply slot leaves one reader wake-up pending.
	_, d, id := dialLoopback(t, ts, ipcmsg.FeatureTagged)
	c := sb.conn(id)
	c.held.Store(ipc.DefaultSendBudget)
	// The reader, already waiting for a frame, reads this Info, then sees
	// the exhausted budget (Unsent call 1), takes the pending wake-up,
	// looks again (call 2) and waits. A tagged reply frees no slot, so
	// nothing else wakes it.
	d.send(ipcmsg.Tagged{Tag: 2, Inner: ipcmsg.Info{}})
	recvUntil(t, d, "Info reply", func(r ipcmsg.Reply) bool { tr, ok := r.(ipcmsg.TaggedReply); return ok && tr.Tag == 2 })
	waitCalls(t, c, 2)

	c.reset()
	d.send(ipcmsg.Tagged{Tag: 3, Inner: ipcmsg.Info{}})
	recvUntil(t, d, "reply read after the reset", func(r ipcmsg.Reply) bool {
		tr, ok := r.(ipcmsg.TaggedReply)
		return ok && tr.Tag == 3
	})
}

// TestIPC_TaggedSendWaitEndsAtEndOfStream: a tagged Send waiting for the
// connection's untransmitted data to fall below the send buffer (ipc.md
// §10.3) is answered when the connection ends and its Unsent drops, even
// if the backend reports the drop only with the end of stream. The reply
// is OK: the data was queued and nothing is untransmitted any more.
func TestIPC_TaggedSendWaitEndsAtEndOfStream(t *testing.T) {
	ts, sb := startSilent(t, nil)
	_, d, id := dialLoopback(t, ts, ipcmsg.FeatureTagged)
	c := sb.conn(id)
	c.held.Store(2 * ipc.DefaultSendBuffer) // over the send buffer, under the budget
	// Unsent calls: the inline check (1, too much: dispatched), the
	// reader's budget check before the next frame (2) and the Send's wait
	// (3), which then waits.
	d.send(ipcmsg.Tagged{Tag: 2, Inner: ipcmsg.Send{Conn: id, Data: []byte("data")}})
	waitCalls(t, c, 3)

	c.reset()
	recvUntil(t, d, "the Send's TaggedReply", func(r ipcmsg.Reply) bool {
		tr, ok := r.(ipcmsg.TaggedReply)
		if !ok || tr.Tag != 2 {
			return false
		}
		if _, ok := tr.Inner.(ipcmsg.OK); !ok {
			t.Fatalf("Send's reply %v %+v, want OK", tr.Inner.Cmd(), tr.Inner)
		}
		return true
	})
}

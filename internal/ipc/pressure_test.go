package ipc_test

import (
	"bytes"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/pilot-go/pilot/internal/ipc"
	"github.com/pilot-go/pilot/internal/wire/ipcmsg"
)

// TestIPC_RecvRoundRobin: once two connections both have data, their Recv
// chunks alternate (ipc.md §3.3), each at most 64 KiB.
func TestIPC_RecvRoundRobin(t *testing.T) {
	ts := startServer(t, nil)
	l, d := ts.dial(t), ts.dial(t)
	l.bind(80)
	a, _ := connPair(t, l, d, 80)
	b, _ := connPair(t, l, d, 80)
	bigA := bytes.Repeat([]byte{'a'}, 2<<20)
	bigB := bytes.Repeat([]byte{'b'}, 256<<10)
	ts.be.Conn(a).Inject(bigA) // the writer fills l's socket and blocks
	ts.be.Conn(b).Inject(bigB)
	gotA, gotB, run := 0, 0, 0
	for gotA < len(bigA) || gotB < len(bigB) {
		r := l.recv().(ipcmsg.Recv)
		if len(r.Data) > ipcmsg.MaxRecvData {
			t.Fatalf("Recv of %d bytes", len(r.Data))
		}
		switch r.Conn {
		case a:
			gotA += len(r.Data)
			run++
			if gotB > 0 && gotB < len(bigB) && run > 2 {
				t.Fatalf("%d consecutive chunks of one connection while the other had data", run)
			}
		case b:
			gotB += len(r.Data)
			run = 0
		}
	}
}

// TestIPC_SendBudgetPausesReading: while a client's untransmitted data is at
// the budget, its requests are not read; they are once it drains.
func TestIPC_SendBudgetPausesReading(t *testing.T) {
	ts := startServer(t, nil)
	l, d := ts.dial(t), ts.dial(t)
	l.bind(80)
	_, dc := connPair(t, l, d, 80)
	conn := ts.be.Conn(dc)
	conn.Hold(ipc.DefaultSendBudget)
	// The reader is already waiting for the next frame, so it reads the
	// first Info; then it sees the exhausted budget and stops reading.
	d.send(ipcmsg.Info{}, ipcmsg.Info{})
	d.nc.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	answered := 0
	for {
		_, err := ipcmsg.ReadFrame(d.br)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		answered++
	}
	if answered != 1 {
		t.Fatalf("%d requests answered while the send budget was exhausted, want 1", answered)
	}
	ts.dial(t).info() // other clients are not affected
	conn.Hold(0)
	if r := d.recv(); r.Cmd() != ipcmsg.CmdInfoOK {
		t.Fatalf("after the budget drained: %v", r.Cmd())
	}
}

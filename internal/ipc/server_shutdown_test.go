package ipc_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"net"
	"os"
	"testing"
	"time"

	"github.com/pilot-go/pilot/internal/wire/ipcmsg"
)

// Daemon shutdown, first step (cli.md §3): StopAccepting refuses new
// clients but keeps serving the existing ones and keeps the socket file;
// Close still ends everything and removes the file.
func TestIPC_ShutdownStopAcceptingKeepsClientsAndSocket(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.dial(t)
	c.hello()
	ts.srv.StopAccepting()
	if nc, err := net.Dial("unix", ts.path); err == nil {
		nc.Close()
		t.Error("a client could connect after StopAccepting")
	}
	if fi, err := os.Lstat(ts.path); err != nil || fi.Mode().Type() != fs.ModeSocket {
		t.Fatalf("socket file after StopAccepting: %v, %v; want it in place", fi, err)
	}
	c.info() // the existing client is still served
	c.info()
	ts.srv.Close()
	c.expectEOF()
	if _, err := os.Lstat(ts.path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("socket file after Close: %v; want it removed", err)
	}
}

// Daemon shutdown (cli.md §3, ipc.md §5.6, §10.7): once the data plane has
// ended a client's connection with reason 6, CloseClients lets the
// client's writer write out everything queued (here far more Recv data
// than the socket buffers hold, then ConnClosed(6) and the unsolicited
// CloseOK) before it closes the client; the socket file stays.
func TestIPC_ShutdownCloseClientsFlushesQueuedOutput(t *testing.T) {
	ts := startServer(t, nil)
	l, d, id := dialLoopback(t, ts, ipcmsg.FeatureCloseReason)
	conn := ts.be.Conn(id)
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<18) // 4 MiB
	conn.Inject(data)
	conn.End(ipcmsg.ReasonShutdown, "daemon shutting down")

	ctx, cancel := context.WithTimeout(context.Background(), 2*ioTimeout)
	defer cancel()
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		ts.srv.CloseClients(ctx)
	}()

	var got []byte
	for len(got) < len(data) {
		r, ok := d.recv().(ipcmsg.Recv)
		if !ok || r.Conn != id {
			t.Fatalf("after %d bytes: got %+v, want Recv for %d", len(got), r, id)
		}
		got = append(got, r.Data...)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("Recv data differs")
	}
	if r := d.recv(); r != (ipcmsg.ConnClosed{Conn: id, Reason: ipcmsg.ReasonShutdown, Detail: "daemon shutting down"}) {
		t.Fatalf("got %T %+v, want ConnClosed with reason 6", r, r)
	}
	if r := d.recv(); r != (ipcmsg.CloseOK{Conn: id}) {
		t.Fatalf("got %T %+v, want the unsolicited CloseOK", r, r)
	}
	d.expectEOF()
	// The listener's end of the loopback connection may have been ended
	// too: its legacy unsolicited CloseOK may come before the close
	// (whether it does depends on which goroutine runs first).
	l.nc.SetReadDeadline(time.Now().Add(ioTimeout))
	for n := 0; ; n++ {
		body, err := ipcmsg.ReadFrame(l.br)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("listener client still open after %v", ioTimeout)
			}
			break
		}
		if m, derr := ipcmsg.DecodeReply(body); derr != nil || m.Cmd() != ipcmsg.CmdCloseOK || n > 0 {
			t.Fatalf("listener client got % X, want at most a CloseOK, then the connection closed", body)
		}
	}
	select {
	case <-closed:
	case <-time.After(ioTimeout):
		t.Fatal("CloseClients did not return")
	}
	if ctx.Err() != nil {
		t.Fatal("CloseClients waited for its deadline although every writer had flushed")
	}
	if _, err := os.Lstat(ts.path); err != nil {
		t.Fatalf("socket file after CloseClients: %v; want it in place until Close", err)
	}
}

// CloseClients is bounded by its context: a client that reads nothing
// while megabytes are queued for it does not hold the shutdown up.
func TestIPC_ShutdownCloseClientsBounded(t *testing.T) {
	ts := startServer(t, nil)
	_, d, id := dialLoopback(t, ts, ipcmsg.FeatureCloseReason)
	conn := ts.be.Conn(id)
	conn.Inject(make([]byte, 8<<20)) // d never reads it
	conn.End(ipcmsg.ReasonShutdown, "")

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	ts.srv.CloseClients(ctx)
	if el := time.Since(start); el > ioTimeout {
		t.Fatalf("CloseClients took %v with a 200 ms bound", el)
	}
	// The client is closed: reading on, it reaches the end (EOF or a
	// reset) instead of the full 8 MiB and the ConnClosed.
	d.nc.SetReadDeadline(time.Now().Add(ioTimeout))
	for {
		msg, err := ipcmsg.ReadFrame(d.br)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatal("client still open after CloseClients")
			}
			break
		}
		if len(msg) > 0 && ipcmsg.Cmd(msg[0]) == ipcmsg.CmdConnClosed {
			t.Fatal("a client that read nothing got its 8 MiB and ConnClosed within 200 ms")
		}
	}
}

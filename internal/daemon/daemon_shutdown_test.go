package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/netsim"
	"github.com/pilot-go/pilot/internal/wire/ipcmsg"
)

// muteConn drops every outgoing datagram while mute is set, and runs
// onClose when the tunnel closes the UDP socket.
type muteConn struct {
	netsim.PacketConn
	mute    *atomic.Bool
	onClose func()
}

func (c muteConn) Close() error {
	c.onClose()
	return c.PacketConn.Close()
}

func (c muteConn) WriteToUDPAddrPort(b []byte, a netip.AddrPort) (int, error) {
	if c.mute.Load() {
		return len(b), nil
	}
	return c.PacketConn.WriteToUDPAddrPort(b, a)
}

// cli.md §3 (SIGINT/SIGTERM: close streams, drain webhooks, remove the
// socket) and ipc.md §5.6, §10.7: when the daemon shuts down, an IPC client
// with an open stream connection receives ConnClosed with reason 6 and then
// the unsolicited CloseOK (written out before the IPC connection is closed);
// the socket file stays in place until the tunnel has released the UDP
// -listen port (a supervisor that restarts the daemon when the socket
// disappears can bind the same port) and is removed before Run returns.
func TestDaemon_ShutdownClosesStreamsThenRemovesSocket(t *testing.T) {
	reg := startRegistry(t)
	b := startNode(t, reg, "")

	// Node A, run here so that the test controls its shutdown. Its
	// outgoing datagrams can be muted, so that its connection keeps
	// unacknowledged data and the data plane's shutdown takes its 2 s
	// drain: the steps of the shutdown are then well apart.
	dir := t.TempDir()
	sock := filepath.Join(dir, "pilot.sock")
	cfg, err := Parse([]string{"-registry", reg, "-beacon", "", "-listen", "127.0.0.1:0",
		"-socket", sock, "-state-dir", dir, "-heartbeat", "200ms"}, noEnv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var mute atomic.Bool
	// The socket file's state when the tunnel closed the UDP socket, a
	// step after the data plane's shutdown and the IPC clients' flush:
	// 1 = present, 2 = missing.
	var atUDPClose atomic.Int32
	onClose := func() {
		state := int32(1)
		if _, err := os.Lstat(sock); err != nil {
			state = 2
		}
		atUDPClose.CompareAndSwap(0, state)
	}
	d, err := New(cfg, Options{DiscoverTimeout: 2 * time.Second,
		WrapConn: func(c netsim.PacketConn) netsim.PacketConn { return muteConn{c, &mute, onClose} }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("daemon did not stop")
		}
	})
	eventually(t, "registration of A", func() bool { return d.NodeID() != 0 })
	udp := d.UDPAddr()

	// A and B share an open network, so A may dial B's echo service.
	ca := dialIPC(t, sock)
	created := ca.opBody(`{"op":"network.create","name":"shutdown","join_rule":"open","admin_token":"` + testAdminToken + `"}`)
	nid, _ := created["network_id"].(json.Number).Int64()
	network := addr.NetworkID(nid)
	cb := dialIPC(t, b.sock)
	cb.body(ipcmsg.Network{Sub: ipcmsg.NetworkJoin, Network: network})

	c := dialIPC(t, sock)
	if _, ok := c.call(ipcmsg.Hello{Client: "shutdown-test/1", Features: []string{ipcmsg.FeatureCloseReason}}).(ipcmsg.HelloOK); !ok {
		t.Fatal("no HelloOK")
	}
	rep := c.call(ipcmsg.Dial{Addr: addr.New(network, b.d.NodeID()), Port: 7})
	dok, ok := rep.(ipcmsg.DialOK)
	if !ok {
		t.Fatalf("dial B:7: %+v", rep)
	}
	id := dok.Conn
	next := func() ipcmsg.Reply {
		t.Helper()
		c.c.SetReadDeadline(time.Now().Add(30 * time.Second))
		body, err := ipcmsg.ReadFrame(c.c)
		if err != nil {
			t.Fatalf("read: %v (the daemon closed the IPC connection without ConnClosed and CloseOK)", err)
		}
		r, err := ipcmsg.DecodeReply(body)
		if err != nil {
			t.Fatalf("message %x: %v", body, err)
		}
		return r
	}
	if _, err := c.c.Write(ipcmsg.AppendFrame(nil, ipcmsg.Send{Conn: id, Data: []byte("ping")})); err != nil {
		t.Fatal(err)
	}
	for got := ""; got != "ping"; {
		r, ok := next().(ipcmsg.Recv)
		if !ok || r.Conn != id {
			t.Fatalf("want the echo, got %+v", r)
		}
		got += string(r.Data)
	}
	// Data that B never acknowledges: A's shutdown drains for 2 s.
	mute.Store(true)
	if _, err := c.c.Write(ipcmsg.AppendFrame(nil, ipcmsg.Send{Conn: id, Data: []byte("unacknowledged")})); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.call(ipcmsg.Info{}).(ipcmsg.InfoOK); !ok { // the Send has been taken
		t.Fatal("no InfoOK")
	}

	// Watch for the socket file to disappear; at that moment A's UDP port
	// must be free already.
	type removal struct {
		bindErr error
		timeout bool
	}
	removed := make(chan removal, 1)
	go func() {
		deadline := time.Now().Add(30 * time.Second)
		for {
			if _, err := os.Lstat(sock); errors.Is(err, fs.ErrNotExist) {
				break
			}
			if time.Now().After(deadline) {
				removed <- removal{timeout: true}
				return
			}
			time.Sleep(time.Millisecond)
		}
		ln, err := net.ListenUDP("udp", udp)
		if err == nil {
			ln.Close()
		}
		removed <- removal{bindErr: err}
	}()

	cancel()
	// The client's view; on a failure the test goes on to the order of
	// the later steps.
	func() {
		c.c.SetReadDeadline(time.Now().Add(30 * time.Second))
		read := func() (ipcmsg.Reply, error) {
			body, err := ipcmsg.ReadFrame(c.c)
			if err != nil {
				return nil, err
			}
			return ipcmsg.DecodeReply(body)
		}
		r, err := read()
		if err != nil {
			t.Errorf("read: %v; want ConnClosed with reason 6 (the daemon closed the IPC connection without it)", err)
			return
		}
		if cc, ok := r.(ipcmsg.ConnClosed); !ok || cc.Conn != id || cc.Reason != ipcmsg.ReasonShutdown {
			t.Errorf("got %T %+v, want ConnClosed for %d with reason 6", r, r, id)
			return
		}
		if r, err := read(); err != nil || r != (ipcmsg.CloseOK{Conn: id}) {
			t.Errorf("got %T %+v, %v after ConnClosed, want the unsolicited CloseOK for %d", r, r, err, id)
			return
		}
		if r, err := read(); err == nil {
			t.Errorf("got %T %+v after CloseOK, want the IPC connection closed", r, r)
		}
	}()

	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		done <- nil // for the cleanup
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return")
	}
	switch atUDPClose.Load() {
	case 0:
		t.Error("the tunnel never closed the UDP socket")
	case 2:
		t.Error("the socket file was gone when the tunnel closed the UDP socket, after the data plane's shutdown; want it removed last")
	}
	if _, err := os.Lstat(sock); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("socket file after Run returned: %v; want it removed", err)
	}
	switch rm := <-removed; {
	case rm.timeout:
		t.Error("the socket file was never removed")
	case rm.bindErr != nil:
		t.Errorf("UDP port %v still bound when the socket file disappeared: %v", udp, rm.bindErr)
	}
}

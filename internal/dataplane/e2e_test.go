package dataplane

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/ipc"
	"github.com/pilot-go/pilot/internal/ipc/ipctest"
	"github.com/pilot-go/pilot/internal/wire/ipcmsg"
	"github.com/pilot-go/pilot/pilot"
)

// daemonBackend is the IPC backend of a test daemon: our DataPlane for the
// data half, the ipctest fake for the control commands.
type daemonBackend struct {
	ipc.Control
	*DataPlane
}

// startIPC runs an ipc.Server for node's data plane (whose datagram
// routing goes to the server) and returns the socket path.
// Every datagram's recipient count is recorded in fanout.
func startIPC(t *testing.T, n *fakeNet, id addr.NodeID, fanout *[]int) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "dp")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "s")
	var srv *ipc.Server
	node := n.add(t, id, func(c *Config) {
		c.DeliverDatagram = func(m ipcmsg.RecvFrom) int {
			k := srv.DeliverDatagram(m)
			fanoutMu.Lock()
			*fanout = append(*fanout, k)
			fanoutMu.Unlock()
			return k
		}
	})
	srv, err = ipc.New(ipc.Config{SocketPath: path,
		Backend: daemonBackend{Control: &ipctest.Backend{Node: addr.New(0, id)}, DataPlane: node.dp}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return path
}

// End to end through the real IPC server and the Go SDK: streams between
// two daemons, and datagrams that reach only the binder (§14 item 27).
func TestDataPlane_EndToEndThroughIPCServer(t *testing.T) {
	n := newFakeNet(t, 0.01, 21)
	var fanA, fanB []int
	sockA := startIPC(t, n, 10, &fanA)
	sockB := startIPC(t, n, 20, &fanB)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ca, err := pilot.Connect(ctx, pilot.WithSocket(sockA))
	if err != nil {
		t.Fatal(err)
	}
	defer ca.Close()
	cb, err := pilot.Connect(ctx, pilot.WithSocket(sockB))
	if err != nil {
		t.Fatal(err)
	}
	defer cb.Close()
	other, err := pilot.Connect(ctx, pilot.WithSocket(sockA))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()

	ln, err := ca.Listen(ctx, pilot.Network, ":1000")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	data := randBytes(4<<20, 5)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		io.Copy(c, c)
		c.Close()
	}()
	c, err := cb.Dial(ctx, pilot.Network, "0:0000.0000.000A:1000")
	if err != nil {
		t.Fatal(err)
	}
	go func() { c.Write(data) }()
	got := make([]byte, len(data))
	if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("echo through two daemons: %v", err)
	}
	c.Close()

	pa, err := ca.ListenPacket(ctx, pilot.Network, ":5000")
	if err != nil {
		t.Fatal(err)
	}
	defer pa.Close()
	po, err := other.ListenPacket(ctx, pilot.Network, ":5001")
	if err != nil {
		t.Fatal(err)
	}
	defer po.Close()
	pb, err := cb.ListenPacket(ctx, pilot.Network, "")
	if err != nil {
		t.Fatal(err)
	}
	defer pb.Close()
	to, _ := pilot.ParseAddr("0:0000.0000.000A:5000")
	pa.SetReadDeadline(time.Now().Add(30 * time.Second))
	buf := make([]byte, 100)
	for i := 0; ; i++ { // datagrams may be lost (1%): resend until one arrives
		if _, err := pb.WriteTo([]byte("dgram"), to); err != nil {
			t.Fatal(err)
		}
		pa.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		nr, from, err := pa.ReadFrom(buf)
		if err == nil {
			if string(buf[:nr]) != "dgram" || from.String() != pb.LocalAddr().String() {
				t.Fatalf("binder got %q from %v (want from %v)", buf[:nr], from, pb.LocalAddr())
			}
			break
		}
		if i > 50 {
			t.Fatal("no datagram reached the binder")
		}
	}
	// The server's routing queued every datagram for exactly one client.
	// The count is recorded after DeliverDatagram returns, which may be
	// after the binder read the datagram: wait for it (bounded).
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) { // polling, not synchronisation
		fanoutMu.Lock()
		recorded := len(fanA) > 0
		fanoutMu.Unlock()
		if recorded || time.Now().After(deadline) {
			break
		}
	}
	fanoutMu.Lock()
	defer fanoutMu.Unlock()
	if len(fanA) == 0 || slices.ContainsFunc(fanA, func(k int) bool { return k != 1 }) {
		t.Fatalf("recipients per datagram: %v, want all 1", fanA)
	}
}

var fanoutMu sync.Mutex

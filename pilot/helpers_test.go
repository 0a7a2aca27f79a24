package pilot

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/ipc"
	"github.com/pilot-go/pilot/internal/ipc/ipctest"
)

var testNode = addr.New(0, 0x2AE)

const testTimeout = 10 * time.Second

type daemon struct {
	path string
	be   *ipctest.Backend
	srv  *ipc.Server
}

// startDaemon runs the real IPC server with the loopback fake backend.
func startDaemon(t testing.TB, mod func(*ipctest.Backend)) *daemon {
	t.Helper()
	dir, err := os.MkdirTemp("", "pilot")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	be := &ipctest.Backend{Node: testNode}
	if mod != nil {
		mod(be)
	}
	path := filepath.Join(dir, "pilot.sock")
	srv := ipctest.Serve(t, ipc.Config{SocketPath: path, Backend: be, Version: "test"}, be)
	return &daemon{path: path, be: be, srv: srv}
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

func (d *daemon) connect(t testing.TB) *Client {
	t.Helper()
	c, err := Connect(testCtx(t), WithSocket(d.path))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// pair returns a dialed and an accepted end of one connection, on two
// different IPC clients.
func (d *daemon) pair(t testing.TB) (dialed, accepted *Conn) {
	t.Helper()
	server, client := d.connect(t), d.connect(t)
	ln, err := server.Listen(testCtx(t), "pilot", ":0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	target := (&Addr{Addr: testNode, Port: ln.Addr().(*Addr).Port}).String()
	dialed, err = client.Dial(testCtx(t), "pilot", target)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dialed.Close(); nc.Close() })
	return dialed, nc.(*Conn)
}

package ipc_test

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/ipc"
	"github.com/pilot-go/pilot/internal/ipc/ipctest"
	"github.com/pilot-go/pilot/internal/wire/ipcmsg"
)

// ourNode is the fake daemon's address.
var ourNode = addr.New(0, 0x2AE)

// ioTimeout bounds every socket operation of a test so that a bug fails
// the test instead of hanging it.
const ioTimeout = 10 * time.Second

// socketPath returns a short socket path in a fresh directory (Unix socket
// paths are limited to 108 bytes, so t.TempDir may be too long).
func socketPath(t testing.TB) string {
	dir, err := os.MkdirTemp("", "ipc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "pilot.sock")
}

type testServer struct {
	srv  *ipc.Server
	be   *ipctest.Backend
	path string
}

// startServer runs a server with a fake backend until the test ends.
func startServer(t testing.TB, mod func(*ipc.Config, *ipctest.Backend)) *testServer {
	t.Helper()
	be := &ipctest.Backend{Node: ourNode}
	cfg := ipc.Config{SocketPath: socketPath(t), Backend: be, Version: "1.5.0"}
	if mod != nil {
		mod(&cfg, be)
	}
	srv := ipctest.Serve(t, cfg, be)
	return &testServer{srv: srv, be: be, path: cfg.SocketPath}
}

// rawClient speaks frames directly, like the original driver would.
type rawClient struct {
	t  testing.TB
	nc net.Conn
	br *bufio.Reader
}

func (ts *testServer) dial(t testing.TB) *rawClient {
	t.Helper()
	nc, err := net.Dial("unix", ts.path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawClient{t: t, nc: nc, br: bufio.NewReader(nc)}
}

func (c *rawClient) send(msgs ...ipcmsg.Message) {
	c.t.Helper()
	var b []byte
	for _, m := range msgs {
		b = ipcmsg.AppendFrame(b, m)
	}
	c.sendRaw(b)
}

func (c *rawClient) sendRaw(b []byte) {
	c.t.Helper()
	c.nc.SetWriteDeadline(time.Now().Add(ioTimeout))
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// sendMsg sends cmd ‖ payload bytes as one frame.
func (c *rawClient) sendMsg(msg []byte) {
	c.t.Helper()
	c.sendRaw(binary.BigEndian.AppendUint32(nil, uint32(len(msg))))
	c.sendRaw(msg)
}

func (c *rawClient) recvRaw() []byte {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(ioTimeout))
	msg, err := ipcmsg.ReadFrame(c.br)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return msg
}

func (c *rawClient) recv() ipcmsg.Reply {
	c.t.Helper()
	msg := c.recvRaw()
	r, err := ipcmsg.DecodeReply(msg)
	if err != nil {
		c.t.Fatalf("decode reply % X: %v", msg, err)
	}
	return r
}

// expectEOF asserts that the daemon closes the connection.
func (c *rawClient) expectEOF() {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(ioTimeout))
	msg, err := ipcmsg.ReadFrame(c.br)
	if err == nil {
		c.t.Fatalf("got message % X, want the connection closed", msg)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		c.t.Fatalf("connection still open after %v", ioTimeout)
	}
}

// hello negotiates features and returns the HelloOK.
func (c *rawClient) hello(features ...string) ipcmsg.HelloReply {
	c.t.Helper()
	c.send(ipcmsg.Hello{Client: "test/1", Features: features})
	r, ok := c.recv().(ipcmsg.HelloOK)
	if !ok {
		c.t.Fatalf("want HelloOK")
	}
	var h ipcmsg.HelloReply
	if err := json.Unmarshal(r.Body, &h); err != nil {
		c.t.Fatal(err)
	}
	return h
}

// info round-trips an Info request and fails unless InfoOK is the next message.
func (c *rawClient) info() {
	c.t.Helper()
	c.send(ipcmsg.Info{})
	if r := c.recv(); r.Cmd() != ipcmsg.CmdInfoOK {
		c.t.Fatalf("got %v %+v, want InfoOK", r.Cmd(), r)
	}
}

func (c *rawClient) bind(port addr.Port) addr.Port {
	c.t.Helper()
	c.send(ipcmsg.Bind{Port: port})
	r, ok := c.recv().(ipcmsg.BindOK)
	if !ok {
		c.t.Fatalf("bind %d: no BindOK", port)
	}
	return r.Port
}

func (c *rawClient) expectError(code ipcmsg.Code, text string) {
	c.t.Helper()
	r := c.recv()
	e, ok := r.(ipcmsg.Error)
	if !ok || e.Code != code || e.Text != text {
		c.t.Fatalf("got %v %+v, want Error %d %q", r.Cmd(), r, code, text)
	}
}

// waitFor polls cond on every backend change until it holds.
func waitFor(t testing.TB, be *ipctest.Backend, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(ioTimeout)
	for {
		ch := be.Changed()
		if cond() {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// readOne reads one message without failing the test.
func readOne(c *rawClient) ([]byte, error) {
	c.nc.SetReadDeadline(time.Now().Add(ioTimeout))
	return ipcmsg.ReadFrame(c.br)
}

// dialLoopback binds port 80 on one client and dials it from a second one
// that negotiated features (in tagged mode when they include tagged); it
// returns the listener, the dialer and the dialer's connection once the
// Accept arrived.
func dialLoopback(t *testing.T, ts *testServer, features ...string) (l, d *rawClient, id ipcmsg.ConnID) {
	t.Helper()
	l = ts.dial(t)
	l.bind(80)
	d = ts.dial(t)
	d.hello(features...)
	dial := ipcmsg.Dial{Addr: ourNode, Port: 80}
	var dok ipcmsg.DialOK
	var ok bool
	if slices.Contains(features, ipcmsg.FeatureTagged) {
		d.send(ipcmsg.Tagged{Tag: 1, Inner: dial})
		dok, ok = d.recv().(ipcmsg.TaggedReply).Inner.(ipcmsg.DialOK)
	} else {
		d.send(dial)
		dok, ok = d.recv().(ipcmsg.DialOK)
	}
	if !ok {
		t.Fatal("no DialOK")
	}
	if r := l.recv(); r.Cmd() != ipcmsg.CmdAccept {
		t.Fatalf("got %v, want Accept", r.Cmd())
	}
	return l, d, dok.Conn
}

package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/pilot-go/pilot/internal/beacon"
	"github.com/pilot-go/pilot/internal/registry"
	"github.com/pilot-go/pilot/internal/registry/config"
	"github.com/pilot-go/pilot/internal/wire/ipcmsg"
	"github.com/pilot-go/pilot/internal/wire/regmsg"
)

// In-process integration harness: a real registry (SQLite in a temporary
// directory) on 127.0.0.1, optionally a beacon, and real daemons with
// their UDP and IPC sockets, driven over IPC.

const testAdminToken = "daemon-test-admin-token-0123456789"

func noEnv(string) string { return "" }

// startRegistry runs an in-process registry and returns its address.
func startRegistry(t *testing.T) string {
	t.Helper()
	cfg, _, err := config.Load([]string{"-data-dir", t.TempDir(), "-admin-token", testAdminToken,
		"-listen", "127.0.0.1:0", "-rate-limit", "off"}, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r, err := registry.New(ctx, cfg, registry.Options{Listener: ln, AuditWriter: io.Discard})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := r.Run(ctx); err != nil {
			t.Errorf("registry: %v", err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return ln.Addr().String()
}

// startBeacon runs an in-process beacon on loopback.
func startBeacon(t *testing.T) string {
	t.Helper()
	b, err := beacon.New(beacon.Config{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = b.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return b.Addr().String()
}

// recordingDialer tees everything the daemon writes to the registry so that
// tests can inspect the requests as sent (signatures, admin tokens).
type recordingDialer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

type teeConn struct {
	net.Conn
	r *recordingDialer
}

func (c teeConn) Write(p []byte) (int, error) {
	c.r.mu.Lock()
	c.r.buf.Write(p)
	c.r.mu.Unlock()
	return c.Conn.Write(p)
}

func (r *recordingDialer) dial(ctx context.Context, network, address string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, address)
	if err != nil {
		return nil, err
	}
	return teeConn{c, r}, nil
}

// requests decodes every request written so far of the given type ("" =
// all). Each connection starts on a frame boundary and the frames of all
// connections are appended whole, so the stream decodes in order.
func (r *recordingDialer) requests(t *testing.T, typ string) []regmsg.Request {
	t.Helper()
	r.mu.Lock()
	data := bytes.Clone(r.buf.Bytes())
	r.mu.Unlock()
	rd := bytes.NewReader(data)
	var out []regmsg.Request
	for rd.Len() > 0 {
		body, err := regmsg.ReadFrame(rd, nil)
		if err != nil {
			t.Fatalf("recorded registry stream: %v", err)
		}
		req, err := regmsg.DecodeRequest(body)
		if err != nil {
			t.Fatalf("recorded request %s: %v", body, err)
		}
		if typ == "" || req.Type() == typ {
			out = append(out, req)
		}
	}
	return out
}

// node is one running daemon of a test.
type node struct {
	d    *Daemon
	sock string
	rec  *recordingDialer
}

// startNode runs a daemon against regAddr (beaconAddr "" = none) with
// extra flags, and waits until it is registered.
func startNode(t *testing.T, regAddr, beaconAddr string, extra ...string) *node {
	t.Helper()
	dir := t.TempDir()
	sock := filepath.Join(dir, "pilot.sock")
	args := append([]string{"-registry", regAddr, "-beacon", beaconAddr, "-listen", "127.0.0.1:0",
		"-socket", sock, "-state-dir", dir, "-heartbeat", "200ms"}, extra...)
	cfg, err := Parse(args, noEnv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recordingDialer{}
	d, err := New(cfg, Options{RegistryDialer: rec.dial, DiscoverTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	runDaemon(t, d)
	eventually(t, "registration", func() bool { return d.NodeID() != 0 })
	return &node{d: d, sock: sock, rec: rec}
}

// runDaemon runs d until the test ends.
func runDaemon(t *testing.T, d *Daemon) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := d.Run(ctx); err != nil {
			t.Errorf("daemon: %v", err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

// eventually waits (bounded) until cond holds, checking every 10 ms.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}

// ipcClient is a minimal legacy-mode IPC client.
type ipcClient struct {
	t *testing.T
	c net.Conn
}

func dialIPC(t *testing.T, sock string) *ipcClient {
	t.Helper()
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &ipcClient{t: t, c: c}
}

// call sends one request and returns its reply.
func (c *ipcClient) call(m ipcmsg.Message) ipcmsg.Reply {
	c.t.Helper()
	if _, err := c.c.Write(ipcmsg.AppendFrame(nil, m)); err != nil {
		c.t.Fatal(err)
	}
	c.c.SetReadDeadline(time.Now().Add(30 * time.Second))
	body, err := ipcmsg.ReadFrame(c.c)
	if err != nil {
		c.t.Fatal(err)
	}
	rep, err := ipcmsg.DecodeReply(body)
	if err != nil {
		c.t.Fatalf("reply %x: %v", body, err)
	}
	return rep
}

// body returns the JSON of a successful reply, failing on an Error.
func (c *ipcClient) body(m ipcmsg.Message) []byte {
	c.t.Helper()
	rep := c.call(m)
	if e, ok := rep.(ipcmsg.Error); ok {
		c.t.Fatalf("%T: error %d %q", m, e.Code, e.Text)
	}
	return replyBody(c.t, rep)
}

// fail returns the Error reply of a request that must fail.
func (c *ipcClient) fail(m ipcmsg.Message) ipcmsg.Error {
	c.t.Helper()
	rep := c.call(m)
	e, ok := rep.(ipcmsg.Error)
	if !ok {
		c.t.Fatalf("%T: want an Error, got %T %s", m, rep, replyBody(c.t, rep))
	}
	return e
}

// op runs a RegistryOp given as a JSON object.
func (c *ipcClient) op(js string) ipcmsg.Reply {
	c.t.Helper()
	var m ipcmsg.RegistryOp
	if err := m.Decode([]byte(js)); err != nil {
		c.t.Fatalf("registry op %s: %v", js, err)
	}
	return c.call(m)
}

// opBody runs a RegistryOp that must succeed and decodes its data.
func (c *ipcClient) opBody(js string) map[string]any {
	c.t.Helper()
	rep := c.op(js)
	if e, ok := rep.(ipcmsg.Error); ok {
		c.t.Fatalf("registry op %s: error %d %q", js, e.Code, e.Text)
	}
	return object(c.t, replyBody(c.t, rep))
}

// replyBody extracts the JSON body of a JSON reply.
func replyBody(t *testing.T, rep ipcmsg.Reply) []byte {
	t.Helper()
	switch r := rep.(type) {
	case ipcmsg.InfoOK:
		return r.Body
	case ipcmsg.HealthOK:
		return r.Body
	case ipcmsg.HandshakeOK:
		return r.Body
	case ipcmsg.NetworkOK:
		return r.Body
	case ipcmsg.RegistryOpOK:
		return r.Body
	case ipcmsg.SetWebhookOK:
		return r.Body
	case ipcmsg.SetHostnameOK:
		return r.Body
	case ipcmsg.SetVisibilityOK:
		return r.Body
	case ipcmsg.SetTagsOK:
		return r.Body
	case ipcmsg.ResolveHostnameOK:
		return r.Body
	case ipcmsg.DeregisterOK:
		return r.Body
	case ipcmsg.SetTaskExecOK:
		return r.Body
	}
	t.Fatalf("reply %T has no JSON body", rep)
	return nil
}

func object(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("not a JSON object: %s: %v", b, err)
	}
	return m
}
